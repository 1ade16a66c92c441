import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { Alert, Loading } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { useErrorMessage } from '../../../lib/errors';
import { formatDateTime } from '../../../lib/format';
import type { Org } from './OrgList';
import { roleLabel } from './roles';

type Received = paths['/v1/me/invitations']['get']['responses'][200]['content']['application/json']['data'][number];

/** Pending invitations addressed to my verified address: accept (join) or decline each. */
export function MyInvitations({ onJoined, onDeclined }: { onJoined: (org: Org) => void; onDeclined: (orgName: string) => void }) {
  const { t } = useTranslation('orgs');
  const message = useErrorMessage('orgs');
  const [items, setItems] = useState<Received[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      const page = await call(api.GET('/v1/me/invitations', { params: { query: { limit: 50 } } }));
      setItems(page.data);
      setCursor(page.next_cursor ?? null);
    } catch (cause) {
      setLoadError(message(cause));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  async function more(): Promise<void> {
    if (!cursor) return;
    setBusy('more');
    try {
      const page = await call(api.GET('/v1/me/invitations', { params: { query: { limit: 50, cursor } } }));
      setItems((current) => [...(current ?? []), ...page.data.filter((i) => !current?.some((c) => c.id === i.id))]);
      setCursor(page.next_cursor ?? null);
    } catch (cause) {
      setError(message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function answer(invitation: Received, accept: boolean): Promise<void> {
    setBusy(`${accept ? 'accept' : 'decline'}:${invitation.id}`);
    setError(null);
    const path = { params: { path: { invitation_id: invitation.id } } };
    try {
      if (accept) {
        const joined = await call(api.POST('/v1/me/invitations/{invitation_id}/accept', path));
        onJoined(joined.org);
      } else {
        await call(api.POST('/v1/me/invitations/{invitation_id}/decline', path));
        onDeclined(invitation.organization.name);
      }
      setItems((current) => (current ?? []).filter((i) => i.id !== invitation.id));
    } catch (cause) {
      setError(message(cause, { name: invitation.organization.name }));
      // Gone meanwhile (expired, withdrawn, answered elsewhere): read the list again.
      void load();
    } finally {
      setBusy(null);
    }
  }

  // Nothing to show while there is nothing pending: the section appears only with invitations.
  if (items !== null && items.length === 0 && !error) return null;
  return (
    <section className="section" aria-labelledby="my-invitations-heading">
      <h2 id="my-invitations-heading">{t('invitations.heading')}</h2>
      {error ? <Alert>{error}</Alert> : null}
      {loadError ? (
        <Alert onRetry={() => void load()}>{loadError}</Alert>
      ) : items === null ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{t('invitations.empty')}</p>
      ) : (
        <>
          <ul className="list">
            {items.map((invitation) => {
              const nameId = `invitation-${invitation.id}`;
              const role = roleLabel(t, invitation.role.key, invitation.role.name);
              return (
                <li key={invitation.id}>
                  <div className="list__main">
                    <p className="orgs__name" id={nameId}>
                      {invitation.organization.name}
                    </p>
                    <p className="orgs__meta">
                      <span>{invitation.inviter_name ? t('invitations.from', { inviter: invitation.inviter_name, role }) : t('invitations.fromUnknown', { role })}</span>
                      <span>{t('invitations.expires', { when: formatDateTime(invitation.expires_at) })}</span>
                    </p>
                  </div>
                  <div className="actions">
                    <Button aria-describedby={nameId} busy={busy === `accept:${invitation.id}`} onClick={() => void answer(invitation, true)}>
                      {t('invitations.accept')}
                    </Button>
                    <Button variant="secondary" aria-describedby={nameId} busy={busy === `decline:${invitation.id}`} onClick={() => void answer(invitation, false)}>
                      {t('invitations.decline')}
                    </Button>
                  </div>
                </li>
              );
            })}
          </ul>
          {cursor ? (
            <div className="actions">
              <Button variant="secondary" busy={busy === 'more'} onClick={() => void more()}>
                {t('invitations.more')}
              </Button>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
