import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Dialog } from '../../../components/Dialog';
import { Field } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { TotpKey } from '../../../components/SecondFactor';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import { cancelled } from '../profile/useLoad';
import { Codes } from './Codes';

interface Started {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

/**
 * The authenticator app: set up (the server's QR code and the key as text, then a code to confirm;
 * the backup codes come back once) or remove (step-up).
 */
export function Totp({ enabled, onChange }: { enabled: boolean; onChange: () => Promise<void> }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const [started, setStarted] = useState<Started | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [codeError, setCodeError] = useState<string | null>(null);
  const { error, errorKey, fail, setError } = useFormError();
  const [busy, setBusy] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);


  async function start(): Promise<void> {
    setBusy(true);
    setNotice(null);
    try {
      setStarted(await call(api.POST('/v1/me/mfa/totp', {})));
      setCode('');
      setError(null);
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  async function confirm(): Promise<void> {
    const digits = code.replace(/\s/g, '');
    if (!/^\d{6}$/.test(digits)) {
      setCodeError(t('totp.codeFormat'));
      return fail(t('common:fixErrors'));
    }
    setBusy(true);
    try {
      const result = await call(api.POST('/v1/me/mfa/totp/confirm', { body: { code: digits } }));
      setCodes(result.backup_codes);
      setStarted(null);
      setCodeError(null);
      setError(null);
      await onChange();
    } catch (cause) {
      const text = message(cause);
      setCodeError(text);
      fail(text);
    } finally {
      setBusy(false);
    }
  }

  async function remove(): Promise<void> {
    setConfirmRemove(false);
    setBusy(true);
    try {
      await withStepUp(() => call(api.DELETE('/v1/me/mfa/totp', {})));
      setError(null);
      setNotice(t('totp.removed'));
      await onChange();
    } catch (cause) {
      if (!cancelled(cause)) fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      <h2>{t('totp.title')}</h2>
      <p className="muted">{t('totp.intro')}</p>
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {error && !started ? <Alert>{error}</Alert> : null}
      {codes ? (
        <>
          <Alert tone="success">{t('totp.enabled')}</Alert>
          <Codes codes={codes} onDone={() => setCodes(null)} />
        </>
      ) : started ? (
        <div className="stack">
          <ol className="steps">
            <li>{t('totp.step1')}</li>
            <li>{t('totp.step2')}</li>
          </ol>
          <TotpKey qrSvg={started.qr_svg} secret={started.secret} qrLabel={t('totp.qrLabel')} keyLabel={t('totp.keyLabel')} />
          {error ? <Alert>{error}</Alert> : null}
          <Form onSubmit={confirm} errorKey={errorKey}>
            <Field
              label={t('totp.code')}
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={7}
              value={code}
              onChange={(e) => setCode(e.target.value)}
              error={codeError}
              required
            />
            <div className="actions">
              <Button type="submit" busy={busy}>
                {t('totp.confirm')}
              </Button>
              <Button variant="secondary" onClick={() => setStarted(null)}>
                {t('common:cancel')}
              </Button>
            </div>
          </Form>
        </div>
      ) : enabled ? (
        <div className="actions">
          <span className="tag">{t('status.on')}</span>
          <Button variant="danger" busy={busy} onClick={() => setConfirmRemove(true)}>
            {t('totp.remove')}
          </Button>
        </div>
      ) : (
        <div className="actions">
          <span className="tag">{t('status.off')}</span>
          <Button busy={busy} onClick={() => void start()}>
            {t('totp.setUp')}
          </Button>
        </div>
      )}
      <Dialog open={confirmRemove} title={t('totp.removeTitle')} onClose={() => setConfirmRemove(false)}>
        <p>{t('totp.removeBody')}</p>
        <div className="actions">
          <Button variant="danger" onClick={() => void remove()}>
            {t('totp.removeConfirm')}
          </Button>
          <Button variant="secondary" onClick={() => setConfirmRemove(false)}>
            {t('common:cancel')}
          </Button>
        </div>
      </Dialog>
    </div>
  );
}
