import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { fieldErrors, useErrorMessage } from '../../lib/errors';
import { useExperience } from '../../lib/experience';
import { returnToQuery, useReturnTo } from '../../lib/sign-in';
import { AFTER_VERIFY_KEY, brokenRules, SIGNED_UP_KEY, ButtonLink, NewPasswordField } from './shared';

/**
 * /sign-up: name (optional), email and a new password with the policy's live feedback; then
 * "check your mail" (the link, or the 6-digit code on /verify-email). A taken address answers
 * like a new one (the API mails its owner instead), so the page never says whether it exists.
 */
export function Page() {
  const { t, i18n } = useTranslation('auth');
  const { brand } = useExperience();
  const message = useErrorMessage('auth');
  const returnTo = useReturnTo();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<{ email?: string; password?: string | null; name?: string }>({});
  const [rules, setRules] = useState<string[]>([]);
  const { error, errorKey, fail, setError } = useFormError();
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);


  async function submit(): Promise<void> {
    const missing = { ...(email.trim() ? {} : { email: t('common:required') }), ...(password ? {} : { password: t('common:required') }) };
    setErrors(missing);
    setRules([]);
    if (Object.keys(missing).length > 0) return fail(t('common:fixErrors'));
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/signup', { body: { email: email.trim(), password, locale: i18n.resolvedLanguage ?? i18n.language, ...(name.trim() ? { name: name.trim() } : {}) } }));
      // The verify page (same browser) continues where the person was going.
      if (returnTo) localStorage.setItem(AFTER_VERIFY_KEY, returnTo);
      else localStorage.removeItem(AFTER_VERIFY_KEY);
      localStorage.setItem(SIGNED_UP_KEY, email.trim());
      setError(null);
      setSent(email.trim());
    } catch (cause) {
      const broken = brokenRules(cause);
      const fields = fieldErrors(cause);
      setRules(broken);
      setErrors({
        ...(broken.length > 0 ? {} : fields.password ? { password: message(cause) } : {}),
        ...(fields.email || (cause as { code?: string }).code === 'invalid_email' ? { email: t('errors.invalid_email') } : {}),
        ...(fields.name ? { name: fields.name } : {}),
      });
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  async function resend(): Promise<void> {
    if (!sent) return;
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/verify-email/resend', { body: { email: sent } }));
      setError(null);
      setNotice(t('signUp.resent', { email: sent }));
    } catch (cause) {
      setNotice(null);
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  if (sent) {
    return (
      <AuthLayout title={t('signUp.checkTitle')}>
        {error ? <Alert>{error}</Alert> : null}
        {notice ? <Alert tone="success">{notice}</Alert> : null}
        <p>{t('signUp.checkBody', { email: sent })}</p>
        <p className="muted">{t('signUp.checkSpam')}</p>
        <div className="stack">
          <ButtonLink to={`/verify-email?email=${encodeURIComponent(sent)}`}>{t('signUp.enterCode')}</ButtonLink>
          <Button variant="secondary" className="btn--block" busy={busy} onClick={() => void resend()}>
            {t('signUp.resend')}
          </Button>
          <Button
            variant="link"
            onClick={() => {
              setSent(null);
              setNotice(null);
              setError(null);
            }}
          >
            {t('signUp.wrongAddress')}
          </Button>
        </div>
      </AuthLayout>
    );
  }

  return (
    <AuthLayout
      title={t('signUp.title', { brand: brand.name })}
      footer={
        <p>
          {t('signUp.haveAccount')} <Link to={`/sign-in${returnToQuery(returnTo)}`}>{t('signUp.signIn')}</Link>
        </p>
      }
    >
      {error ? <Alert>{error}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <Field label={t('signUp.name')} name="name" autoComplete="name" value={name} onChange={(event) => setName(event.target.value)} error={errors.name} />
        <Field
          label={t('signUp.email')}
          name="email"
          type="email"
          autoComplete="email"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={errors.email}
          required
        />
        <NewPasswordField label={t('signUp.password')} value={password} onChange={setPassword} email={email} name={name} rules={rules} error={errors.password ?? null} />
        <Button type="submit" busy={busy} className="btn--block">
          {t('signUp.submit')}
        </Button>
      </Form>
    </AuthLayout>
  );
}
