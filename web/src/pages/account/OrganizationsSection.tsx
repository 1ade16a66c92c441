import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call } from '../../api/client';
import { Alert, Loading } from '../../components/Alert';
import { useErrorMessage } from '../../lib/errors';
import { CreateOrgForm } from './organizations/CreateOrgForm';
import { MyInvitations } from './organizations/MyInvitations';
import { OrgList, type Org } from './organizations/OrgList';
import './organizations/orgs.css';
import './notifications/notifications.css';

/** The organization the session works in (its tokens' org_id), or null for none. */
async function activeOrgId(): Promise<string | null> {
  try {
    return (await call(api.GET('/v1/org'))).id;
  } catch (error) {
    // No organization chosen, or one I no longer belong to: none is active.
    if (error instanceof ApiError && (error.code === 'organization_required' || error.code === 'org_not_found')) return null;
    throw error;
  }
}

/**
 * /account/organizations: my organizations (the active one marked; switch to another, leave one),
 * a new one, and the invitations addressed to me (accept, decline).
 */
export function OrganizationsSection() {
  const { t } = useTranslation('orgs');
  const message = useErrorMessage('orgs');
  const [orgs, setOrgs] = useState<Org[] | null>(null);
  const [active, setActive] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      const [list, current] = await Promise.all([call(api.GET('/v1/orgs')), activeOrgId()]);
      setOrgs(list.data);
      setActive(current);
    } catch (error) {
      setLoadError(error);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const added = useCallback((org: Org, text: string) => {
    setOrgs((current) => [...(current ?? []).filter((o) => o.id !== org.id), org]);
    setNotice(text);
  }, []);

  return (
    <>
      <h1>{t('title')}</h1>
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      <section className="section" aria-labelledby="orgs-heading">
        <h2 id="orgs-heading">{t('list.heading')}</h2>
        {loadError ? (
          <Alert onRetry={() => void load()}>{message(loadError)}</Alert>
        ) : orgs === null ? (
          <Loading />
        ) : (
          <OrgList
            orgs={orgs}
            active={active}
            onSwitched={(org) => {
              setActive(org.id);
              setNotice(t('list.switched', { name: org.name }));
            }}
            onLeft={(org) => {
              setOrgs((current) => (current ?? []).filter((o) => o.id !== org.id));
              if (active === org.id) setActive(null);
              setNotice(t('list.left', { name: org.name }));
            }}
          />
        )}
      </section>
      <MyInvitations onJoined={(org) => added(org, t('invitations.joined', { name: org.name }))} onDeclined={(name) => setNotice(t('invitations.declined', { name }))} />
      <CreateOrgForm onCreated={(org) => added(org, t('create.created', { name: org.name }))} />
    </>
  );
}

