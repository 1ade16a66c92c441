import { startAuthentication } from '@simplewebauthn/browser';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, useLocation } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { returnToQuery, useCompleteSignIn, useReturnTo, type MfaChallenge, type SignInReply } from '../../lib/sign-in';

type Mode = 'totp' | 'backup' | 'email_otp' | 'sms_otp' | 'passkey';
type Options = Parameters<typeof startAuthentication>[0]['optionsJSON'];

/** The challenge's methods as the page's ways to verify, in the order offered. */
function modesOf(challenge: MfaChallenge): Mode[] {
  const order: [string, Mode][] = [['totp', 'totp'], ['passkey', 'passkey'], ['email_otp', 'email_otp'], ['sms_otp', 'sms_otp'], ['backup_code', 'backup']];
  return order.filter(([method]) => challenge.methods.includes(method)).map(([, mode]) => mode);
}

/**
 * /mfa: the second step of a sign-in. The challenge (mfa_token, methods, passkey options) comes in
 * the history state from the first step, never in the URL; without it (opened directly) the person
 * starts at sign-in. An authenticator code submits itself at its sixth digit.
 */
export function Page() {
  const location = useLocation();
  const returnTo = useReturnTo();
  const challenge = (location.state as { challenge?: MfaChallenge } | null)?.challenge;
  if (!challenge?.mfa_token) return <Navigate to={`/sign-in${returnToQuery(returnTo)}`} replace />;
  return <SecondFactor challenge={challenge} />;
}

function SecondFactor({ challenge }: { challenge: MfaChallenge }) {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const complete = useCompleteSignIn();
  const returnTo = useReturnTo();
  const modes = modesOf(challenge);
  const [mode, setMode] = useState<Mode>(modes[0] ?? 'totp');
  const [code, setCode] = useState('');
  const [otp, setOtp] = useState<{ id: string; channel: 'email' | 'sms' } | null>(null);
  const { error, errorKey, fail: showError, setError } = useFormError();
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [expired, setExpired] = useState(false);
  const [busy, setBusy] = useState<'verify' | 'send' | 'passkey' | 'recover' | null>(null);
  const mfa_token = challenge.mfa_token;

  const fail = (cause: unknown, onField = false) => {
    if (cause instanceof ApiError && cause.code === 'invalid_mfa_token') setExpired(true);
    const text = message(cause);
    showError(text);
    setFieldError(onField ? text : null);
    setNotice(null);
  };

  async function verify(body: Record<string, unknown>): Promise<void> {
    setBusy('verify');
    try {
      const reply = await call(api.POST('/v1/auth/mfa/verify', { body: { mfa_token, use_cookie: true, ...body } as never }));
      complete(reply as SignInReply);
    } catch (cause) {
      setCode('');
      fail(cause, true);
    } finally {
      setBusy(null);
    }
  }

  async function submitCode(value = code): Promise<void> {
    const entered = mode === 'backup' ? value.trim() : value.replace(/\s/g, '');
    if (!entered) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    if (mode === 'totp') return verify({ code: entered });
    if (mode === 'backup') return verify({ backup_code: entered });
    if (otp) return verify({ method: mode, otp_id: otp.id, code: entered });
  }

  async function send(): Promise<void> {
    if (mode !== 'email_otp' && mode !== 'sms_otp') return;
    setBusy('send');
    try {
      const sent = await call(api.POST('/v1/auth/mfa/otp/send', { body: { mfa_token, method: mode } }));
      setOtp({ id: sent.otp_id, channel: sent.channel });
      setError(null);
      setNotice(t(`mfa.sentTo.${sent.channel}`));
    } catch (cause) {
      fail(cause);
    } finally {
      setBusy(null);
    }
  }

  async function passkey(): Promise<void> {
    setBusy('passkey');
    try {
      const response = await startAuthentication({ optionsJSON: challenge.passkey_options as unknown as Options });
      await verify({ passkey_response: response as unknown as Record<string, unknown> });
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      if (name === 'NotAllowedError' || name === 'AbortError') {
        fail(t('mfa.passkeyCancelled'));
      } else fail(cause);
    } finally {
      setBusy(null);
    }
  }

  async function recover(): Promise<void> {
    setBusy('recover');
    try {
      await call(api.POST('/v1/auth/mfa/recovery', { body: { mfa_token } }));
      setError(null);
      setNotice(t('mfa.recoverySent'));
    } catch (cause) {
      fail(cause);
    } finally {
      setBusy(null);
    }
  }

  function choose(next: Mode): void {
    setMode(next);
    setCode('');
    setOtp(null);
    setError(null);
    setFieldError(null);
    setNotice(null);
  }

  const codeField = (label: string, autoSubmit: boolean) => (
    <Field
      label={label}
      name="code"
      inputMode={mode === 'backup' ? 'text' : 'numeric'}
      autoComplete={mode === 'backup' ? 'off' : 'one-time-code'}
      autoCapitalize="off"
      spellCheck={false}
      maxLength={mode === 'backup' ? 32 : 10}
      value={code}
      autoFocus
      onChange={(event) => {
        const value = event.target.value;
        setCode(value);
        if (autoSubmit && /^[0-9]{6}$/.test(value.replace(/\s/g, '')) && !busy) void submitCode(value);
      }}
      error={fieldError}
      required
    />
  );

  return (
    <AuthLayout title={t('mfa.title')}>
      {error ? (
        <Alert>
          {error}
          {expired ? (
            <>
              {' '}
              <Link to={`/sign-in${returnToQuery(returnTo)}`}>{t('mfa.startOver')}</Link>
            </>
          ) : null}
        </Alert>
      ) : null}
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      <p>{t(`mfa.intro.${mode}`)}</p>
      {mode === 'passkey' ? (
        <Button className="btn--block" busy={busy === 'passkey'} onClick={() => void passkey()}>
          {t('mfa.usePasskey')}
        </Button>
      ) : (mode === 'email_otp' || mode === 'sms_otp') && !otp ? (
        <Button className="btn--block" busy={busy === 'send'} onClick={() => void send()}>
          {mode === 'email_otp' ? t('mfa.sendEmail') : t('mfa.sendSms')}
        </Button>
      ) : (
        <Form onSubmit={() => submitCode()} errorKey={errorKey}>
          {codeField(mode === 'totp' ? t('mfa.code') : mode === 'backup' ? t('mfa.backupCode') : t('mfa.sentCode'), mode === 'totp')}
          <Button type="submit" busy={busy === 'verify'} className="btn--block">
            {t('mfa.verify')}
          </Button>
          {otp ? (
            <Button variant="link" busy={busy === 'send'} onClick={() => void send()}>
              {t('mfa.resend')}
            </Button>
          ) : null}
        </Form>
      )}
      {modes.length > 1 ? (
        <nav aria-label={t('mfa.otherWays')} className="section">
          <h2 className="muted">{t('mfa.otherWays')}</h2>
          <ul className="stack" role="list" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
            {modes
              .filter((other) => other !== mode)
              .map((other) => (
                <li key={other}>
                  <Button variant="secondary" className="btn--block" onClick={() => choose(other)}>
                    {t(`mfa.use.${other}`)}
                  </Button>
                </li>
              ))}
          </ul>
        </nav>
      ) : null}
      <p>
        <Button variant="link" busy={busy === 'recover'} onClick={() => void recover()}>
          {t('mfa.lost')}
        </Button>
      </p>
    </AuthLayout>
  );
}
