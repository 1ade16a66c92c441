import { useState } from 'react';
import './profile/account.css';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../api/client';
import type { paths } from '../../api/schema';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { useErrorMessage } from '../../lib/errors';
import { formatDateTime } from '../../lib/format';
import { useLoad } from './profile/useLoad';

type ConnectedApp = paths['/v1/me/applications']['get']['responses'][200]['content']['application/json']['data'][number];

/**
 * /account/apps: the applications the person signed in to through this server, what each may see
 * or do (OpenID scopes, API resource scopes), and "Remove access", which revokes its tokens at once.
 */
export function ConnectedAppsSection() {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const { state, reload, set } = useLoad(async () => (await call(api.GET('/v1/me/applications'))).data);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  async function revoke(app: ConnectedApp): Promise<void> {
    setBusy(app.client_id);
    try {
      await call(api.DELETE('/v1/me/applications/{client_id}', { params: { path: { client_id: app.client_id } } }));
      if (state.status === 'ready') set(state.data.filter((a) => a.client_id !== app.client_id));
      setNotice({ tone: 'success', text: t('apps.revoked', { name: app.name }) });
    } catch (cause) {
      setNotice({ tone: 'error', text: message(cause) });
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="section" aria-labelledby="apps-title">
      <h1 id="apps-title">{t('nav.apps')}</h1>
      <p className="muted">{t('apps.intro')}</p>
      {notice ? <Alert tone={notice.tone}>{notice.text}</Alert> : null}
      {state.status === 'loading' ? <Loading /> : null}
      {state.status === 'error' ? (
        <Alert onRetry={() => void reload()}>
          {t('apps.loadFailed')} {message(state.error)}
        </Alert>
      ) : null}
      {state.status === 'ready' && state.data.length === 0 ? <p>{t('apps.none')}</p> : null}
      {state.status === 'ready' && state.data.length > 0 ? (
        <ul className="list" aria-label={t('apps.listLabel')}>
          {state.data.map((app) => (
            <li key={app.client_id}>
              <div className="list__main">
                <strong>{app.name}</strong>
                <div className="muted small">{t('apps.scopes', { scopes: [...app.scopes, ...app.resources.flatMap((r) => r.scopes)].join(', ') || '—' })}</div>
                <div className="muted small">{t('apps.since', { at: formatDateTime(app.granted_at) })}</div>
              </div>
              <Button variant="danger" busy={busy === app.client_id} onClick={() => void revoke(app)} aria-label={t('apps.revokeNamed', { name: app.name })}>
                {t('apps.revoke')}
              </Button>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
