import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { isId } from '../../platform/crypto/ids.js';
import { notificationBody, STREAM_REPLAY_LIMIT, type NotificationBody, type NotificationsService } from './notifications.service.js';
import { createSessionWatch, SESSION_CHECK_MS } from './notifications.stream.js';

const NotificationId = Type.String({ pattern: '^ntf_[0-9a-z]{26}$' });
const NotificationParams = Type.Object({ id: NotificationId });
export const Notification = Type.Object({
  id: NotificationId,
  category: Type.String({ description: 'security, account, organization, product or marketing' }),
  title: Type.String(),
  body: Type.String(),
  url: Nullable(Type.String()),
  read_at: Nullable(Timestamp),
  created_at: Timestamp,
});

/** How often an idle stream sends a comment, so proxies and load balancers do not time it out. */
export const STREAM_HEARTBEAT_MS = 25_000;
/** A client that reads slower than this much unsent data piles up is dropped (it reconnects with Last-Event-ID). */
const STREAM_MAX_BUFFERED_BYTES = 1 << 20;
/** Longest a timer may wait in Node. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One Server-Sent Events frame (the JSON is one line, so one `data:` field). */
function eventFrame(notification: NotificationBody): string {
  return `id: ${notification.id}\nevent: notification\ndata: ${JSON.stringify(notification)}\n\n`;
}

/**
 * The signed-in user's in-app notifications, and their live stream.
 *
 * The stream authenticates like every `/v1/me` route: `Authorization: Bearer`, or the HttpOnly session
 * cookie, which a browser's `EventSource` sends by itself (`withCredentials: true` across origins
 * allowed by CORS_ORIGINS); a GET needs no CSRF token. No token is accepted in the URL, where it would
 * end up in access logs, proxies and browser history. The stream ends when the access token expires
 * and, within a second, when its session ends (sign-out, revoked, refresh-token theft; on any
 * instance): nothing is written to it once its session is known to be over (notifications.stream.ts).
 * EventSource reconnects with Last-Event-ID and a fresh cookie.
 */
