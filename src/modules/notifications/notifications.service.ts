import { ECDH } from 'node:crypto';
import { isIP } from 'node:net';
import { isLoopbackAddress, unsafeUrlReason, type OutboundPolicy, type Resolver } from '../../platform/delivery/index.js';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import { isId, newId } from '../../platform/crypto/ids.js';
import { isUniqueViolation } from '../../platform/db/errors.js';
import type { MessageCategory } from '../../platform/mail/index.js';
import { notificationErrors } from './notifications.errors.js';
import {
  countUnread, deleteNotification, deletePushSubscription, evictPushSubscriptions, insertNotification, insertPushSubscription, listNotifications,
  listPushSubscriptions, lockPushSubscriptionByEndpoint, markAllRead, markRead, notificationsAfter, updatePushSubscriptionKeys,
  type NotificationRow, type PushSubscriptionRow,
} from './notifications.queries.js';

export type { NotificationRow, PushSubscriptionRow } from './notifications.queries.js';

/** The cache channel that carries a user's new in-app notifications to every instance's open streams. */
export const notificationChannel = (userId: string): string => `notifications:${userId}`;

/** A stream that reconnects with Last-Event-ID gets at most this many missed notifications (the newest); older ones are in the list. */
export const STREAM_REPLAY_LIMIT = 100;
/** Push subscriptions kept per user; registering one more evicts the oldest. */
export const MAX_PUSH_SUBSCRIPTIONS = 20;

/**
 * A notification on the wire: the same JSON in `GET /v1/me/notifications`, in the cache announcement
 * and in the `data:` of a stream event.
 */
export interface NotificationBody {
  id: string;
  category: string;
  title: string;
  body: string;
  url: string | null;
  read_at: string | null;
  created_at: string;
}

export function notificationBody(row: NotificationRow): NotificationBody {
  return {
    id: row.id, category: row.category, title: row.title, body: row.body, url: row.url,
    read_at: row.readAt ? row.readAt.toISOString() : null, created_at: row.createdAt.toISOString(),
  };
}

/** An announcement read back from the cache; null for anything that is not one (never thrown at a stream). */
function parseAnnouncement(message: string): NotificationBody | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const body = value as Record<string, unknown>;
  if (typeof body.id !== 'string' || !isId(body.id, 'ntf')) return null;
  if (typeof body.title !== 'string' || typeof body.body !== 'string' || typeof body.category !== 'string' || typeof body.created_at !== 'string') return null;
  return {
    id: body.id, category: body.category, title: body.title, body: body.body,
    url: typeof body.url === 'string' ? body.url : null, read_at: typeof body.read_at === 'string' ? body.read_at : null, created_at: body.created_at,
  };
}

export interface NewNotification {
  userId: string;
  category: MessageCategory;
  template: string | null;
  title: string;
  body: string;
  url: string | null;
}

/**
 * Stores an in-app notification and announces it on the user's channel. The row is the truth: a lost
 * announcement (cache down) costs only liveness, since a reconnecting stream replays from the table.
 */
export async function storeNotification(
  deps: { db: Database; cache: Cache; onPublishError?: (error: unknown) => void },
  input: NewNotification,
): Promise<NotificationRow> {
  const row = await insertNotification(deps.db, {
    id: newId('ntf'), userId: input.userId, category: input.category, template: input.template, title: input.title, body: input.body, url: input.url,
  });
  try {
    await deps.cache.publish(notificationChannel(input.userId), JSON.stringify(notificationBody(row)));
  } catch (error) {
    deps.onPublishError?.(error);
  }
  return row;
}

