import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Field, PasswordField } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import type { User } from '../../../lib/session';
import { cancelled } from './useLoad';

/**
 * The email address: the current one, and a change (new address + current password, POST
 * /v1/me/email, with step-up when the sign-in is not recent). Nothing changes until the link
 * mailed to the new address is opened.
 */
export function EmailChange({ user }: { user: User }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const [open, setOpen] = useState(false);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<{ email?: string; password?: string }>({});
  const { error, errorKey, fail, setError } = useFormError();
  const [sentTo, setSentTo] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);


  async function submit(): Promise<void> {
    const next = email.trim();
    const missing = {
      ...(next ? (/^[^\s@]+@[^\s@]+$/.test(next) ? {} : { email: t('email.invalid') }) : { email: t('common:required') }),
      ...(password ? {} : { password: t('common:required') }),
    };
    setErrors(missing);
    if (Object.keys(missing).length > 0) return fail(t('common:fixErrors'));
    if (next.toLowerCase() === user.email.toLowerCase()) {
      setErrors({ email: t('email.same') });
      return fail(t('common:fixErrors'));
    }
    setBusy(true);
    try {
      await withStepUp(() => call(api.POST('/v1/me/email', { body: { new_email: next, password } })));
      setSentTo(next);
      setError(null);
      setOpen(false);
      setEmail('');
      setPassword('');
    } catch (cause) {
      if (cancelled(cause)) return;
      const code = (cause as { code?: string }).code;
      if (code === 'invalid_credentials') setErrors({ password: t('errors.wrong_password') });
      else if (code === 'invalid_email' || code === 'email_taken') setErrors({ email: message(cause) });
      fail(code === 'invalid_credentials' ? t('errors.wrong_password') : message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      <h2>{t('email.title')}</h2>
      <p>
        <span className="secret">{user.email}</span>{' '}
        {user.email_verified ? <span className="tag">{t('email.verified')}</span> : <span className="tag">{t('email.unverified')}</span>}
      </p>
      {sentTo ? <Alert tone="success">{t('email.sent', { email: sentTo })}</Alert> : null}
      {open ? (
        <>
          {error ? <Alert>{error}</Alert> : null}
          <Form onSubmit={submit} errorKey={errorKey}>
            <Field label={t('email.new')} name="new_email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={errors.email} required />
            <PasswordField
              label={t('email.password')}
              name="current_password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              error={errors.password}
              required
            />
            <div className="actions">
              <Button type="submit" busy={busy}>
                {t('email.submit')}
              </Button>
              <Button variant="secondary" onClick={() => setOpen(false)}>
                {t('common:cancel')}
              </Button>
            </div>
          </Form>
        </>
      ) : (
        <Button variant="secondary" onClick={() => setOpen(true)}>
          {t('email.change')}
        </Button>
      )}
    </div>
  );
}
