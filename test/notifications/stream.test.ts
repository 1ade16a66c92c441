import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/app/app.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase, type Database } from '../../src/platform/db/database.js';
import { COOKIES } from '../../src/platform/http/auth.js';
import { notificationChannel, type NotificationBody as NotificationJson } from '../../src/modules/notifications/index.js';
import { createTestApp, logCollector, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { engines } from '../helpers/db.js';
import { bearer } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { openStream, readBody, type SseStream } from './sse-client.js';

/*
 * GET /v1/me/notifications/stream, over real HTTP: Server-Sent Events of new notifications, the
 * same JSON the list returns; Last-Event-ID replay; heartbeats; authentication by bearer or session
 * cookie (never a token in the URL); the stream ends with its session (within seconds of a sign-out,
 * a revocation or a refresh-token theft, with nothing delivered after it) and when the server
 * closes. On PostgreSQL + Redis: two instances, a notification created through one reaches a stream
 * opened on the other, a sign-out on one ends a stream on the other, and a client that goes away
 * leaves no subscription behind.
 */

const STREAM = '/v1/me/notifications/stream';


async function listen(app: App): Promise<string> {
  await app.server.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
}

const note = (app: App, userId: string, title: string, url: string | null = null) =>
  app.context.notifications.store({ userId, category: 'account', template: null, title, body: `body of ${title}`, url });

async function listed(app: App, token: string, id: string): Promise<NotificationJson> {
  const res = await app.server.inject({ method: 'GET', url: '/v1/me/notifications?limit=100', headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  const found = res.json<{ data: NotificationJson[] }>().data.find((n) => n.id === id);
  expect(found, `${id} in the list`).toBeDefined();
  return found!;
}

describe('notification stream on PGlite (one instance, in-process cache)', () => {
  let app: TestApp;
  let base: string;
  const api = testClient(() => app);
  const streams: SseStream[] = [];
  const open = async (headers: Record<string, string>): Promise<SseStream> => {
    const stream = await openStream(`${base}${STREAM}`, headers);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    app = await createTestApp({ build: { notificationHeartbeatMs: 300 } });
    base = await listen(app);
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await app?.destroy();
  });

  it('answers text/event-stream with no caching or proxy buffering, then each new notification as an event with the list JSON', async () => {
    const alice = await api.signedIn('alice');
    const stream = await open(bearer(alice.token));
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toContain('no-cache');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['x-request-id']).toEqual(expect.any(String));
    expect(stream.retry).toBe(3000);
    expect(stream.events).toEqual([]);

    const created = await note(app, alice.user.id, 'Order shipped', 'https://shop.example.test/orders/7');
    const event = await stream.event(0);
    expect(event).toEqual({ id: created.id, event: 'notification', data: expect.any(String) });
    const data = JSON.parse(event.data) as NotificationJson;
    expect(data).toEqual(await listed(app, alice.token, created.id));
    expect(data).toEqual({
      id: created.id, category: 'account', title: 'Order shipped', body: 'body of Order shipped', url: 'https://shop.example.test/orders/7', read_at: null, created_at: created.createdAt.toISOString(),
    });
  });

  it("carries only the user's own notifications", async () => {
    const alice = await api.signedIn('own-a');
    const bob = await api.signedIn('own-b');
    const stream = await open(bearer(alice.token));
    await note(app, bob.user.id, 'for bob');
    const mine = await note(app, alice.user.id, 'for alice');
    expect((await stream.event(0)).id).toBe(mine.id);
    expect(stream.events.map((e) => JSON.parse(e.data) as NotificationJson).map((n) => n.title)).toEqual(['for alice']);
  });

  it('delivers what the messenger stores on the in_app channel (the real path: job, template, store, publish)', async () => {
    const user = await api.signedIn('messenger');
    const stream = await open(bearer(user.token));
    await app.context.messenger.notify({ channel: 'in_app', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
    const event = await stream.event(0, 15_000);
    const data = JSON.parse(event.data) as NotificationJson;
    expect(data.title).toMatch(/password was changed/i);
    expect(data).toEqual(await listed(app, user.token, event.id!));
  });

  it('with Last-Event-ID, first replays the notifications created after it, oldest first, then goes live', async () => {
    const user = await api.signedIn('replay');
    const [n1, n2, n3] = [await note(app, user.user.id, 'n1'), await note(app, user.user.id, 'n2'), await note(app, user.user.id, 'n3')];
    await api.call('POST', `/v1/me/notifications/${n3.id}/read`, user.token);

    const stream = await open({ ...bearer(user.token), 'last-event-id': n1.id });
    await stream.event(1);
    expect(stream.events.map((e) => e.id)).toEqual([n2.id, n3.id]);
    // Replayed as they stand now: n3 was read since.
    expect((JSON.parse(stream.events[1]!.data) as NotificationJson).read_at).toEqual(expect.any(String));
    const n4 = await note(app, user.user.id, 'n4');
    expect((await stream.event(2)).id).toBe(n4.id);
    expect(stream.events).toHaveLength(3);

    // Without the header nothing is replayed; an id we never issued replays nothing and still streams.
    for (const headers of [{}, { 'last-event-id': 'garbage' }, { 'last-event-id': 'usr_00000000000000000000000000' }] as Record<string, string>[]) {
      const fresh = await open({ ...bearer(user.token), ...headers });
      const n = await note(app, user.user.id, 'live only');
      expect((await fresh.event(0)).id).toBe(n.id);
      expect(fresh.events).toHaveLength(1);
      fresh.close();
    }
  });

  it('replays at most the newest 100 missed notifications', async () => {
    const user = await api.signedIn('cap');
    const mark = await note(app, user.user.id, 'seen');
    const missed: string[] = [];
    for (let i = 0; i < 105; i++) missed.push((await note(app, user.user.id, `missed ${i}`)).id);
    const stream = await open({ ...bearer(user.token), 'last-event-id': mark.id });
    await stream.event(99);
    const live = await note(app, user.user.id, 'live');
    await stream.event(100);
    // Ids are time-ordered to the millisecond: "newest" is the id order.
    expect(stream.events.map((e) => e.id)).toEqual([...missed.sort().slice(5), live.id]);
  });

  it('sends a `: ping` comment while idle', async () => {
    const user = await api.signedIn('ping');
    const stream = await open(bearer(user.token));
    await stream.comment('ping');
    expect(stream.events).toEqual([]);
    expect(stream.isEnded()).toBe(false);
  });

  it('authenticates a browser by its session cookie (what EventSource sends), with no CSRF token for this GET', async () => {
    const user = await api.signedIn('cookie');
    const stream = await open({ cookie: `${COOKIES.access}=${user.token}` });
    expect(stream.status).toBe(200);
    const n = await note(app, user.user.id, 'by cookie');
    expect((await stream.event(0)).id).toBe(n.id);
  });

  it('refuses without credentials (401 problem), a bad token, and a token in the URL (not accepted there)', async () => {
    const user = await api.signedIn('refused');
    const none = await readBody(`${base}${STREAM}`);
    expect(none.status).toBe(401);
    expect(none.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(none.body)).toMatchObject({ code: 'unauthorized' });
    const bad = await readBody(`${base}${STREAM}`, { authorization: 'Bearer nope' });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'invalid_token' });
    const inUrl = await readBody(`${base}${STREAM}?access_token=${encodeURIComponent(user.token)}`);
    expect(inUrl.status).toBe(401);
    // HEAD would open a stream nobody reads: not routed.
    const head = await app.server.inject({ method: 'HEAD', url: STREAM, headers: bearer(user.token) });
    expect(head.statusCode).toBe(405);
  });

  it('ends the stream once its session is revoked', async () => {
    const user = await api.signedIn('revoked');
    const stream = await open(bearer(user.token));
    const sessionId = (await app.context.sessions.list(user.user.id))[0]!.id;
    await app.context.sessions.revoke(sessionId, 'revoked_by_user', { type: 'user', id: user.user.id }, { ip: null, userAgent: null });
    await stream.ended;
    expect(stream.isEnded()).toBe(true);
  });

  it('app.close() ends open streams instead of waiting for them forever', async () => {
    const other = await createTestApp();
    try {
      const otherBase = await listen(other);
      const user = await testClient(() => other).signedIn('closing');
      const [s1, s2] = await Promise.all([openStream(`${otherBase}${STREAM}`, bearer(user.token)), openStream(`${otherBase}${STREAM}`, bearer(user.token))]);
      await other.close();
      await Promise.all([s1.ended, s2.ended]);
      expect(s1.isEnded() && s2.isEnded()).toBe(true);
    } finally {
      await other.destroy();
    }
  });
});

/** A stream's end, well before the 25 s heartbeat (the session is checked every second and before each write). */
const ENDS_WITHIN_MS = 5_000;

describe('notification stream and the end of its session (default 25 s heartbeat)', () => {
  let app: TestApp;
  let base: string;
  const api = testClient(() => app);
  const streams: SseStream[] = [];
  const open = async (token: string): Promise<SseStream> => {
    const stream = await openStream(`${base}${STREAM}`, bearer(token));
    streams.push(stream);
    expect(stream.status).toBe(200);
    return stream;
  };
  const endsSoon = (stream: SseStream, what: string) => waitFor(() => stream.isEnded(), ENDS_WITHIN_MS, what);

  beforeAll(async () => {
    // REFRESH_REUSE_GRACE_SECONDS=0: a reused refresh token is theft at once (where the grace exists).
    app = await createTestApp({ env: { REFRESH_REUSE_GRACE_SECONDS: '0' } });
    base = await listen(app);
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await app?.destroy();
  });

  it('sign-out (POST /v1/auth/logout) ends the stream within seconds, not at the next heartbeat (regression: it stayed open and delivered until the next ping)', async () => {
    const user = await api.signedIn('logout');
    const stream = await open(user.token);
    const stays = await api.signedIn('stays');
    const other = await open(stays.token);
    const res = await api.call('POST', '/v1/auth/logout', user.token);
    expect(res.statusCode, res.body).toBe(204);
    await endsSoon(stream, 'the stream of the signed-out session to end');
    expect(stream.events).toEqual([]);
    // Another session's stream, checked by the same rounds, lives on and delivers.
    expect(other.isEnded()).toBe(false);
    const n = await note(app, stays.user.id, 'still here');
    expect((await other.event(0)).id).toBe(n.id);
  });

  it('a notification created right after the session was revoked is never delivered: the session is checked before each write', async () => {
    const user = await api.signedIn('revoked-then-note');
    const stream = await open(user.token);
    const sessionId = (await app.context.sessions.list(user.user.id))[0]!.id;
    await app.context.sessions.revoke(sessionId, 'revoked_by_user', { type: 'user', id: user.user.id }, { ip: null, userAgent: null });
    // Published at once, before the next check of open streams: the write itself must refuse it.
    await note(app, user.user.id, 'after the end');
    await endsSoon(stream, 'the stream of the revoked session to end');
    expect(stream.events).toEqual([]);
  });

  it('refresh-token theft (a rotated refresh token presented again) ends the session\'s stream', async () => {
    const tokens = await api.signedIn('theft');
    const stream = await open(tokens.token);
    const refresh = (token: string) => api.call('POST', '/v1/auth/refresh', null, { refresh_token: token });
    expect((await refresh(tokens.refreshToken)).statusCode).toBe(200);
    const reused = await refresh(tokens.refreshToken);
    expect(reused.statusCode, reused.body).toBe(401);
    await endsSoon(stream, 'the stream of the stolen session to end');
  });
});

const postgres = engines().includes('postgres');

describe.skipIf(!postgres)('notification stream across two instances on PostgreSQL + Redis', () => {
  let appA: TestApp;
  let appB: App;
  let dbB: Database;
  let baseB: string;
  let redis: Redis;
  let prefix: string;
  const streams: SseStream[] = [];
  const apiA = testClient(() => appA);

  beforeAll(async () => {
    const { redisUrl } = inject('services');
    prefix = `test:sse:${randomBytes(6).toString('hex')}:`;
    appA = await createTestApp({ engine: 'postgres', build: { cache: await createRedisCache(redisUrl!, { prefix }) } });
    await listen(appA);
    // Instance B: its own pool on the same database, its own Redis connections on the same prefix; no job workers.
    dbB = createPostgresDatabase({ url: appA.database.url!, max: 5 });
    appB = await buildApp(appA.config, { db: dbB, cache: await createRedisCache(redisUrl!, { prefix }), logDestination: logCollector().stream, workers: false });
    baseB = await listen(appB);
    redis = new Redis(redisUrl!);
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    redis?.disconnect();
    await appB?.close();
    await dbB?.close();
    await appA?.destroy();
  });

  const subscribers = async (userId: string): Promise<number> => {
    const [, count] = (await redis.pubsub('NUMSUB', `${prefix}${notificationChannel(userId)}`)) as [string, number];
    return Number(count);
  };

  it('a notification created through instance A reaches a stream opened on instance B', async () => {
    const user = await apiA.signedIn('two');
    const stream = await openStream(`${baseB}${STREAM}`, bearer(user.token));
    streams.push(stream);
    expect(stream.status).toBe(200);

    const direct = await note(appA, user.user.id, 'from A');
    const first = await stream.event(0);
    expect(first).toMatchObject({ id: direct.id, event: 'notification' });
    const data = JSON.parse(first.data) as NotificationJson;
    expect(data.title).toBe('from A');
    expect(data).toEqual(await listed(appB, user.token, direct.id));

    // Through the messenger: B runs no workers, so A's job stores and announces it.
    await appA.context.messenger.notify({ channel: 'in_app', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
    const second = await stream.event(1, 15_000);
    expect((JSON.parse(second.data) as NotificationJson).title).toMatch(/password was changed/i);
    expect(second.id).not.toBe(direct.id);
  });

  it('a stream reopened on B with Last-Event-ID replays what A created meanwhile', async () => {
    const user = await apiA.signedIn('two-replay');
    const seen = await note(appA, user.user.id, 'seen');
    const missed = [await note(appA, user.user.id, 'missed 1'), await note(appA, user.user.id, 'missed 2')];
    const stream = await openStream(`${baseB}${STREAM}`, { ...bearer(user.token), 'last-event-id': seen.id });
    streams.push(stream);
    await stream.event(1);
    expect(stream.events.map((e) => e.id)).toEqual(missed.map((n) => n.id));
    const live = await note(appA, user.user.id, 'live');
    expect((await stream.event(2)).id).toBe(live.id);
  });

  it('a sign-out through instance A ends a stream open on instance B within seconds (the revocation is shared through Redis)', async () => {
    const user = await apiA.signedIn('two-logout');
    const stream = await openStream(`${baseB}${STREAM}`, bearer(user.token));
    streams.push(stream);
    expect(stream.status).toBe(200);
    const res = await apiA.call('POST', '/v1/auth/logout', user.token);
    expect(res.statusCode, res.body).toBe(204);
    await waitFor(() => stream.isEnded(), ENDS_WITHIN_MS, 'the stream on B to end');
    expect(stream.events).toEqual([]);
  });

  it('a client that goes away leaves no Redis subscription behind', async () => {
    const user = await apiA.signedIn('gone');
    const [s1, s2] = [await openStream(`${baseB}${STREAM}`, bearer(user.token)), await openStream(`${baseB}${STREAM}`, bearer(user.token))];
    expect(await subscribers(user.user.id)).toBe(1);
    s1.close();
    // The other tab still listens.
    const n = await note(appA, user.user.id, 'still there');
    expect((await s2.event(0)).id).toBe(n.id);
    expect(await subscribers(user.user.id)).toBe(1);
    s2.close();
    await waitFor(async () => (await subscribers(user.user.id)) === 0, 10_000, 'the channel to be unsubscribed');
  });
});
