import { useCallback, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert, Loading } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { useErrorMessage } from '../../../lib/errors';
import { formatDateTime, formatRelative } from '../../../lib/format';
import { unread, useLive, useNewNotifications, type Notification } from './live';

const PAGE = 20;

/** Newest first (ids are time-ordered), each id once: `incoming` wins over what was there. */
function merge(incoming: Notification[], current: Notification[]): Notification[] {
  const byId = new Map(current.map((n) => [n.id, n]));
  for (const n of incoming) byId.set(n.id, n);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Only our own paths and web addresses are links (never javascript: or the like). */
const safeUrl = (url: string | null): string | null => (url && (/^\/(?!\/)/.test(url) || /^https?:\/\//i.test(url)) ? url : null);

/**
 * The in-app inbox: newest first, unread ones marked, "Mark as read" on each and "Mark all as read",
 * "Load more" for older pages, and new notifications arriving live from the shared stream (announced
 * politely). After a reconnection the first page is read again, so nothing sent meanwhile is missed.
 */
export function Inbox() {
  const { t } = useTranslation('notifications');
  const message = useErrorMessage('notifications');
  const live = useLive();
  const [items, setItems] = useState<Notification[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const list = useRef<HTMLUListElement>(null);
  const loaded = useRef(false);

  const loadFirst = useCallback(async () => {
    setLoadError(null);
    try {
      const page = await call(api.GET('/v1/me/notifications', { params: { query: { limit: PAGE } } }));
      if (!loaded.current) setCursor(page.next_cursor ?? null);
      loaded.current = true;
      setItems((current) => merge(page.data, current ?? []));
    } catch (cause) {
      if (!loaded.current) setLoadError(message(cause));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // First load, and again after each reconnection of the stream.
  useEffect(() => {
    void loadFirst();
  }, [loadFirst, live.generation]);

  useNewNotifications(
    useCallback(
      (notification: Notification) => {
        setItems((current) => (current ? merge([notification], current) : current));
        setAnnouncement(t('inbox.arrived', { title: notification.title }));
      },
      [t],
    ),
  );

  async function loadMore(): Promise<void> {
    if (!cursor) return;
    setBusy('more');
    setError(null);
    try {
      const page = await call(api.GET('/v1/me/notifications', { params: { query: { limit: PAGE, cursor } } }));
      setItems((current) => merge(page.data, current ?? []));
      setCursor(page.next_cursor ?? null);
    } catch (cause) {
      setError(message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function markRead(notification: Notification): Promise<void> {
    setBusy(notification.id);
    setError(null);
    try {
      const updated = await call(api.POST('/v1/me/notifications/{id}/read', { params: { path: { id: notification.id } } }));
      setItems((current) => merge([updated], current ?? []));
      if (!notification.read_at) unread.markedRead();
      // The button is gone: keep the keyboard where it was, on the notification itself.
      requestAnimationFrame(() => list.current?.querySelector<HTMLElement>(`[data-id="${notification.id}"]`)?.focus());
    } catch (cause) {
      setError(message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function markAllRead(): Promise<void> {
    setBusy('all');
    setError(null);
    try {
      await call(api.POST('/v1/me/notifications/read-all'));
      const now = new Date().toISOString();
      setItems((current) => (current ?? []).map((n) => (n.read_at ? n : { ...n, read_at: now })));
      unread.allRead();
      setAnnouncement(t('inbox.allRead'));
    } catch (cause) {
      setError(message(cause));
    } finally {
      setBusy(null);
    }
  }

  const unreadCount = live.unread ?? items?.filter((n) => !n.read_at).length ?? 0;
  return (
    <section className="section" aria-labelledby="inbox-heading">
      <div className="inbox__head">
        <h2 id="inbox-heading">{t('inbox.heading')}</h2>
        {items && items.length > 0 ? (
          <p className="muted">{unreadCount > 0 ? t('inbox.summary', { count: unreadCount }) : t('inbox.summaryNone')}</p>
        ) : null}
      </div>
      <div className="vh" role="status" aria-live="polite">
        {announcement}
      </div>
      {live.status === 'reconnecting' ? <p className="muted">{t('inbox.reconnecting')}</p> : null}
      {live.status === 'ended' ? <Alert tone="info">{t('inbox.ended')}</Alert> : null}
      {error ? <Alert>{error}</Alert> : null}
      {loadError ? (
        <Alert onRetry={() => void loadFirst()}>{loadError}</Alert>
      ) : items === null ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{t('inbox.empty')}</p>
      ) : (
        <>
          {unreadCount > 0 ? (
            <div className="actions">
              <Button variant="secondary" busy={busy === 'all'} onClick={() => void markAllRead()}>
                {t('inbox.markAllRead')}
              </Button>
            </div>
          ) : null}
          <ul className="list inbox" ref={list}>
            {items.map((n) => {
              const url = safeUrl(n.url);
              const titleId = `ntf-title-${n.id}`;
              return (
                <li key={n.id} className={n.read_at ? 'inbox__item' : 'inbox__item inbox__item--unread'}>
                  <div className="list__main" data-id={n.id} tabIndex={-1}>
                    <h3 id={titleId} className="inbox__title">
                      {n.title}
                    </h3>
                    <p className="inbox__body">{n.body}</p>
                    <p className="inbox__meta">
                      {n.read_at ? null : (
                        <span className="tag">
                          <span className="inbox__dot" aria-hidden="true" /> {t('inbox.unread')}
                        </span>
                      )}
                      <time dateTime={n.created_at} title={formatDateTime(n.created_at)}>
                        {t('inbox.received', { when: formatRelative(n.created_at) })}
                      </time>
                    </p>
                  </div>
                  <div className="actions">
                    {url ? (
                      <a href={url} aria-describedby={titleId}>
                        {t('inbox.open')}
                      </a>
                    ) : null}
                    {n.read_at ? null : (
                      <Button variant="secondary" busy={busy === n.id} aria-describedby={titleId} onClick={() => void markRead(n)}>
                        {t('inbox.markRead')}
                      </Button>
                    )}
                  </div>
                </li>
              );
            })}
          </ul>
          {cursor ? (
            <div className="actions">
              <Button variant="secondary" busy={busy === 'more'} onClick={() => void loadMore()}>
                {t('inbox.loadMore')}
              </Button>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
