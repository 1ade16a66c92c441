import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { returnToQuery, useReturnTo } from '../../lib/sign-in';

/**
 * /forgot-password: mails a reset link. The answer is the same for any address ("if an account
 * uses…"), as the API's: the page never says whether an account exists.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const returnTo = useReturnTo();
  const [email, setEmail] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail, setError } = useFormError();
  const [sent, setSent] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(): Promise<void> {
    if (!email.trim()) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/password/forgot', { body: { email: email.trim() } }));
      setError(null);
      setSent(email.trim());
    } catch (cause) {
      setSent(null);
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title={t('forgot.title')}>
      {error ? <Alert>{error}</Alert> : null}
      {sent ? <Alert tone="success">{t('forgot.sent', { email: sent })}</Alert> : <p>{t('forgot.intro')}</p>}
      <Form onSubmit={submit} errorKey={errorKey}>
        <Field label={t('forgot.email')} name="email" type="email" autoComplete="email" value={email} onChange={(event) => setEmail(event.target.value)} error={fieldError} required />
        <Button type="submit" busy={busy} className="btn--block" variant={sent ? 'secondary' : 'primary'}>
          {t('forgot.submit')}
        </Button>
      </Form>
      <p>
        <Link to={`/sign-in${returnToQuery(returnTo)}`}>{t('forgot.backToSignIn')}</Link>
      </p>
    </AuthLayout>
  );
}
