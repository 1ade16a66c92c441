import { createECDH, randomBytes } from 'node:crypto';
import { globalAgent } from 'node:https';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPushSubscription, MAX_PUSH_SUBSCRIPTIONS } from '../../src/modules/notifications/index.js';
import type { Resolver } from '../../src/platform/delivery/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type Page, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { startFakePushService, verifyVapid, type FakePushService } from '../helpers/providers.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Web Push subscriptions (`/v1/me/push-subscriptions`, `/v1/push/vapid-public-key`): registering a
 * browser's PushSubscription (validated: https endpoint, P-256 p256dh, 16-byte auth), the same
 * endpoint again, an endpoint changing hands, the per-user cap, listing, deleting, another user's id;
 * and delivery through the real path to a local HTTPS push service: aes128gcm, VAPID, and a 410
 * that removes the subscription.
 */

const VAPID = webpush.generateVAPIDKeys();
const SUBJECT = 'mailto:push-ops@example.test';

interface SubscriptionJson {
  id: string;
  endpoint: string;
  user_agent: string | null;
  created_at: string;
  last_used_at: string | null;
}

/** Keys as a browser makes them: an uncompressed P-256 point and 16 random bytes, base64url. */
function browserKeys(): { p256dh: string; auth: string } {
  return { p256dh: createECDH('prime256v1').generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}
const endpointAt = (host = 'fcm.googleapis.com') => `https://${host}/fcm/send/${randomBytes(16).toString('hex')}`;
const browserSubscription = (endpoint = endpointAt()) => ({ endpoint, expirationTime: null, keys: browserKeys() });

describe.each(engineCases())('push subscriptions on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let alice: Signed;
    let bob: Signed;
    let service: FakePushService;
    let previousCa: unknown;
    const api = testClient(() => app);

    const post = (token: string | null, payload: unknown, userAgent?: string) => api.call('POST', '/v1/me/push-subscriptions', token, payload, { userAgent });
    const list = async (token: string): Promise<SubscriptionJson[]> => {
      const res = await api.call('GET', '/v1/me/push-subscriptions', token);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<Page<SubscriptionJson>>();
      expect(body.next_cursor).toBeNull();
      return body.data;
    };
    const remove = (token: string | null, id: string) => api.call('DELETE', `/v1/me/push-subscriptions/${id}`, token);
    const rows = (where: string, params: unknown[]) =>
      api.query<{ id: string; user_id: string; endpoint: string; p256dh: string; auth: string; user_agent: string | null }>(`SELECT id, user_id, endpoint, p256dh, auth, user_agent FROM push_subscriptions WHERE ${where} ORDER BY id`, params);

    beforeAll(async () => {
      service = await startFakePushService();
      // The push service's certificate is self-signed: the app's web-push requests (on the global agent) trust it here.
      previousCa = globalAgent.options.ca;
      globalAgent.options.ca = service.agent.options.ca;
      app = await createEngineApp(engine, { VAPID_PUBLIC_KEY: VAPID.publicKey, VAPID_PRIVATE_KEY: VAPID.privateKey, VAPID_SUBJECT: SUBJECT });
      alice = await api.signedIn('alice');
      bob = await api.signedIn('bob');
    });
    afterAll(async () => {
      globalAgent.options.ca = previousCa as typeof globalAgent.options.ca;
      await app?.destroy();
      await service?.close();
    });

    it('GET /v1/push/vapid-public-key gives the configured application server key, to anyone', async () => {
      const res = await api.call('GET', '/v1/push/vapid-public-key', null);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ public_key: VAPID.publicKey });
      expect(res.body).not.toContain(VAPID.privateKey);
    });

    it('registers a browser subscription (201), lists it without its keys, and keeps the keys unpadded', async () => {
      const user = await api.signedIn('register');
      const subscription = browserSubscription();
      const padded = { ...subscription, keys: { p256dh: subscription.keys.p256dh + '=', auth: subscription.keys.auth + '==' } };
      const res = await post(user.token, padded, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0');
      expect(res.statusCode, res.body).toBe(201);
      const created = res.json<SubscriptionJson>();
      expect(created).toEqual({ id: expect.stringMatching(/^psh_[0-9a-z]{26}$/), endpoint: subscription.endpoint, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', created_at: expect.any(String), last_used_at: null });
      expect(res.body).not.toContain(subscription.keys.auth);
      expect(await list(user.token)).toEqual([created]);
      expect(await rows('id = $1', [created.id])).toEqual([
        { id: created.id, user_id: user.user.id, endpoint: subscription.endpoint, p256dh: subscription.keys.p256dh, auth: subscription.keys.auth, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' },
      ]);
    });

    it('the same endpoint again refreshes my keys (200, same id); registered by another user it moves to them (201, new id)', async () => {
      const subscription = browserSubscription();
      const first = (await post(alice.token, subscription)).json<SubscriptionJson>();
      const fresh = browserKeys();
      const again = await post(alice.token, { ...subscription, keys: fresh });
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json<SubscriptionJson>().id).toBe(first.id);
      expect(await rows('endpoint = $1', [subscription.endpoint])).toMatchObject([{ id: first.id, user_id: alice.user.id, p256dh: fresh.p256dh, auth: fresh.auth }]);

      const moved = await post(bob.token, subscription);
      expect(moved.statusCode, moved.body).toBe(201);
      const movedBody = moved.json<SubscriptionJson>();
      expect(movedBody.id).not.toBe(first.id);
      expect(await rows('endpoint = $1', [subscription.endpoint])).toMatchObject([{ id: movedBody.id, user_id: bob.user.id, p256dh: subscription.keys.p256dh }]);
      expect((await list(alice.token)).map((s) => s.endpoint)).not.toContain(subscription.endpoint);
      expect((await list(bob.token)).map((s) => s.id)).toContain(movedBody.id);
      // Alice's old id is gone for her too.
      expectProblem(await remove(alice.token, first.id), 404, 'push_subscription_not_found');
    });

    it(`keeps at most ${MAX_PUSH_SUBSCRIPTIONS} per user: registering one more evicts the oldest`, async () => {
      const user = await api.signedIn('cap');
      const ids: string[] = [];
      for (let i = 0; i < MAX_PUSH_SUBSCRIPTIONS + 2; i++) {
        const res = await post(user.token, browserSubscription());
        expect(res.statusCode, res.body).toBe(201);
        ids.push(res.json<SubscriptionJson>().id);
      }
      const kept = (await list(user.token)).map((s) => s.id);
      expect(kept).toHaveLength(MAX_PUSH_SUBSCRIPTIONS);
      expect([...kept].sort()).toEqual([...ids].sort().slice(2));
      expect(await rows('user_id = $1', [user.user.id])).toHaveLength(MAX_PUSH_SUBSCRIPTIONS);
    });

    it('deletes mine (204, then 404); another user\'s id is a 404 and stays; a malformed id is a 400', async () => {
      const mine = (await post(alice.token, browserSubscription())).json<SubscriptionJson>();
      const bobs = (await post(bob.token, browserSubscription())).json<SubscriptionJson>();
      expectProblem(await remove(alice.token, bobs.id), 404, 'push_subscription_not_found');
      expect(await rows('id = $1', [bobs.id])).toHaveLength(1);
      const res = await remove(alice.token, mine.id);
      expect(res.statusCode, res.body).toBe(204);
      expect(await rows('id = $1', [mine.id])).toEqual([]);
      expectProblem(await remove(alice.token, mine.id), 404, 'push_subscription_not_found');
      for (const id of ['nope', 'psh_1', 'ntf_00000000000000000000000000']) expectProblem(await remove(alice.token, id), 400, 'validation_failed');
    });

    it('every route but the public key answers 401 without a token', async () => {
      expectProblem(await post(null, browserSubscription()), 401, 'unauthorized');
      expectProblem(await api.call('GET', '/v1/me/push-subscriptions', null), 401, 'unauthorized');
      expectProblem(await remove(null, 'psh_00000000000000000000000000'), 401, 'unauthorized');
    });

    it('refuses subscriptions a browser could not have made (400) and writes nothing', async () => {
      const user = await api.signedIn('invalid');
      const good = browserSubscription();
      const point = Buffer.from(good.keys.p256dh, 'base64url');
      const offCurve = Buffer.from(point);
      offCurve[64] = offCurve[64]! ^ 1;
      const compressed = Buffer.concat([Buffer.from([2 + (point[64]! & 1)]), point.subarray(1, 33)]);
      const cases: [string, unknown, string][] = [
        ['plain http to a public host', { ...good, endpoint: 'http://fcm.googleapis.com/fcm/send/x' }, 'invalid_push_subscription'],
        ['not a URL', { ...good, endpoint: 'not a url' }, 'invalid_push_subscription'],
        ['ftp', { ...good, endpoint: 'ftp://push.example.net/x' }, 'invalid_push_subscription'],
        ['an IP address', { ...good, endpoint: 'https://10.0.0.8/push/x' }, 'invalid_push_subscription'],
        ['credentials in the URL', { ...good, endpoint: 'https://user:pw@push.example.net/x' }, 'invalid_push_subscription'],
        ['a single-label host', { ...good, endpoint: 'https://metadata/x' }, 'invalid_push_subscription'],
        ['an endpoint over 2048 characters', { ...good, endpoint: `https://push.example.net/${'a'.repeat(2040)}` }, 'validation_failed'],
        ['p256dh of 64 bytes', { ...good, keys: { ...good.keys, p256dh: point.subarray(1).toString('base64url') } }, 'invalid_push_subscription'],
        ['p256dh compressed', { ...good, keys: { ...good.keys, p256dh: compressed.toString('base64url') } }, 'invalid_push_subscription'],
        ['p256dh off the curve', { ...good, keys: { ...good.keys, p256dh: offCurve.toString('base64url') } }, 'invalid_push_subscription'],
        ['p256dh in standard base64', { ...good, keys: { ...good.keys, p256dh: `${good.keys.p256dh.slice(0, -2)}+/` } }, 'invalid_push_subscription'],
        ['auth of 15 bytes', { ...good, keys: { ...good.keys, auth: randomBytes(15).toString('base64url') } }, 'invalid_push_subscription'],
        ['auth of 17 bytes', { ...good, keys: { ...good.keys, auth: randomBytes(17).toString('base64url') } }, 'invalid_push_subscription'],
        ['no keys', { endpoint: good.endpoint }, 'validation_failed'],
        ['no auth', { ...good, keys: { p256dh: good.keys.p256dh } }, 'validation_failed'],
        ['an unknown member', { ...good, extra: true }, 'validation_failed'],
        ['a string expirationTime', { ...good, expirationTime: 'soon' }, 'validation_failed'],
      ];
      for (const [what, payload, code] of cases) {
        const body = expectProblem(await post(user.token, payload), 400, code);
        expect(body, what).toMatchObject({ status: 400 });
        if (code === 'invalid_push_subscription') expect(body.errors, what).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.any(String), message: expect.any(String) })]));
      }
      expect(await rows('user_id = $1', [user.user.id])).toEqual([]);
      expect(await list(user.token)).toEqual([]);
    });

    it('delivers a push through the messenger to the local push service (aes128gcm, VAPID); a 410 removes the subscription', async () => {
      const user = await api.signedIn('delivery');
      const device = service.subscribe();
      const registered = await post(user.token, device.target);
      expect(registered.statusCode, registered.body).toBe(201);
      const id = registered.json<SubscriptionJson>().id;
      const path = new URL(device.target.endpoint).pathname;
      const to = () => service.requests.filter((request) => request.path === path);

      const logId = await app.context.messenger.notify({ channel: 'push', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
      const [request] = await waitFor(() => to().length > 0 && to(), 15_000, 'the push request');
      expect(request!.method).toBe('POST');
      expect(request!.headers['content-encoding']).toBe('aes128gcm');
      expect(request!.body.includes(Buffer.from('password'))).toBe(false);
      const payload = JSON.parse(device.decrypt(request!.body)) as { title: string; body: string; category: string };
      expect(payload.title).toMatch(/password was changed/i);
      expect(payload.category).toBe('security');
      const claims = await verifyVapid(request!.headers.authorization as string, VAPID.publicKey, service.origin);
      expect(claims.sub).toBe(SUBJECT);
      const status = (logId: string) => api.query<{ status: string; provider: string | null }>('SELECT status, provider FROM communication_logs WHERE id = $1', [logId]).then((r) => r[0]);
      expect(await waitFor(async () => (await status(logId))?.status === 'sent' && status(logId), 10_000, 'the log to be sent')).toEqual({ status: 'sent', provider: 'web-push' });

      // The browser unsubscribed: the push service answers 410 Gone, and the subscription is dropped.
      service.gone.add(path);
      const goneLog = await app.context.messenger.notify({ channel: 'push', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
      await waitFor(async () => (await status(goneLog))?.status === 'failed', 10_000, 'the second push to fail');
      expect(to()).toHaveLength(2);
      expect(await rows('id = $1', [id])).toEqual([]);
      expect(await list(user.token)).toEqual([]);
    });

    it('at delivery, a subscription whose endpoint now points at a private address is never contacted: the message fails and says why (the outbound guard on every send)', async () => {
      const user = await api.signedIn('rebound');
      const device = service.subscribe();
      const registered = await post(user.token, device.target);
      expect(registered.statusCode, registered.body).toBe(201);
      // As if its name had been rebound: the stored endpoint now points into the private network.
      await api.query('UPDATE push_subscriptions SET endpoint = $1 WHERE id = $2', ['https://10.0.0.8/wpush/v2/rebound', registered.json<SubscriptionJson>().id]);
      const before = service.requests.length;
      const logId = await app.context.messenger.notify({ channel: 'push', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: '203.0.113.9' } });
      const row = await api.logWhen(logId, ['failed'], 10_000);
      expect(row.error).toMatch(/the push service's address is not allowed \(10\.0\.0\.8 is a forbidden address\)/);
      expect(service.requests.length).toBe(before);
    });
  });
});