export function notificationRoutes(
  server: HttpServer,
  deps: {
    notifications: NotificationsService;
    guards: Guards;
    /** Whether a session has ended: asked for every open stream's session each `sessionCheckMs`, and before each write. */
    isSessionRevoked(sessionId: string): Promise<boolean>;
    heartbeatMs?: number;
    sessionCheckMs?: number;
  },
): void {
  const { notifications, guards } = deps;
  const heartbeatMs = deps.heartbeatMs ?? STREAM_HEARTBEAT_MS;
  const sessions = createSessionWatch({
    isSessionRevoked: deps.isSessionRevoked,
    intervalMs: deps.sessionCheckMs ?? SESSION_CHECK_MS,
    onError: (error) => server.log.warn({ err: error }, 'notification stream: the session could not be checked; stream closed'),
  });
  const secured = { preValidation: guards.authenticate };
  const security = [{ bearer: [] }];
  const tags = ['notifications'];

  // Open streams, ended when the server closes: a stream never ends by itself, so server.close() would wait forever.
  const open = new Set<() => void>();
  server.addHook('preClose', async () => {
    for (const end of [...open]) end();
    sessions.close();
  });

  server.get(
    '/v1/me/notifications',
    {
      ...secured,
      schema: {
        tags,
        summary: 'My in-app notifications, newest first',
        security,
        querystring: Type.Object(
          {
            ...pageQuery({ max: 100, defaultLimit: 20, cursor: NotificationId }),
            unread: Type.Optional(Type.Boolean({ description: 'true: only the unread ones' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Notification), ...problems(400, 401) },
      },
    },
    async (request) => {
      const { limit, cursor, unread } = request.query;
      const filter = { ...(typeof cursor === 'string' ? { before: cursor } : {}), ...(unread ? { unread } : {}) };
      return paginate(limit, (take) => notifications.list(request.auth!.userId, { ...filter, limit: take }), (row) => row.id, notificationBody);
    },
  );

  server.get(
    '/v1/me/notifications/unread-count',
    { ...secured, schema: { tags, summary: 'How many of my notifications are unread', security, response: { 200: Type.Object({ count: Type.Integer() }), ...problems(401) } } },
    async (request) => ({ count: await notifications.unreadCount(request.auth!.userId) }),
  );

  server.post(
    '/v1/me/notifications/read-all',
    { ...secured, schema: { tags, summary: 'Mark all my notifications read', security, response: { 200: Type.Object({ updated: Type.Integer() }), ...problems(401, 403) } } },
    async (request) => ({ updated: await notifications.markAllRead(request.auth!.userId) }),
  );

  server.post(
    '/v1/me/notifications/:id/read',
    {
      ...secured,
      schema: { tags, summary: 'Mark one notification read (idempotent: the first read time stays)', security, params: NotificationParams, response: { 200: Notification, ...problems(400, 401, 403, 404) } },
    },
    async (request) => notificationBody(await notifications.markRead(request.auth!.userId, request.params.id)),
  );

  server.delete(
    '/v1/me/notifications/:id',
    {
      ...secured,
      schema: { tags, summary: 'Delete one notification', security, params: NotificationParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      await notifications.remove(request.auth!.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  server.get(
    '/v1/me/notifications/stream',
    {
      ...secured,
      // A HEAD would open a stream nobody reads.
      exposeHeadRoute: false,
      schema: {
        tags,
        summary: 'Server-Sent Events: each new notification as `event: notification` with its id; a `: ping` comment every 25 s',
        description:
          `With a Last-Event-ID header (EventSource sends it when it reconnects), the newest ${STREAM_REPLAY_LIMIT} notifications created after that id come first. ` +
          'Browsers authenticate with the session cookie (EventSource with credentials), other clients with Authorization: Bearer; never a token in the URL. ' +
          'The stream ends when the access token expires or the session ends.',
        security,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 200 })) }),
        response: {
          // The body is a stream (never serialised): typed as one, documented as the text it carries.
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.Unsafe<PassThrough>({ type: 'string' }) } } },
          ...problems(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const auth = request.auth!;
      const sessionId = auth.sessionId ?? null;
      const lastEventId = request.headers['last-event-id'];
      // An id we did not issue (another server's, a stale polyfill's) replays nothing rather than failing the reconnect.
      const after = typeof lastEventId === 'string' && isId(lastEventId.trim(), 'ntf') ? lastEventId.trim() : null;
      const stream = new PassThrough();
      let ended = false;
      let unsubscribe: (() => Promise<void>) | null = null;
      let unwatch: (() => void) | null = null;
      const timers: NodeJS.Timeout[] = [];

      const cleanUp = (): void => {
        ended = true;
        open.delete(end);
        unwatch?.();
        for (const timer of timers) clearInterval(timer);
        const stop = unsubscribe;
        unsubscribe = null;
        stop?.().catch((error: unknown) => request.log.warn({ err: error }, 'notification stream: unsubscribe failed'));
      };
      function end(): void {
        if (ended) return;
        cleanUp();
        stream.end();
      }
      const write = (chunk: string): void => {
        if (ended) return;
        if (stream.writableLength > STREAM_MAX_BUFFERED_BYTES) {
          request.log.info('notification stream: the client does not read; closing it');
          end();
          return;
        }
        stream.write(chunk);
      };
      // Notifications wait in order while the session is checked: none is written once it has ended.
      const queued: string[] = [];
      let flushing = false;
      const flush = async (): Promise<void> => {
        if (flushing) return;
        flushing = true;
        try {
          while (queued.length > 0 && !ended) {
            if (sessionId && (await sessions.ended(sessionId))) {
              end();
              return;
            }
            for (const frame of queued.splice(0)) write(frame);
          }
        } finally {
          flushing = false;
        }
      };
      const deliver = (notification: NotificationBody): void => {
        if (ended) return;
        queued.push(eventFrame(notification));
        void flush();
      };

      // Subscribed (and replayed) before the first byte goes out: once the client sees the stream, nothing is missed.
      stream.write(`retry: 3000\n\n`);
      try {
        unsubscribe = await notifications.follow(auth.userId, { after, deliver });
      } catch (error) {
        stream.destroy();
        throw error;
      }
      open.add(end);
      if (sessionId) unwatch = sessions.watch(sessionId, end);
      // The client went away (or the response finished): stop following. Fastify also destroys the stream then.
      reply.raw.once('close', () => cleanUp());
      stream.once('close', () => cleanUp());
      if (reply.raw.destroyed || request.raw.socket.destroyed) cleanUp();

      const heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
      heartbeat.unref();
      timers.push(heartbeat);
      if (typeof auth.claims.exp === 'number') {
        const expiry = setTimeout(end, Math.min(MAX_TIMER_MS, Math.max(0, auth.claims.exp * 1000 - Date.now())));
        expiry.unref();
        timers.push(expiry);
      }

      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no');
      return reply.send(stream);
    },
  );
}
