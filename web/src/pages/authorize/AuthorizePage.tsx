import { useCallback, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router';
import { api, ApiError, call } from '../../api/client';
import type { paths } from '../../api/schema';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import i18next from 'i18next';
import { LANGUAGES, type Language } from '../../locales';
import { useSession } from '../../lib/session';

type Interaction = paths['/v1/oidc/interactions/{uid}']['get']['responses'][200]['content']['application/json'];
type Orgs = paths['/v1/orgs']['get']['responses'][200]['content']['application/json']['data'];

/**
 * /authorize/{uid}: the steps of an application's sign-in through Tessera's OpenID provider.
 * - login: a signed-in person continues at once (unless the application asks for a newer sign-in:
 *   prompt=login, max_age); anyone else goes to the sign-in page, which comes back here.
 * - select_account (prompt=select_account): go on as the signed-in person, or sign out and in as another.
 * - consent: what the application asks for, Allow / Deny; an application marked first-party is let
 *   through without asking (even with prompt=consent), unless an organization is to be chosen.
 * Each step ends with a full navigation back into the provider, which goes on to the application.
 */
export function Page() {
  const { uid = '' } = useParams();
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const navigate = useNavigate();
  const session = useSession();
  const [interaction, setInteraction] = useState<Interaction | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<'allow' | 'deny' | 'login' | null>(null);
  const [orgs, setOrgs] = useState<Orgs | null>(null);
  const [orgId, setOrgId] = useState('');
  const started = useRef(false);
  const here = `/authorize/${encodeURIComponent(uid)}`;
  const signInPath = () => `/sign-in?return_to=${encodeURIComponent(here)}${interaction?.login_hint ? `&login_hint=${encodeURIComponent(interaction.login_hint)}` : ''}`;

  const fail = useCallback(
    (cause: unknown) => {
      if (cause instanceof ApiError && cause.code === 'interaction_not_found') setGone(true);
      else setError(message(cause));
      setBusy(null);
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  );

  useEffect(() => {
    call(api.GET('/v1/oidc/interactions/{uid}', { params: { path: { uid } } }))
      .then((found) => {
        // ui_locales: the first of the application's languages these pages speak.
        const language = found.ui_locales?.split(' ').map((tag) => tag.split('-')[0]!.toLowerCase()).find((tag): tag is Language => (LANGUAGES as string[]).includes(tag));
        // (For this visit only: the person's own choice stays remembered.)
        if (language) void i18next.changeLanguage(language);
        setInteraction(found);
      })
      .catch(fail);
  }, [uid, fail]);

  const go = (reply: { redirect_to: string }) => window.location.assign(reply.redirect_to);

  async function login(): Promise<void> {
    setBusy('login');
    try {
      go(await call(api.POST('/v1/oidc/interactions/{uid}/login', { params: { path: { uid } } })));
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'fresh_sign_in_required') {
        navigate(signInPath(), { replace: true });
      } else if (cause instanceof ApiError && cause.code === 'mfa_enrollment_required') {
        navigate(`/mfa/enroll?return_to=${encodeURIComponent(here)}`, { replace: true });
      } else fail(cause);
    }
  }

  async function consent(): Promise<void> {
    setBusy('allow');
    setError(null);
    try {
      go(await call(api.POST('/v1/oidc/interactions/{uid}/consent', { params: { path: { uid } }, body: orgId ? { organization_id: orgId } : {} })));
    } catch (cause) {
      fail(cause);
    }
  }

  /** Signs out here, then signs in as someone else and comes back to this step. */
  async function useAnother(): Promise<void> {
    await session.signOut();
    navigate(signInPath(), { replace: true });
  }

  async function deny(): Promise<void> {
    setBusy('deny');
    try {
      go(await call(api.POST('/v1/oidc/interactions/{uid}/abort', { params: { path: { uid } } })));
    } catch (cause) {
      fail(cause);
    }
  }

  const state = session.state;
  // The login step runs by itself; so does the consent of a first-party application with nothing to choose.
  useEffect(() => {
    if (!interaction || state.status === 'loading' || started.current) return;
    if (interaction.prompt === 'login') {
      started.current = true;
      // Signed in: the server judges whether that sign-in is recent enough (else fresh_sign_in_required).
      if (state.status !== 'signed-in') navigate(signInPath(), { replace: true });
      else void login();
      return;
    }
    if (state.status !== 'signed-in') {
      started.current = true;
      navigate(signInPath(), { replace: true });
      return;
    }
    if (interaction.prompt === 'select_account') return;
    const choose = interaction.organization !== null;
    if (choose) {
      started.current = true;
      call(api.GET('/v1/orgs'))
        .then(({ data }) => {
          setOrgs(data);
          const wanted = data.find((org) => org.id === interaction.organization);
          setOrgId(wanted?.id ?? data[0]?.id ?? '');
        })
        .catch(fail);
      return;
    }
    // First-party: consent is implied, even for prompt=consent (which OpenID Connect asks for refresh
    // tokens: offline_access), as Logto does.
    if (interaction.client.first_party) {
      started.current = true;
      void consent();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [interaction, state.status]);

  const app = interaction?.client.name ?? '';
  if (gone) {
    return (
      <AuthLayout title={t('authorize.gone')}>
        <p>{t('authorize.goneText')}</p>
      </AuthLayout>
    );
  }
  if (!interaction || interaction.prompt === 'login' || state.status !== 'signed-in') {
    return (
      <AuthLayout title={interaction ? t('authorize.title', { app }) : t('authorize.title', { app: '…' })}>
        {error ? <Alert>{error}</Alert> : <Loading label={interaction ? t('authorize.signingIn', { app }) : undefined} />}
      </AuthLayout>
    );
  }

  if (interaction.prompt === 'select_account') {
    return (
      <AuthLayout title={t('authorize.chooseAccount', { app })}>
        {error ? <Alert>{error}</Alert> : null}
        <p>{t('authorize.signedInAs', { email: state.user.email })}</p>
        <div className="actions">
          <Button busy={busy === 'login'} disabled={busy !== null} onClick={() => void login()}>
            {t('authorize.continueAs', { email: state.user.email })}
          </Button>
          <Button variant="secondary" disabled={busy !== null} onClick={() => void useAnother()}>
            {t('authorize.useAnother')}
          </Button>
        </div>
      </AuthLayout>
    );
  }

  const fixedOrg = interaction.organization && interaction.organization !== 'select';
  const noOrgs = orgs !== null && (fixedOrg ? !orgs.some((org) => org.id === interaction.organization) : orgs.length === 0);
  return (
    <AuthLayout title={t('authorize.consentTitle', { app })}>
      <p>{t('authorize.consentIntro', { email: state.user.email })}</p>
      {error ? <Alert>{error}</Alert> : null}
      {interaction.scopes.length > 0 ? (
        <ul className="scopes">
          {interaction.scopes.map((scope) => (
            <li key={scope}>{t(`authorize.scope_${scope}`, { defaultValue: scope })}</li>
          ))}
        </ul>
      ) : null}
      {interaction.resources.map((resource) => (
        <div key={resource.indicator}>
          <p>{t('authorize.resourceScopes', { name: resource.name })}</p>
          <ul className="scopes">
            {resource.scopes.map((scope) => (
              <li key={scope.name}>{scope.description || scope.name}</li>
            ))}
          </ul>
        </div>
      ))}
      {interaction.organization !== null ? (
        orgs === null ? (
          <Loading />
        ) : noOrgs ? (
          <Alert>{t('authorize.noOrganizations')}</Alert>
        ) : fixedOrg ? (
          <p>{t('authorize.organizationFor', { name: orgs.find((org) => org.id === interaction.organization)?.name ?? '' })}</p>
        ) : (
          <div className="field">
            <label htmlFor="authorize-org">{t('authorize.organization')}</label>
            <select id="authorize-org" value={orgId} onChange={(event) => setOrgId(event.target.value)}>
              {orgs.map((org) => (
                <option key={org.id} value={org.id}>
                  {org.name}
                </option>
              ))}
            </select>
          </div>
        )
      ) : null}
      {interaction.client.first_party ? null : <p className="muted">{t('authorize.thirdParty', { app })}</p>}
      <div className="actions">
        <Button busy={busy === 'allow'} disabled={busy !== null || noOrgs} onClick={() => void consent()}>
          {t('authorize.allow')}
        </Button>
        <Button variant="secondary" busy={busy === 'deny'} disabled={busy !== null} onClick={() => void deny()}>
          {t('authorize.deny')}
        </Button>
      </div>
    </AuthLayout>
  );
}
