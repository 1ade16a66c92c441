import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import type { paths } from '../../api/schema';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { formatDateTime } from '../../lib/format';
import { useSession } from '../../lib/session';
// The `orgs` namespace loads with the pages that use it.
import '../../locales/account-area';
import { roleLabel } from '../account/organizations/roles';
import '../account/organizations/orgs.css';

type Preview = paths['/v1/invitations/preview']['post']['responses'][200]['content']['application/json'];
type Joined = paths['/v1/invitations/accept']['post']['responses'][200]['content']['application/json'];

/**
 * /invitations/accept?token=…: the link of an invitation mail. Shows what it offers (organization,
 * role, inviter, the invited address) before anything else, then:
 * - signed in with the invited address: "Join <org>" (POST /v1/invitations/accept), then a link to
 *   the account center's organizations;
 * - signed in as someone else: says so, and offers to sign out and continue;
 * - signed out: "Sign in" and "Create an account", both coming back here (return_to).
 * A used, expired or withdrawn link (the API answers invitation_invalid alike) gets a page of its own.
 */
export function Page() {
  const { t } = useTranslation('orgs');
  const message = useErrorMessage('orgs');
  const [params] = useSearchParams();
  const token = params.get('token');
  const session = useSession();
  const [preview, setPreview] = useState<Preview | null>(null);
  const [invalid, setInvalid] = useState<'missing' | 'invalid' | null>(token ? null : 'missing');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [joined, setJoined] = useState<Joined | null>(null);
  const [error, setError] = useState<{ text: string; code: string } | null>(null);
  const [busy, setBusy] = useState<'join' | 'signOut' | null>(null);

  const load = useCallback(async () => {
    if (!token) return;
    setLoadError(null);
    try {
      setPreview(await call(api.POST('/v1/invitations/preview', { body: { token } })));
    } catch (cause) {
      // A token that is not one (malformed: validation) is as unusable as an expired one.
      if (cause instanceof ApiError && (cause.code === 'invitation_invalid' || cause.code === 'validation_failed' || cause.status === 400)) setInvalid('invalid');
      else setLoadError(message(cause));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [token]);
  useEffect(() => {
    void load();
  }, [load]);

  async function join(): Promise<void> {
    if (!token) return;
    setBusy('join');
    setError(null);
    try {
      setJoined(await call(api.POST('/v1/invitations/accept', { body: { token } })));
    } catch (cause) {
      const code = cause instanceof ApiError ? cause.code : 'network_error';
      if (code === 'invitation_invalid') setInvalid('invalid');
      else setError({ text: message(cause, { name: preview?.organization.name }), code });
    } finally {
      setBusy(null);
    }
  }

  async function signOutAndContinue(): Promise<void> {
    setBusy('signOut');
    try {
      await session.signOut();
    } finally {
      setBusy(null);
    }
  }

  const here = `/invitations/accept?token=${encodeURIComponent(token ?? '')}`;
  const returnTo = `?return_to=${encodeURIComponent(here)}`;
  const signedIn = session.state.status === 'signed-in';

  if (invalid) {
    return (
      <AuthLayout title={t('accept.titleInvalid')}>
        <p>{invalid === 'missing' ? t('accept.missing') : t('accept.invalid')}</p>
        <p>
          <Link to={signedIn ? '/account/organizations' : '/sign-in'}>{signedIn ? t('accept.toAccount') : t('accept.signIn')}</Link>
        </p>
      </AuthLayout>
    );
  }
  if (loadError) {
    return (
      <AuthLayout title={t('accept.heading')}>
        <Alert onRetry={() => void load()}>{loadError}</Alert>
      </AuthLayout>
    );
  }
  if (!preview || session.state.status === 'loading') {
    return (
      <AuthLayout title={t('accept.heading')}>
        <Loading />
      </AuthLayout>
    );
  }

  const name = preview.organization.name;
  const role = roleLabel(t, preview.role.key, preview.role.name);
  if (joined) {
    return (
      <AuthLayout title={t('accept.joined', { name: joined.org.name })}>
        <p>{t('list.role', { role: roleLabel(t, joined.role, preview.role.name) })}</p>
        <p>
          <Link className="btn btn--primary btn--block" to="/account/organizations">
            {t('accept.toOrganizations')}
          </Link>
        </p>
      </AuthLayout>
    );
  }

  const state = session.state;
  const sameAddress = state.status === 'signed-in' && state.user.email.toLowerCase() === preview.email.toLowerCase();
  return (
    <AuthLayout title={t('accept.title', { name })}>
      <p>{preview.inviter_name ? t('accept.offer', { inviter: preview.inviter_name, name, role }) : t('accept.offerNoInviter', { name, role })}</p>
      <p className="muted">
        {t('accept.sentTo', { email: preview.email })} {t('accept.expires', { when: formatDateTime(preview.expires_at) })}
      </p>
      {state.status === 'error' ? (
        <Alert onRetry={() => void session.reload()}>{message(state.error)}</Alert>
      ) : state.status === 'signed-in' && sameAddress ? (
        <>
          {error ? <Alert>{error.text}</Alert> : null}
          {error?.code === 'already_member' ? (
            <p>
              <Link to="/account/organizations">{t('accept.toOrganizations')}</Link>
            </p>
          ) : (
            <Button className="btn--block" busy={busy === 'join'} onClick={() => void join()}>
              {t('accept.join', { name })}
            </Button>
          )}
        </>
      ) : state.status === 'signed-in' ? (
        <>
          <Alert tone="info">{t('accept.otherAccount', { current: state.user.email, email: preview.email })}</Alert>
          <Button className="btn--block" busy={busy === 'signOut'} onClick={() => void signOutAndContinue()}>
            {t('accept.signOutContinue')}
          </Button>
        </>
      ) : (
        <>
          <p>{t('accept.signedOut', { email: preview.email })}</p>
          <div className="stack">
            <Link className="btn btn--primary btn--block" to={`/sign-in${returnTo}`}>
              {t('accept.signIn')}
            </Link>
            <Link className="btn btn--secondary btn--block" to={`/sign-up${returnTo}`}>
              {t('accept.signUp')}
            </Link>
          </div>
        </>
      )}
    </AuthLayout>
  );
}