describe('push subscription endpoints in production', () => {
  const keys = browserKeys();
  const refused = expect.objectContaining({ code: 'invalid_push_subscription', status: 400 });
  /** Fixed DNS answers: public names, and public-looking names that resolve to private, loopback or metadata addresses. */
  const dns: Resolver = async (host) => {
    const answers: Record<string, string[]> = {
      'fcm.googleapis.com': ['142.250.185.10'], 'updates.push.services.mozilla.com': ['34.117.65.55'], 'web.push.apple.com': ['17.253.144.10'],
      'push.rebind.example.net': ['10.0.0.8'], 'push.metadata.example.net': ['169.254.169.254'], 'push.loop.example.net': ['127.0.0.1'],
      'push.mixed.example.net': ['93.184.215.14', 'fd00::1'],
    };
    if (!answers[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers[host]!.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const check = (endpoint: string) => checkPushSubscription({ endpoint, keys }, { allowLoopback: false, resolve: dns });

  it('require https to a public host name: no plain http, no IP address, no local name, even on loopback', async () => {
    for (const endpoint of [
      'http://127.0.0.1:8080/push', 'https://127.0.0.1:8443/push', 'https://[::1]/push', 'https://localhost/push', 'https://push.localhost/x',
      'http://fcm.googleapis.com/fcm/send/x', 'https://169.254.169.254/latest', 'https://[fd00::1]/x', 'https://metadata.google.internal/x', 'https://printer.local/x',
    ]) {
      await expect(check(endpoint), endpoint).rejects.toThrow(refused);
    }
    for (const endpoint of ['https://fcm.googleapis.com/fcm/send/abc', 'https://updates.push.services.mozilla.com/wpush/v2/abc', 'https://web.push.apple.com/abc']) {
      expect(await check(endpoint), endpoint).toEqual({ endpoint, keys });
    }
  });

  it('refuses a public-looking host name that resolves to a private, loopback or metadata address (the webhooks\' guard; regression: only the URL text was checked)', async () => {
    for (const host of ['push.rebind.example.net', 'push.metadata.example.net', 'push.loop.example.net', 'push.mixed.example.net']) {
      const error = await check(`https://${host}/send/abc`).then(() => null, (e: unknown) => e);
      expect(error, host).toMatchObject({ code: 'invalid_push_subscription', data: { errors: [{ path: '/endpoint', message: expect.stringMatching(/resolves to a private, loopback, link-local or reserved address/) }] } });
    }
    // A name that does not resolve now is accepted: delivery resolves and checks it again before any byte is sent.
    expect((await check('https://push.unknown.example.net/x')).endpoint).toBe('https://push.unknown.example.net/x');
  });

  it('outside production, a loopback push service may be plain http or https (development and tests); no other private address', async () => {
    for (const endpoint of ['http://127.0.0.1:8080/push', 'https://127.0.0.1:8443/push', 'http://localhost:3000/push', 'http://[::1]:9/push']) {
      expect((await checkPushSubscription({ endpoint, keys }, { allowLoopback: true, resolve: dns })).endpoint).toBe(endpoint);
    }
    for (const endpoint of ['http://10.0.0.8/push', 'https://push.rebind.example.net/x', 'https://push.metadata.example.net/x']) {
      await expect(checkPushSubscription({ endpoint, keys }, { allowLoopback: true, resolve: dns }), endpoint).rejects.toThrow(refused);
    }
  });
});
