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

type Session = paths['/v1/me/sessions']['get']['responses'][200]['content']['application/json']['data'][number];

/**
 * /account/sessions: every live session (device, address, when it began and was last used, this
 * device marked first), ending one, or every other one at once.
 */
export function SessionsSection() {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const { state, reload, set } = useLoad(async () => (await call(api.GET('/v1/me/sessions'))).data);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);

  async function revoke(session: Session): Promise<void> {
    setBusy(session.id);
    try {
      await call(api.DELETE('/v1/me/sessions/{id}', { params: { path: { id: session.id } } }));
      if (state.status === 'ready') set(state.data.filter((s) => s.id !== session.id));
      setNotice({ tone: 'success', text: t('sessions.revoked', { device: deviceOf(session) }) });
    } catch (cause) {
      setNotice({ tone: 'error', text: message(cause) });
    } finally {
      setBusy(null);
    }
  }

  async function revokeOthers(): Promise<void> {
    setBusy('others');
    try {
      await call(api.POST('/v1/me/sessions/revoke-others', {}));
      if (state.status === 'ready') set(state.data.filter((s) => s.current));
      setNotice({ tone: 'success', text: t('sessions.revokedOthers') });
    } catch (cause) {
      setNotice({ tone: 'error', text: message(cause) });
    } finally {
      setBusy(null);
    }
  }

  const deviceOf = (session: Session) => session.device ?? session.user_agent ?? t('sessions.unknownDevice');

  return (
    <section className="section" aria-labelledby="sessions-title">
      <h1 id="sessions-title">{t('nav.sessions')}</h1>
      <p className="muted">{t('sessions.intro')}</p>
      {notice ? <Alert tone={notice.tone}>{notice.text}</Alert> : null}
      {state.status === 'loading' ? <Loading /> : null}
      {state.status === 'error' ? (
        <Alert onRetry={() => void reload()}>
          {t('sessions.loadFailed')} {message(state.error)}
        </Alert>
      ) : null}
      {state.status === 'ready' ? (
        <>
          <ul className="list" aria-label={t('sessions.listLabel')}>
            {[...state.data].sort((a, b) => Number(b.current) - Number(a.current)).map((session) => (
              <li key={session.id} data-session={session.id}>
                <div className="list__main">
                  <div>
                    <strong>{deviceOf(session)}</strong> {session.current ? <span className="tag">{t('sessions.thisDevice')}</span> : null}
                  </div>
                  {session.device && session.user_agent ? <div className="muted small">{session.user_agent}</div> : null}
                  <div className="muted small">
                    {t('sessions.ip')}: {session.ip ?? t('sessions.unknownIp')}
                  </div>
                  <div className="muted small">
                    {t('sessions.created', { at: formatDateTime(session.created_at) })} · {t('sessions.lastUsed', { at: formatDateTime(session.last_seen_at) })}
                  </div>
                </div>
                {session.current ? null : (
                  <Button variant="danger" busy={busy === session.id} onClick={() => void revoke(session)} aria-label={t('sessions.revokeNamed', { device: deviceOf(session) })}>
                    {t('sessions.revoke')}
                  </Button>
                )}
              </li>
            ))}
          </ul>
          {state.data.some((s) => !s.current) ? (
            <div className="actions">
              <Button variant="secondary" busy={busy === 'others'} onClick={() => void revokeOthers()}>
                {t('sessions.revokeOthers')}
              </Button>
            </div>
          ) : (
            <p className="muted">{t('sessions.onlyThis')}</p>
          )}
        </>
      ) : null}
    </section>
  );
}