export interface NotificationsService {
  /** Newest first; `before` is the previous page's last id. */
  list(userId: string, filter: { limit: number; before?: string; unread?: boolean }): Promise<NotificationRow[]>;
  unreadCount(userId: string): Promise<number>;
  /** Idempotent: the first read time stays. 404 for an id that is not the user's. */
  markRead(userId: string, id: string): Promise<NotificationRow>;
  /** How many were unread. */
  markAllRead(userId: string): Promise<number>;
  remove(userId: string, id: string): Promise<void>;
  store(input: NewNotification): Promise<NotificationRow>;
  /**
   * Follows the user's new notifications: subscribes first, then (with `after`, a Last-Event-ID)
   * replays the newest missed ones from the table, then delivers live ones, each id once. Resolves
   * when the subscription is live; the returned function unsubscribes.
   */
  follow(userId: string, options: { after: string | null; deliver: (notification: NotificationBody) => void }): Promise<() => Promise<void>>;
}

export function createNotificationsService(deps: { db: Database; cache: Cache; onPublishError?: (error: unknown) => void }): NotificationsService {
  const { db, cache } = deps;
  return {
    list: (userId, filter) => listNotifications(db, userId, filter),
    unreadCount: (userId) => countUnread(db, userId),
    async markRead(userId, id) {
      const row = await markRead(db, userId, id);
      if (!row) throw notificationErrors.notification_not_found();
      return row;
    },
    markAllRead: (userId) => markAllRead(db, userId),
    async remove(userId, id) {
      if (!(await deleteNotification(db, userId, id))) throw notificationErrors.notification_not_found();
    },
    store: (input) => storeNotification(deps, input),
    async follow(userId, { after, deliver }) {
      let replaying = true;
      const held: NotificationBody[] = [];
      const unsubscribe = await cache.subscribe(notificationChannel(userId), (message) => {
        const notification = parseAnnouncement(message);
        if (!notification) return;
        if (replaying) held.push(notification);
        else deliver(notification);
      });
      const replayed = new Set<string>();
      try {
        if (after) {
          for (const row of await notificationsAfter(db, userId, after, STREAM_REPLAY_LIMIT)) {
            replayed.add(row.id);
            deliver(notificationBody(row));
          }
        }
      } catch (error) {
        await unsubscribe();
        throw error;
      }
      // Announced while the table was read: delivered now, unless the replay already carried them.
      replaying = false;
      for (const notification of held) if (!replayed.has(notification.id)) deliver(notification);
      return unsubscribe;
    },
  };
}

// Web Push subscriptions.

export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface PushSubscriptionsService {
  /**
   * Registers a browser's subscription for the user. The same endpoint again refreshes its keys
   * (`created: false`); an endpoint another user registered moves to this user as a new subscription
   * (the browser profile changed hands). Beyond MAX_PUSH_SUBSCRIPTIONS the oldest are evicted.
   */
  register(userId: string, input: PushSubscriptionInput, client: { userAgent: string | null }): Promise<{ subscription: PushSubscriptionRow; created: boolean }>;
  /** Newest first. */
  list(userId: string): Promise<PushSubscriptionRow[]>;
  remove(userId: string, id: string): Promise<void>;
}

/** base64url (padding tolerated) to bytes; null when it is not base64url. */
function base64url(value: string): Buffer | null {
  const unpadded = value.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(unpadded)) return null;
  return Buffer.from(unpadded, 'base64url');
}

/** Where push services may be, for save-time checks and for delivery (the same guard as webhook endpoints). */
export function pushDestinations(allowLoopback: boolean): OutboundPolicy {
  return { allowPrivateNetworks: false, requireHttps: !allowLoopback, allowLoopback };
}

/**
 * Checks a subscription as a browser's PushManager makes it: an https endpoint at a push service's
 * public host name (the server POSTs to it, so an IP address, a local name, or a name that resolves
 * to a private, loopback, link-local or reserved address would make Tessera a request forger into
 * its own network: the webhooks' outbound guard, which delivery applies again on every connection);
 * p256dh an uncompressed point on P-256 (65 bytes), auth 16 bytes. Returns the keys unpadded.
 * `allowLoopback` (development and tests, never production): a push service on loopback, plain http
 * or https. A name that does not resolve now is accepted: nothing is sent to it before delivery
 * resolves and checks it again.
 */
