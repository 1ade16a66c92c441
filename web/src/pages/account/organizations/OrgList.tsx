import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Dialog } from '../../../components/Dialog';
import { useErrorMessage } from '../../../lib/errors';
import { roleLabel } from './roles';

export type Org = paths['/v1/orgs']['get']['responses'][200]['content']['application/json']['data'][number];

/**
 * My organizations, oldest first: the active one (the session's organization context) marked, a
 * "Switch" on the others (POST /v1/auth/refresh with org_id: new cookies that speak for it) and a
 * "Leave" on each, confirmed in a dialog; a refusal (the last owner) is said in the dialog.
 */
export function OrgList({ orgs, active, onSwitched, onLeft }: { orgs: Org[]; active: string | null; onSwitched: (org: Org) => void; onLeft: (org: Org) => void }) {
  const { t } = useTranslation('orgs');
  const message = useErrorMessage('orgs');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [leaving, setLeaving] = useState<Org | null>(null);
  const [leaveError, setLeaveError] = useState<{ text: string; final: boolean } | null>(null);

  async function switchTo(org: Org): Promise<void> {
    setBusy(`switch:${org.id}`);
    setError(null);
    try {
      await call(api.POST('/v1/auth/refresh', { body: { use_cookie: true, org_id: org.id } }));
      onSwitched(org);
    } catch (cause) {
      setError(message(cause, { name: org.name }));
    } finally {
      setBusy(null);
    }
  }

  async function leave(org: Org): Promise<void> {
    setBusy(`leave:${org.id}`);
    setLeaveError(null);
    try {
      await call(api.POST('/v1/orgs/{org_id}/leave', { params: { path: { org_id: org.id } } }));
      // The session no longer speaks for it: new cookies without an organization.
      if (active === org.id) await call(api.POST('/v1/auth/refresh', { body: { use_cookie: true, org_id: null } })).catch(() => undefined);
      setLeaving(null);
      onLeft(org);
    } catch (cause) {
      // The last owner cannot leave however often they try: no second "Leave" to press then.
      setLeaveError({ text: message(cause, { name: org.name }), final: cause instanceof ApiError && cause.code === 'last_owner' });
    } finally {
      setBusy(null);
    }
  }

  if (orgs.length === 0) return <p className="muted">{t('list.empty')}</p>;
  return (
    <>
      {error ? <Alert>{error}</Alert> : null}
      <ul className="list orgs__list">
        {orgs.map((org) => {
          const nameId = `org-name-${org.id}`;
          const isActive = org.id === active;
          return (
            <li key={org.id} className={isActive ? 'orgs__item--active' : undefined}>
              <div className="list__main">
                <p className="orgs__name" id={nameId}>
                  {org.name}
                </p>
                <p className="orgs__meta">
                  <span>{t('list.role', { role: roleLabel(t, org.role) })}</span>
                  <span className="muted">{org.slug}</span>
                  {isActive ? (
                    <span className="tag tag--active" title={t('list.activeHint')}>
                      {t('list.active')}
                    </span>
                  ) : null}
                </p>
              </div>
              <div className="actions">
                {isActive ? null : (
                  <Button variant="secondary" aria-describedby={nameId} busy={busy === `switch:${org.id}`} onClick={() => void switchTo(org)}>
                    {t('list.switch')}
                  </Button>
                )}
                <Button
                  variant="danger"
                  aria-describedby={nameId}
                  onClick={() => {
                    setLeaveError(null);
                    setLeaving(org);
                  }}
                >
                  {t('list.leave')}
                </Button>
              </div>
            </li>
          );
        })}
      </ul>
      <Dialog open={leaving !== null} title={leaving ? t('list.leaveTitle', { name: leaving.name }) : ''} onClose={() => setLeaving(null)}>
        {leaving ? (
          <>
            <p>{t('list.leaveBody', { name: leaving.name })}</p>
            {leaveError ? <Alert>{leaveError.text}</Alert> : null}
            <div className="actions">
              {leaveError?.final ? null : (
                <Button variant="danger" busy={busy === `leave:${leaving.id}`} onClick={() => void leave(leaving)}>
                  {t('list.leaveConfirm')}
                </Button>
              )}
              <Button variant="secondary" onClick={() => setLeaving(null)}>
                {t('common:cancel')}
              </Button>
            </div>
          </>
        ) : null}
      </Dialog>
    </>
  );
}
