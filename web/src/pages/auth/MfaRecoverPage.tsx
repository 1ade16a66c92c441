import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { PasswordField } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { useSession } from '../../lib/session';
import { useCompleteSignIn, type SignInReply } from '../../lib/sign-in';
import { ButtonLink, ExpiredLink } from './shared';

/**
 * /mfa/recover?token=…: the end of "lost access to your second factor". The mailed link and the
 * password sign in once; the second factors are removed (the page says so before and after), and
 * the person continues to the account center to set one up again.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const [params] = useSearchParams();
  const token = params.get('token');
  const message = useErrorMessage('auth');
  const complete = useCompleteSignIn();
  const session = useSession();
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail } = useFormError();
  const [busy, setBusy] = useState(false);
  const [state, setState] = useState<'form' | 'done' | 'expired'>(token && token.length >= 16 ? 'form' : 'expired');

  async function submit(): Promise<void> {
    if (!password) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const reply = (await call(api.POST('/v1/auth/mfa/recovery/complete', { body: { token: token!, password, use_cookie: true } }))) as SignInReply;
      if ('mfa_required' in reply) {
        complete(reply);
        return;
      }
      session.signedIn(reply.user);
      setState('done');
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'recovery_invalid') {
        setState('expired');
        return;
      }
      const text = message(cause);
      if (cause instanceof ApiError && cause.code === 'invalid_credentials') setFieldError(text);
      fail(text);
    } finally {
      setBusy(false);
    }
  }

  if (state === 'expired') {
    return (
      <ExpiredLink title={t('recover.expiredTitle')} body={token ? t('recover.expiredBody') : t('recover.noToken')}>
        <ButtonLink to="/sign-in">{t('recover.backToSignIn')}</ButtonLink>
      </ExpiredLink>
    );
  }
  if (state === 'done') {
    return (
      <AuthLayout title={t('recover.doneTitle')}>
        <Alert tone="success">{t('recover.doneBody')}</Alert>
        <Button className="btn--block" onClick={() => navigate('/account', { replace: true })}>
          {t('recover.continue')}
        </Button>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={t('recover.title')}>
      <p>{t('recover.intro')}</p>
      {error ? <Alert>{error}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <PasswordField
          label={t('recover.password')}
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={fieldError}
          required
        />
        <Button type="submit" busy={busy} className="btn--block">
          {t('recover.submit')}
        </Button>
      </Form>
    </AuthLayout>
  );
}