export async function checkPushSubscription(input: PushSubscriptionInput, options: { allowLoopback: boolean; resolve?: Resolver }): Promise<PushSubscriptionInput> {
  const errors: { path: string; message: string }[] = [];
  let url: URL | null = null;
  try {
    url = new URL(input.endpoint);
  } catch {
    errors.push({ path: '/endpoint', message: 'must be an absolute URL' });
  }
  if (url) {
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.+$/, '');
    const loopback = options.allowLoopback && (isLoopbackAddress(host) || host === 'localhost');
    if (url.username || url.password) errors.push({ path: '/endpoint', message: 'must not carry credentials' });
    else if (loopback && (url.protocol === 'http:' || url.protocol === 'https:')) {
      // development and tests: a local push service
    } else if (url.protocol !== 'https:') errors.push({ path: '/endpoint', message: 'must be an https URL' });
    else if (isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost') || !host.includes('.')) {
      errors.push({ path: '/endpoint', message: "must be a push service's public host name" });
    } else {
      const reason = await unsafeUrlReason(url.href, pushDestinations(options.allowLoopback), { unresolvable: 'accept', ...(options.resolve ? { resolve: options.resolve } : {}) });
      if (reason) errors.push({ path: '/endpoint', message: reason });
    }
  }
  const p256dh = base64url(input.keys.p256dh);
  if (!p256dh || p256dh.length !== 65 || p256dh[0] !== 0x04) {
    errors.push({ path: '/keys/p256dh', message: 'must be the base64url of an uncompressed P-256 public key (65 bytes)' });
  } else {
    try {
      ECDH.convertKey(p256dh, 'prime256v1');
    } catch {
      errors.push({ path: '/keys/p256dh', message: 'is not a point on the P-256 curve' });
    }
  }
  const auth = base64url(input.keys.auth);
  if (!auth || auth.length !== 16) errors.push({ path: '/keys/auth', message: 'must be the base64url of 16 bytes' });
  if (errors.length > 0) {
    throw notificationErrors.invalid_push_subscription(errors.map((error) => `${error.path.slice(1)} ${error.message}`).join('; '), { errors });
  }
  return { endpoint: input.endpoint, keys: { p256dh: p256dh!.toString('base64url'), auth: auth!.toString('base64url') } };
}

export function createPushSubscriptionsService(deps: {
  db: Database;
  /** Development and tests only: a push service on loopback (plain http allowed). Never in production. */
  allowLoopbackEndpoints: boolean;
  /** How endpoint host names are resolved at save time (tests pass their own). */
  resolve?: Resolver;
}): PushSubscriptionsService {
  const { db } = deps;
  return {
    async register(userId, input, client) {
      const checked = await checkPushSubscription(input, { allowLoopback: deps.allowLoopbackEndpoints, ...(deps.resolve ? { resolve: deps.resolve } : {}) });
      const keys = { p256dh: checked.keys.p256dh, auth: checked.keys.auth, userAgent: client.userAgent };
      const attempt = () =>
        db.transaction(async (tx) => {
          const existing = await lockPushSubscriptionByEndpoint(tx, checked.endpoint);
          if (existing && existing.userId === userId) return { subscription: await updatePushSubscriptionKeys(tx, existing.id, keys), created: false };
          if (existing) await deletePushSubscription(tx, existing.id);
          const subscription = await insertPushSubscription(tx, { id: newId('psh'), userId, endpoint: checked.endpoint, ...keys });
          await evictPushSubscriptions(tx, userId, MAX_PUSH_SUBSCRIPTIONS);
          return { subscription, created: true };
        });
      try {
        return await attempt();
      } catch (error) {
        // The same new endpoint registered twice at once: the loser finds the winner's row the second time.
        if (!isUniqueViolation(error, 'push_subscriptions_endpoint_key')) throw error;
        return attempt();
      }
    },
    list: (userId) => listPushSubscriptions(db, userId),
    async remove(userId, id) {
      if (!(await deletePushSubscription(db, id, userId))) throw notificationErrors.push_subscription_not_found();
    },
  };
}
