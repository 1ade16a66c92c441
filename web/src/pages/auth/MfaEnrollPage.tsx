import { startRegistration } from '@simplewebauthn/browser';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useNavigate } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { BackupCodeList, TotpKey, useBackupCodesFile } from '../../components/SecondFactor';
import { useErrorMessage } from '../../lib/errors';
import { useExperience } from '../../lib/experience';
import { useSession } from '../../lib/session';

type CreationOptions = Parameters<typeof startRegistration>[0]['optionsJSON'];
type Step = { name: 'choose' } | { name: 'totp'; secret: string; qrSvg: string } | { name: 'codes'; codes: string[] };

/**
 * /mfa/enroll: where policy (MFA_REQUIRED) makes a signed-in person set up a second factor before
 * anything else: an authenticator app (QR code and its key as text, confirmed by a code, then the
 * backup codes, shown once, with a .txt download) or a passkey; then the account center.
 */
export function Page() {
  const { state } = useSession();
  if (state.status === 'loading') return <Loading />;
  if (state.status !== 'signed-in') return <Navigate to="/sign-in" replace />;
  return <Enrol email={state.user.email} />;
}

function Enrol({ email }: { email: string }) {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const navigate = useNavigate();
  const [step, setStep] = useState<Step>({ name: 'choose' });
  const [code, setCode] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail, setError } = useFormError();
  const [busy, setBusy] = useState<'totp' | 'passkey' | 'confirm' | null>(null);


  async function startTotp(): Promise<void> {
    setBusy('totp');
    try {
      const started = await call(api.POST('/v1/me/mfa/totp', {}));
      setError(null);
      setCode('');
      setStep({ name: 'totp', secret: started.secret, qrSvg: started.qr_svg });
    } catch (cause) {
      // Already enrolled (another tab): nothing left to do here.
      if (cause instanceof ApiError && cause.code === 'totp_already_enabled') return void navigate('/account', { replace: true });
      fail(message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function confirm(): Promise<void> {
    const digits = code.replace(/\s/g, '');
    if (!/^[0-9]{6}$/.test(digits)) {
      setFieldError(digits ? t('errors.invalid_mfa_code') : t('common:required'));
      return fail(t('common:fixErrors'));
    }
    setFieldError(null);
    setBusy('confirm');
    try {
      const { backup_codes } = await call(api.POST('/v1/me/mfa/totp/confirm', { body: { code: digits } }));
      setError(null);
      setStep({ name: 'codes', codes: backup_codes });
    } catch (cause) {
      const text = message(cause);
      if (cause instanceof ApiError && cause.code === 'totp_not_started') setStep({ name: 'choose' });
      else setFieldError(text);
      setCode('');
      fail(text);
    } finally {
      setBusy(null);
    }
  }

  async function addPasskey(): Promise<void> {
    setBusy('passkey');
    try {
      const options = await call(api.POST('/v1/me/passkeys/options', {}));
      const response = await startRegistration({ optionsJSON: options as unknown as CreationOptions });
      await call(api.POST('/v1/me/passkeys', { body: { response: response as unknown as Record<string, unknown>, name: t('enroll.passkeyName') } }));
      navigate('/account', { replace: true });
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      fail(name === 'NotAllowedError' || name === 'AbortError' || name === 'InvalidStateError' ? t('enroll.passkeyCancelled') : message(cause));
    } finally {
      setBusy(null);
    }
  }

  if (step.name === 'codes') return <BackupCodes codes={step.codes} email={email} />;

  return (
    <AuthLayout title={t('enroll.title')}>
      {error ? <Alert>{error}</Alert> : null}
      {step.name === 'choose' ? (
        <>
          <p>{t('enroll.intro')}</p>
          <ul className="list">
            <li>
              <div>
                <h2>{t('enroll.totp')}</h2>
                <p className="muted">{t('enroll.totpHelp')}</p>
              </div>
              <Button busy={busy === 'totp'} onClick={() => void startTotp()} aria-label={`${t('enroll.start')}: ${t('enroll.totp')}`}>
                {t('enroll.start')}
              </Button>
            </li>
            <li>
              <div>
                <h2>{t('enroll.passkey')}</h2>
                <p className="muted">{t('enroll.passkeyHelp')}</p>
              </div>
              <Button variant="secondary" busy={busy === 'passkey'} onClick={() => void addPasskey()} aria-label={`${t('enroll.start')}: ${t('enroll.passkey')}`}>
                {t('enroll.start')}
              </Button>
            </li>
          </ul>
        </>
      ) : (
        <div className="stack">
          <p>{t('enroll.scan')}</p>
          <TotpKey qrSvg={step.qrSvg} secret={step.secret} qrLabel={t('enroll.qrLabel')} keyLabel={t('enroll.cantScan')} />
          <Form onSubmit={confirm} errorKey={errorKey}>
            <Field
              label={t('enroll.code')}
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={7}
              value={code}
              onChange={(event) => setCode(event.target.value)}
              error={fieldError}
              required
            />
            <div className="actions">
              <Button type="submit" busy={busy === 'confirm'}>
                {t('enroll.confirm')}
              </Button>
              <Button variant="link" onClick={() => setStep({ name: 'choose' })}>
                {t('enroll.back')}
              </Button>
            </div>
          </Form>
        </div>
      )}
    </AuthLayout>
  );
}

function BackupCodes({ codes, email }: { codes: string[]; email: string }) {
  const { t } = useTranslation('auth');
  const { brand } = useExperience();
  const navigate = useNavigate();
  const file = useBackupCodesFile(`${t('enroll.backupFile', { brand: brand.name, email })}\n\n${codes.join('\n')}\n`);

  return (
    <AuthLayout title={t('enroll.backupTitle')}>
      <p>{t('enroll.backupIntro')}</p>
      <BackupCodeList codes={codes} label={t('enroll.backupTitle')} />
      <div className="stack codes__actions">
        {file.href ? (
          <a className="btn btn--secondary btn--block" href={file.href} download={file.filename}>
            {t('enroll.download')}
          </a>
        ) : null}
        <Button className="btn--block" onClick={() => navigate('/account', { replace: true })}>
          {t('enroll.saved')}
        </Button>
      </div>
    </AuthLayout>
  );
}
