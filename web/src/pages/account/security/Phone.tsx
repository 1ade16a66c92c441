import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Field } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import { useSession, type User } from '../../../lib/session';
import { cancelled } from '../profile/useLoad';

/**
 * The phone number: a number in international format gets a code by SMS (POST /v1/me/phone, step-up),
 * confirmed with POST /v1/me/phone/verify; a verified number can be changed or removed (step-up).
 */
export function Phone({ user }: { user: User }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const { reload } = useSession();
  const [editing, setEditing] = useState(false);
  const [phone, setPhone] = useState('');
  const [sent, setSent] = useState<{ otpId: string; phone: string } | null>(null);
  const [code, setCode] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail: showError, setError } = useFormError();
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const fail = (text: string, field = false) => {
    showError(text);
    if (field) setFieldError(text);
  };

  async function send(): Promise<void> {
    const number = phone.replace(/[\s().-]/g, '');
    setNotice(null);
    if (!/^\+[1-9][0-9]{6,14}$/.test(number)) {
      setFieldError(t('phone.format'));
      return fail(t('common:fixErrors'));
    }
    setBusy(true);
    try {
      const result = await withStepUp(() => call(api.POST('/v1/me/phone', { body: { phone: number } })));
      setSent({ otpId: result.otp_id, phone: number });
      setCode('');
      setFieldError(null);
      setError(null);
    } catch (cause) {
      if (!cancelled(cause)) fail(message(cause), true);
    } finally {
      setBusy(false);
    }
  }

  async function verify(): Promise<void> {
    if (!sent) return;
    const digits = code.replace(/\s/g, '');
    if (!/^\d{4,10}$/.test(digits)) {
      setFieldError(t('phone.codeFormat'));
      return fail(t('common:fixErrors'));
    }
    setBusy(true);
    try {
      await call(api.POST('/v1/me/phone/verify', { body: { otp_id: sent.otpId, code: digits } }));
      setSent(null);
      setEditing(false);
      setPhone('');
      setFieldError(null);
      setError(null);
      setNotice(t('phone.verified'));
      await reload();
    } catch (cause) {
      const attempts = (cause as { problem?: { attempts_left?: number } }).problem?.attempts_left;
      fail(typeof attempts === 'number' ? t('phone.wrongCode', { count: attempts }) : message(cause), true);
    } finally {
      setBusy(false);
    }
  }

  async function remove(): Promise<void> {
    setBusy(true);
    setNotice(null);
    try {
      await withStepUp(() => call(api.DELETE('/v1/me/phone', {})));
      setError(null);
      setNotice(t('phone.removed'));
      await reload();
    } catch (cause) {
      if (!cancelled(cause)) fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  const reset = () => {
    setEditing(false);
    setSent(null);
    setFieldError(null);
    setError(null);
  };

  return (
    <div className="card">
      <h2>{t('phone.title')}</h2>
      <p className="muted">{t('phone.intro')}</p>
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {error ? <Alert>{error}</Alert> : null}
      {sent ? (
        <Form onSubmit={verify} errorKey={errorKey}>
          <p>{t('phone.sent', { phone: sent.phone })}</p>
          <Field
            label={t('phone.code')}
            name="phone_code"
            inputMode="numeric"
            autoComplete="one-time-code"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            error={fieldError}
            required
          />
          <div className="actions">
            <Button type="submit" busy={busy}>
              {t('phone.verify')}
            </Button>
            <Button variant="link" onClick={() => void send()}>
              {t('phone.resend')}
            </Button>
            <Button variant="secondary" onClick={reset}>
              {t('common:cancel')}
            </Button>
          </div>
        </Form>
      ) : editing || !user.phone ? (
        <Form onSubmit={send} errorKey={errorKey}>
          <Field
            label={t('phone.number')}
            name="phone"
            type="tel"
            autoComplete="tel"
            description={t('phone.numberHelp')}
            value={phone}
            onChange={(e) => setPhone(e.target.value)}
            error={fieldError}
            required
          />
          <div className="actions">
            <Button type="submit" busy={busy}>
              {t('phone.send')}
            </Button>
            {editing ? (
              <Button variant="secondary" onClick={reset}>
                {t('common:cancel')}
              </Button>
            ) : null}
          </div>
        </Form>
      ) : (
        <>
          <p>
            <span className="secret">{user.phone}</span> {user.phone_verified ? <span className="tag">{t('phone.isVerified')}</span> : null}
          </p>
          <div className="actions">
            <Button variant="secondary" onClick={() => setEditing(true)}>
              {t('phone.change')}
            </Button>
            <Button variant="danger" busy={busy} onClick={() => void remove()}>
              {t('phone.remove')}
            </Button>
          </div>
        </>
      )}
    </div>
  );
}
