import { useEffect, useSyncExternalStore } from 'react';
import { api, ApiError, call } from '../../../api/client';
import type { paths } from '../../../api/schema';

export type Notification = paths['/v1/me/notifications']['get']['responses'][200]['content']['application/json']['data'][number];

/*
 * The live side of notifications, shared by the unread badge (in the account center's nav) and the
 * inbox: ONE EventSource on GET /v1/me/notifications/stream for the whole page, opened while
 * anything uses it, and the unread count it keeps current.
 *
 * The stream authenticates with the session cookie (a GET: no CSRF) and ends when the access cookie
 * expires or the session ends. The browser reconnects by itself after a normal end (with
 * Last-Event-ID, so nothing is missed); when a reconnection is refused (401: the access cookie
 * expired) the EventSource is closed for good, and we reconnect ourselves, with backoff: first
 * GET /v1/me/notifications/unread-count through the API client, which refreshes the session
 * (POST /v1/auth/refresh with the refresh cookie, one refresh shared with every other call of the
 * page) and gives the count afresh; a new EventSource then sends the new cookie. Notifications that
 * arrived in between are picked up by the inbox's resync (`generation`). A session that is over
 * (the refresh refused) stops the reconnecting.
 */

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended';

export interface LiveState {
  /** Unread notifications; null until first known. */
  unread: number | null;
  status: StreamStatus;
  /** Goes up on each (re)connection after the first: the inbox then reloads its first page. */
  generation: number;
}

type Listener = (notification: Notification) => void;

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

let state: LiveState = { unread: null, status: 'connecting', generation: 0 };
const watchers = new Set<() => void>();
const listeners = new Set<Listener>();
let users = 0;
let source: EventSource | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let closeTimer: ReturnType<typeof setTimeout> | null = null;
let attempt = 0;
let opened = 0;
/** Ids already counted (replays after a reconnection must not count twice). */
const seen = new Set<string>();

function set(patch: Partial<LiveState>): void {
  state = { ...state, ...patch };
  for (const watcher of watchers) watcher();
}

async function loadCount(): Promise<void> {
  const { count } = await call(api.GET('/v1/me/notifications/unread-count'));
  set({ unread: count });
}

function connect(): void {
  if (source || users === 0) return;
  const stream = new EventSource('/v1/me/notifications/stream', { withCredentials: true });
  source = stream;
  stream.addEventListener('open', () => {
    attempt = 0;
    opened += 1;
    // After the first connection, what arrived while disconnected is read again.
    set({ status: 'live', ...(opened > 1 ? { generation: state.generation + 1 } : {}) });
    if (opened > 1) void loadCount().catch(() => undefined);
  });
  stream.addEventListener('notification', (event) => {
    let notification: Notification;
    try {
      notification = JSON.parse((event as MessageEvent<string>).data) as Notification;
    } catch {
      return;
    }
    if (seen.has(notification.id)) return;
    seen.add(notification.id);
    if (!notification.read_at && state.unread !== null) set({ unread: state.unread + 1 });
    for (const listener of listeners) listener(notification);
  });
  stream.addEventListener('error', () => {
    // CONNECTING: the browser is reconnecting by itself (the stream ended normally). CLOSED: refused.
    if (stream.readyState === EventSource.CLOSED) {
      stream.close();
      if (source === stream) source = null;
      set({ status: 'reconnecting' });
      schedule();
    } else {
      set({ status: 'reconnecting' });
    }
  });
}

function schedule(): void {
  if (timer || users === 0) return;
  const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
  attempt += 1;
  timer = setTimeout(() => {
    timer = null;
    if (users === 0) return;
    // Refreshes the access cookie when it expired (the client does it once for the whole page).
    loadCount().then(
      () => connect(),
      (error: unknown) => {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          set({ status: 'ended' });
          return;
        }
        schedule();
      },
    );
  }, delay);
}

function start(): void {
  users += 1;
  if (closeTimer) {
    clearTimeout(closeTimer);
    closeTimer = null;
  }
  if (users > 1) return;
  if (state.status === 'ended') set({ status: 'connecting' });
  if (state.unread === null) void loadCount().catch(() => undefined);
  connect();
}

function stop(): void {
  users -= 1;
  if (users > 0) return;
  // A moment's grace: moving between sections must not drop and reopen the stream.
  closeTimer = setTimeout(() => {
    closeTimer = null;
    if (users > 0) return;
    source?.close();
    source = null;
    if (timer) clearTimeout(timer);
    timer = null;
    opened = 0;
    attempt = 0;
    state = { unread: null, status: 'connecting', generation: 0 };
  }, 2000);
}

/** The live state; keeps the stream open while the calling component is mounted. */
export function useLive(): LiveState {
  useEffect(() => {
    start();
    return stop;
  }, []);
  return useSyncExternalStore(
    (watcher) => {
      watchers.add(watcher);
      return () => watchers.delete(watcher);
    },
    () => state,
  );
}

/** Calls `listener` with each new notification the stream brings while mounted. */
export function useNewNotifications(listener: Listener): void {
  useEffect(() => {
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, [listener]);
}

/** The page changed what is read: keep the badge in step. */
export const unread = {
  markedRead(count = 1): void {
    if (state.unread !== null) set({ unread: Math.max(0, state.unread - count) });
  },
  allRead(): void {
    set({ unread: 0 });
  },
  reload(): Promise<void> {
    return loadCount();
  },
};
