import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { brokenRules, ButtonLink, ExpiredLink, NewPasswordField } from './shared';

/**
 * /reset-password?token=…: a new password with the policy's live feedback. Done: every session
 * has ended, so a link to sign in. An expired or used link (known when the API refuses it): a
 * link to ask for a new one. A refused password leaves the link usable.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const [params] = useSearchParams();
  const token = params.get('token');
  const message = useErrorMessage('auth');
  const [password, setPassword] = useState('');
  const [rules, setRules] = useState<string[]>([]);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail } = useFormError();
  const [busy, setBusy] = useState(false);
  const [state, setState] = useState<'form' | 'done' | 'expired'>(token && token.length >= 16 ? 'form' : 'expired');

  async function submit(): Promise<void> {
    setRules([]);
    if (!password) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/password/reset', { body: { token: token!, password } }));
      setState('done');
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'invalid_link') {
        setState('expired');
        return;
      }
      setRules(brokenRules(cause));
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  if (state === 'expired') {
    return (
      <ExpiredLink title={t('reset.expiredTitle')} body={token ? t('reset.expiredBody') : t('reset.noToken')}>
        <ButtonLink to="/forgot-password">{t('reset.requestNew')}</ButtonLink>
      </ExpiredLink>
    );
  }
  if (state === 'done') {
    return (
      <AuthLayout title={t('reset.doneTitle')}>
        <Alert tone="success">{t('reset.doneBody')}</Alert>
        <ButtonLink to="/sign-in">{t('reset.signIn')}</ButtonLink>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={t('reset.title')}>
      {error ? <Alert>{error}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <NewPasswordField label={t('reset.password')} value={password} onChange={setPassword} rules={rules} error={fieldError} />
        <Button type="submit" busy={busy} className="btn--block">
          {t('reset.submit')}
        </Button>
      </Form>
    </AuthLayout>
  );
}
