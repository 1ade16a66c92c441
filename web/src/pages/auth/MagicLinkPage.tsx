import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import { Alert, Loading } from '../../components/Alert';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { useCompleteSignIn, type SignInReply } from '../../lib/sign-in';
import { ButtonLink, callOnce, ExpiredLink, useOnceEffect } from './shared';

/**
 * /magic-link?token=…: signs in with the mailed link at once (cookie session), then on as every
 * sign-in (a second factor when due, else return_to or the account center). Expired or used: says
 * so, with the way back to sign-in.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const [params] = useSearchParams();
  const token = params.get('token');
  const message = useErrorMessage('auth');
  const complete = useCompleteSignIn();
  const [state, setState] = useState<{ status: 'working' } | { status: 'expired' } | { status: 'failed'; error: unknown }>(
    token && token.length >= 16 ? { status: 'working' } : { status: 'expired' },
  );

  const signIn = () => {
    if (!token || token.length < 16) return;
    setState({ status: 'working' });
    callOnce(`magic:${token}`, () => call(api.POST('/v1/auth/magic-link/verify', { body: { token, use_cookie: true } }))).then(
      (reply) => complete(reply as SignInReply),
      (error: unknown) => setState(error instanceof ApiError && error.code === 'invalid_link' ? { status: 'expired' } : { status: 'failed', error }),
    );
  };
  useOnceEffect(token ?? '', signIn);

  if (state.status === 'expired') {
    return (
      <ExpiredLink title={t('magic.expiredTitle')} body={t('magic.expiredBody')}>
        <ButtonLink to="/sign-in">{t('magic.backToSignIn')}</ButtonLink>
      </ExpiredLink>
    );
  }
  return (
    <AuthLayout title={t('magic.title')}>
      {state.status === 'failed' ? <Alert onRetry={signIn}>{message(state.error)}</Alert> : <Loading label={t('magic.signingIn')} />}
    </AuthLayout>
  );
}
