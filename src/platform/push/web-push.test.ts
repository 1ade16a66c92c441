import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakePushService, verifyVapid, type FakePushService } from '../../../test/helpers/providers.js';
import { DeliveryError, type OutboundPolicy } from '../delivery/index.js';
import { createWebPushProvider } from './index.js';

/*
 * Web Push against a local HTTPS push service: the payload arrives aes128gcm-encrypted for the
 * subscription's keys (decrypted here as a browser would), the VAPID token verifies against the
 * application server key for the endpoint's origin, and the service's answers are classified
 * (404/410: the subscription is gone, permanent with that status; 429/5xx: later). The push
 * service is on loopback: allowed here only as development and tests allow it; with the production
 * policy the same endpoints are refused before any connection (the webhooks' outbound guard).
 */

const SUBJECT = 'mailto:ops@example.com';
/** Development and tests: a push service on loopback. */
const LOOPBACK_ALLOWED: OutboundPolicy = { allowPrivateNetworks: false, requireHttps: false, allowLoopback: true };

async function failureOf(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe('Web Push provider', () => {
  let service: FakePushService;
  const vapid = webpush.generateVAPIDKeys();
  const provider = () => createWebPushProvider({ ...vapid, subject: SUBJECT, agent: service.agent, destinations: LOOPBACK_ALLOWED });
  beforeAll(async () => {
    service = await startFakePushService();
  });
  afterAll(async () => service?.close());

  it('sends the payload encrypted for the subscription (it decrypts to what was sent) with TTL, Urgency and a VAPID token for the endpoint\'s origin', async () => {
    const push = provider();
    expect(push).toMatchObject({ kind: 'web-push', publicKey: vapid.publicKey });
    const subscription = service.subscribe();
    const payload = JSON.stringify({ id: 'com_1', title: 'New sign-in', body: 'Was this you? ünïcödé', url: null, category: 'security' });
    const receipt = await push.send({ id: 'com_1', target: subscription.target, payload, ttlSeconds: 3600, urgency: 'high' });
    const request = service.requests.at(-1)!;
    expect(`${service.origin}${request.path}`).toBe(subscription.target.endpoint);
    expect(request.headers).toMatchObject({ ttl: '3600', urgency: 'high', 'content-encoding': 'aes128gcm', 'content-type': 'application/octet-stream' });
    expect(request.body.includes(Buffer.from('New sign-in'))).toBe(false);
    expect(subscription.decrypt(request.body)).toBe(payload);
    const claims = await verifyVapid(request.headers.authorization as string, vapid.publicKey, service.origin);
    expect(claims.sub).toBe(SUBJECT);
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    expect(receipt.providerMessageId).toMatch(/^https:\/\/127\.0\.0\.1\/wpush\/v2\/[0-9a-f]+\/m\/[0-9a-f]+$/);

    // Another subscription cannot read it, and a token for another audience does not verify.
    expect(() => service.subscribe().decrypt(request.body)).toThrow();
    await expect(verifyVapid(request.headers.authorization as string, vapid.publicKey, 'https://push.example.net')).rejects.toThrow();
    await expect(verifyVapid(request.headers.authorization as string, webpush.generateVAPIDKeys().publicKey, service.origin)).rejects.toThrow();

    await push.send({ id: 'com_2', target: subscription.target, payload, ttlSeconds: 60 });
    expect(service.requests.at(-1)!.headers).toMatchObject({ ttl: '60', urgency: 'normal' });
  });

  it('a subscription the service no longer knows (410, 404) fails permanently with that status', async () => {
    const push = provider();
    const subscription = service.subscribe();
    service.gone.add(new URL(subscription.target.endpoint).pathname);
    expect(await failureOf(push.send({ id: 'com_3', target: subscription.target, payload: '{}', ttlSeconds: 60 }))).toMatchObject({ status: 410, permanent: true });
    service.fail(404, 1);
    expect(await failureOf(push.send({ id: 'com_4', target: service.subscribe().target, payload: '{}', ttlSeconds: 60 }))).toMatchObject({ status: 404, permanent: true });
  });

  it('429 and 5xx are transient; other 4xx (payload too large, wrong key) permanent; no answer transient; unusable keys permanent', async () => {
    const push = provider();
    for (const [status, permanent] of [[429, false], [500, false], [503, false], [413, true], [400, true], [403, true]] as const) {
      service.fail(status, 1);
      const error = await failureOf(push.send({ id: 'com_5', target: service.subscribe().target, payload: '{}', ttlSeconds: 60 }));
      expect({ status: error.status, permanent: error.permanent }, `${status}`).toEqual({ status, permanent });
    }
    const closed = await startFakePushService();
    const target = closed.subscribe().target;
    await closed.close();
    const unreachable = await failureOf(createWebPushProvider({ ...vapid, subject: SUBJECT, agent: closed.agent, destinations: LOOPBACK_ALLOWED }).send({ id: 'com_6', target, payload: '{}', ttlSeconds: 60 }));
    expect(unreachable).toMatchObject({ permanent: false, message: 'could not reach the push service (ECONNREFUSED)' });

    const broken = { ...service.subscribe().target, keys: { p256dh: 'c2hvcnQ', auth: 'c2hvcnQ' } };
    const count = service.requests.length;
    expect(await failureOf(push.send({ id: 'com_7', target: broken, payload: '{}', ttlSeconds: 60 }))).toMatchObject({ permanent: true, status: undefined });
    expect(service.requests.length).toBe(count);
  });

  it('a push endpoint on a private or loopback address is never contacted under the production policy, by IP literal or by a name resolving to one at send time (regression: push had no outbound guard)', async () => {
    const strict = createWebPushProvider({ ...vapid, subject: SUBJECT, agent: service.agent });
    const count = service.requests.length;
    const { target } = service.subscribe();
    const byName = { ...target, endpoint: target.endpoint.replace('https://127.0.0.1:', 'https://localhost:') };
    for (const endpoint of [target.endpoint, byName.endpoint]) {
      const error = await failureOf(strict.send({ id: 'com_8', target: { ...target, endpoint }, payload: '{}', ttlSeconds: 60 }));
      expect(error, endpoint).toMatchObject({ permanent: true, message: expect.stringMatching(/^the push service's address is not allowed \(.*forbidden address\)$/) });
    }
    expect(service.requests.length).toBe(count);
    // The same endpoints, where loopback is allowed (development and tests), are reached.
    await provider().send({ id: 'com_9', target: byName, payload: '{}', ttlSeconds: 60 });
    expect(service.requests.length).toBe(count + 1);
  });

  it('a redirect is an answer like any other failure, never followed', async () => {
    service.fail(307, 1);
    const count = service.requests.length;
    expect(await failureOf(provider().send({ id: 'com_10', target: service.subscribe().target, payload: '{}', ttlSeconds: 60 }))).toMatchObject({ status: 307 });
    expect(service.requests.length).toBe(count + 1);
  });

  it('a bad VAPID key pair or subject is refused when the provider is made, not on every send', () => {
    expect(() => createWebPushProvider({ ...vapid, privateKey: 'c2hvcnQ', subject: SUBJECT })).toThrow();
    expect(() => createWebPushProvider({ ...vapid, subject: 'ops@example.com' })).toThrow();
  });
});
