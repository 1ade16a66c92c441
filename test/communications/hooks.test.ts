import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testClient, type LogEntry } from '../helpers/client.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { uniqueEmail } from '../helpers/outbox.js';
import { startFakeResend, startFakeSmsGateway, startFakeTwilio, type FakeResend, type FakeTwilio } from '../helpers/providers.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createDeliveryHooks } from '../../src/modules/communications/index.js';
import webpush from 'web-push';

/*
 * The real providers end to end: an app configured with Resend and Twilio (local servers speaking
 * their APIs) sends through them, records their message ids, and takes their signed delivery
 * callbacks at /v1/hooks/resend and /v1/hooks/twilio over real HTTP: delivered, bounced (hard
 * bounces suppress the address, and the next message to it is stopped), complained, delayed,
 * failed; forged, stale or unsigned callbacks are refused (401) and change nothing; a log entry
 * never moves backwards; a disabled channel reaches no provider.
 */

const FROM = 'Tessera <no-reply@example.com>';
const PUBLIC_URL = 'https://id.example.com';
const TWILIO_FROM = '+15005550006';
const QUEUE = { retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 };

interface Suppression {
  channel: string;
  recipient: string;
  reason: string;
}

const phoneNumber = (): string => `+1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
const changedData = (): Record<string, unknown> => ({ at: new Date().toISOString(), ip: '198.51.100.4', device: 'Firefox on Linux' });
const codeData = (): Record<string, unknown> => ({ code: '482913', expires_minutes: 10, purpose: 'login' });

async function providerApp(engine: Engine, resend: FakeResend, twilio: FakeTwilio): Promise<TestApp> {
  const env = {
    PUBLIC_URL, MAIL_FROM: FROM,
    RESEND_API_KEY: resend.apiKey, RESEND_API_URL: resend.url, RESEND_WEBHOOK_SECRET: resend.webhookSecret,
    TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken, TWILIO_FROM, TWILIO_API_URL: twilio.url,
  };
  if (engine === 'pglite') return createTestApp({ engine, env, build: { messengerQueue: QUEUE } });
  const cache = await createRedisCache(inject('services').redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
  return createTestApp({ engine, env, build: { messengerQueue: QUEUE, cache } });
}

describe.each(engineCases())('provider delivery callbacks on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let resend: FakeResend;
    let twilio: FakeTwilio;
    let app: TestApp;
    /** Where the app listens (the providers post here; they sign PUBLIC_URL, as behind a proxy). */
    let base: string;
    let adminToken: string;

    const api = testClient(() => app);
    const { query } = api;
    const logOf = async (id: string): Promise<LogEntry> => (await api.logEntry(id))!;
    /** The log entry once the path is done with it. */
    const settled = (id: string): Promise<LogEntry> => api.logWhen(id, ['sent', 'suppressed', 'blocked_channel_disabled', 'failed']);
    const suppressions = async (channel: string): Promise<Suppression[]> => {
      const res = await api.call('GET', `/v1/admin/communications/suppressions?channel=${channel}&limit=200`, adminToken);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ data: (Suppression & { created_at: string })[] }>().data.map(({ channel: c, recipient, reason }) => ({ channel: c, recipient, reason }));
    };
    const email = async (to: string): Promise<LogEntry> => settled(await app.context.messenger.notify({ channel: 'email', to, template: 'accounts.password_changed', data: changedData() }));
    const sms = async (to: string): Promise<LogEntry> => settled(await app.context.messenger.notify({ channel: 'sms', to, template: 'otp.code', data: codeData() }));
    const resendHook = `/v1/hooks/resend`;
    const twilioHook = `/v1/hooks/twilio`;

    beforeAll(async () => {
      resend = await startFakeResend();
      twilio = await startFakeTwilio();
      app = await providerApp(engine, resend, twilio);
      await app.server.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
      adminToken = (await api.platformAdmin()).token;
    });
    afterAll(async () => {
      await app?.destroy();
      await Promise.all([resend?.close(), twilio?.close()]);
    });

    it('the providers are the configured ones', () => {
      expect(app.context.mailTransport.kind).toBe('resend');
      expect(app.context.smsProvider.kind).toBe('twilio');
      expect(app.context.pushProvider.kind).toBe('outbox');
    });

    it('an email goes to Resend and is logged sent with Resend\'s id; a signed email.delivered moves it to delivered, and repeats or late events change nothing', async () => {
      const to = uniqueEmail('delivered');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      expect(sent).toMatchObject({ from: FROM, to: [to], subject: expect.stringContaining('password was changed'), idempotencyKey: log.id });
      expect(sent.html).toContain('198.51.100.4');
      expect(sent.text).toContain('198.51.100.4');
      expect(log).toMatchObject({ status: 'sent', provider: 'resend', provider_message_id: sent.id, error: null });

      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivered', sent.id))).toBe(204);
      const delivered = await logOf(log.id);
      expect(delivered).toMatchObject({ status: 'delivered', provider_message_id: sent.id, reason: null });

      // The same event again, then a late "delayed" and a "sent": the entry stays as it is.
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivered', sent.id))).toBe(204);
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivery_delayed', sent.id))).toBe(204);
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.sent', sent.id))).toBe(204);
      expect(await logOf(log.id)).toEqual(delivered);
    });

    it('a hard bounce: the entry is bounced, the address suppressed (reason bounce), and the next message to it is stopped as suppressed', async () => {
      const to = uniqueEmail('Bounce');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      const bounce = resend.event('email.bounced', sent.id, {
        bounce: { type: 'Permanent', subType: 'General', message: "The recipient's email provider sent a hard bounce message." },
      });
      expect(await resend.postWebhook(`${base}${resendHook}`, bounce)).toBe(204);
      const bounced = await logOf(log.id);
      expect(bounced).toMatchObject({ status: 'bounced', error: expect.stringContaining('Permanent/General') });
      expect(await suppressions('email')).toContainEqual({ channel: 'email', recipient: to.toLowerCase(), reason: 'bounce' });

      // A late "delivered" does not undo the bounce.
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivered', sent.id))).toBe(204);
      expect((await logOf(log.id)).status).toBe('bounced');

      const count = resend.emails.length;
      const next = await email(to);
      expect(next).toMatchObject({ status: 'suppressed', reason: expect.stringContaining('suppression list (bounce)') });
      expect(resend.emails.length).toBe(count);
    });

    it('a soft bounce is recorded as bounced without suppressing the address', async () => {
      const to = uniqueEmail('soft');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      const soft = resend.event('email.bounced', sent.id, { bounce: { type: 'Transient', subType: 'MailboxFull', message: 'Mailbox full' } });
      expect(await resend.postWebhook(`${base}${resendHook}`, soft)).toBe(204);
      expect(await logOf(log.id)).toMatchObject({ status: 'bounced', error: expect.stringContaining('Transient/MailboxFull') });
      expect((await suppressions('email')).map((s) => s.recipient)).not.toContain(to.toLowerCase());
      expect((await email(to)).status).toBe('sent');
    });

    it('a complaint: complained (even after delivered) and suppressed with reason complaint', async () => {
      const to = uniqueEmail('complaint');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivered', sent.id))).toBe(204);
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.complained', sent.id))).toBe(204);
      expect((await logOf(log.id)).status).toBe('complained');
      expect(await suppressions('email')).toContainEqual({ channel: 'email', recipient: to, reason: 'complaint' });
    });

    it('a delayed delivery keeps the entry sent and says so in its reason, once; email.failed moves it to failed', async () => {
      const to = uniqueEmail('delayed');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      for (let i = 0; i < 2; i++) expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.delivery_delayed', sent.id))).toBe(204);
      const delayed = await logOf(log.id);
      expect(delayed.status).toBe('sent');
      expect(delayed.reason).toBe('delivery delayed: the receiving server deferred it, Resend keeps trying');

      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.failed', sent.id, { failed: { reason: 'reached_daily_quota' } }))).toBe(204);
      expect(await logOf(log.id)).toMatchObject({ status: 'failed', error: 'Resend could not send it: reached_daily_quota' });
    });

    it('forged, stale, unsigned or re-signed-over-another-body callbacks are refused with 401 and change nothing', async () => {
      const to = uniqueEmail('forged');
      const log = await email(to);
      const sent = resend.emails.find((e) => e.to[0] === to)!;
      const bounce = resend.event('email.bounced', sent.id, { bounce: { type: 'Permanent', subType: 'General', message: 'hard' } });
      const inject = (signed: { headers: Record<string, string>; body: string }) => app.server.inject({ method: 'POST', url: resendHook, headers: signed.headers, payload: signed.body });

      const forged = resend.sign(bounce, { secret: `whsec_${randomBytes(24).toString('base64')}` });
      expectProblem(await inject(forged), 401, 'invalid_signature');
      const stale = resend.sign(bounce, { at: new Date(Date.now() - 10 * 60_000) });
      expectProblem(await inject(stale), 401, 'invalid_signature');
      const future = resend.sign(bounce, { at: new Date(Date.now() + 10 * 60_000) });
      expectProblem(await inject(future), 401, 'invalid_signature');
      const genuine = resend.sign(resend.event('email.delivered', sent.id));
      // A genuine signature does not carry over to another body.
      expectProblem(await inject({ headers: genuine.headers, body: JSON.stringify(bounce) }), 401, 'invalid_signature');
      const { 'svix-signature': _dropped, ...unsigned } = genuine.headers;
      expectProblem(await inject({ headers: unsigned, body: genuine.body }), 401, 'invalid_signature');
      // Over real HTTP too.
      expect(await resend.postWebhook(`${base}${resendHook}`, bounce, { secret: `whsec_${randomBytes(24).toString('base64')}` })).toBe(401);

      expect(await logOf(log.id)).toMatchObject({ status: 'sent' });
      expect((await suppressions('email')).map((s) => s.recipient)).not.toContain(to);

      // Signed but not an event: 400 after the signature check; other content types: 415.
      expectProblem(await inject(resend.sign('not json')), 400, 'validation_failed');
      expectProblem(await inject(resend.sign({ created_at: 'x', data: {} } as never)), 400, 'validation_failed');
      const text = resend.sign(resend.event('email.delivered', sent.id));
      expectProblem(await inject({ headers: { ...text.headers, 'content-type': 'text/plain' }, body: text.body }), 415, 'unsupported_media_type');
      expect((await logOf(log.id)).status).toBe('sent');
    });

    it('an event about an email we did not send, or of a type we do not track, is answered 204 and changes nothing', async () => {
      const before = await query<{ n: string }>('SELECT count(*)::text AS n FROM communication_logs WHERE status IN ($1, $2)', ['bounced', 'delivered']);
      const suppressed = await suppressions('email');
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.bounced', crypto.randomUUID(), { bounce: { type: 'Permanent' } }))).toBe(204);
      expect(await resend.postWebhook(`${base}${resendHook}`, resend.event('email.opened', crypto.randomUUID()))).toBe(204);
      expect(await resend.postWebhook(`${base}${resendHook}`, { type: 'contact.created', created_at: new Date().toISOString(), data: { id: 'x' } })).toBe(204);
      expect(await query('SELECT count(*)::text AS n FROM communication_logs WHERE status IN ($1, $2)', ['bounced', 'delivered'])).toEqual(before);
      expect(await suppressions('email')).toEqual(suppressed);
    });

    it('an SMS goes to Twilio (To, From, Body, StatusCallback at PUBLIC_URL) and is logged sent with the SM sid; a signed "delivered" callback moves it to delivered', async () => {
      const log = await sms('+15555550123');
      const sent = twilio.messages.find((m) => m.sid === log.provider_message_id)!;
      expect(sent.form).toEqual({ To: '+15555550123', From: TWILIO_FROM, Body: expect.stringContaining('482913'), StatusCallback: `${PUBLIC_URL}/v1/hooks/twilio` });
      expect(log).toMatchObject({ status: 'sent', provider: 'twilio', provider_message_id: expect.stringMatching(/^SM[0-9a-f]{32}$/), error: null });
      expect(twilio.requests.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`);

      // Twilio reports the intermediate statuses too: they do not move a sent message.
      expect(await twilio.postCallback(sent.sid, 'sent', { target: base })).toBe(204);
      expect((await logOf(log.id)).status).toBe('sent');
      expect(await twilio.postCallback(sent.sid, 'delivered', { target: base })).toBe(204);
      expect(await logOf(log.id)).toMatchObject({ status: 'delivered', error: null });
      expect(await twilio.postCallback(sent.sid, 'sent', { target: base })).toBe(204);
      expect((await logOf(log.id)).status).toBe('delivered');
    });

    it('Twilio callbacks with a wrong, missing or mismatched signature are refused with 401 and change nothing', async () => {
      const log = await sms(phoneNumber());
      const sid = log.provider_message_id!;
      const inject = (signed: { headers: Record<string, string>; body: string }) => app.server.inject({ method: 'POST', url: twilioHook, headers: signed.headers, payload: signed.body });

      expectProblem(await inject(twilio.signCallback(sid, 'undelivered', { errorCode: '30006', authToken: randomBytes(16).toString('hex') })), 401, 'invalid_signature');
      // Signed for another URL (Twilio signs the URL it calls; ours is PUBLIC_URL's).
      expectProblem(await inject(twilio.signCallback(sid, 'undelivered', { errorCode: '30006', url: `${base}/v1/hooks/twilio` })), 401, 'invalid_signature');
      // A genuine signature over other parameters.
      const genuine = twilio.signCallback(sid, 'delivered');
      expectProblem(await inject({ headers: genuine.headers, body: genuine.body.replace('MessageStatus=delivered', 'MessageStatus=undelivered') }), 401, 'invalid_signature');
      expectProblem(await inject({ headers: genuine.headers, body: `${genuine.body}&ErrorCode=30006` }), 401, 'invalid_signature');
      const { 'x-twilio-signature': _dropped, ...unsigned } = genuine.headers;
      expectProblem(await inject({ headers: unsigned, body: genuine.body }), 401, 'invalid_signature');
      expect(await twilio.postCallback(sid, 'undelivered', { errorCode: '30006', authToken: randomBytes(16).toString('hex'), target: base })).toBe(401);

      expect((await logOf(log.id)).status).toBe('sent');
      expect((await suppressions('sms')).map((s) => s.recipient)).not.toContain(log.recipient);
    });

    it('undelivered with 30006 (landline or unreachable carrier): bounced with the error code, the number suppressed, the next SMS stopped', async () => {
      const number = phoneNumber();
      const log = await sms(number);
      expect(await twilio.postCallback(log.provider_message_id!, 'undelivered', { errorCode: '30006', target: base })).toBe(204);
      expect(await logOf(log.id)).toMatchObject({ status: 'bounced', error: 'Twilio: undelivered (error 30006)' });
      expect(await suppressions('sms')).toContainEqual({ channel: 'sms', recipient: number, reason: 'bounce' });
      const count = twilio.messages.length;
      expect(await sms(number)).toMatchObject({ status: 'suppressed' });
      expect(twilio.messages.length).toBe(count);
    });

    it('other failures are failed with the code and do not suppress (30003: handset off); 21610 (replied STOP) suppresses as unsubscribed', async () => {
      const off = phoneNumber();
      const first = await sms(off);
      expect(await twilio.postCallback(first.provider_message_id!, 'failed', { errorCode: '30003', target: base })).toBe(204);
      expect(await logOf(first.id)).toMatchObject({ status: 'failed', error: 'Twilio: failed (error 30003)' });
      expect((await suppressions('sms')).map((s) => s.recipient)).not.toContain(off);
      expect((await sms(off)).status).toBe('sent');

      const stopped = phoneNumber();
      const second = await sms(stopped);
      expect(await twilio.postCallback(second.provider_message_id!, 'undelivered', { errorCode: '21610', target: base })).toBe(204);
      expect(await logOf(second.id)).toMatchObject({ status: 'failed', error: 'Twilio: undelivered (error 21610)' });
      expect(await suppressions('sms')).toContainEqual({ channel: 'sms', recipient: stopped, reason: 'unsubscribed' });
    });

    it('a channel switched off by the platform admin reaches no provider: the log says blocked_channel_disabled', async () => {
      const patch = (payload: unknown) => api.call('PATCH', '/v1/admin/communications/settings', adminToken, payload);
      const smsCount = twilio.messages.length;
      const emailCount = resend.emails.length;
      expect((await patch({ channels: { sms: { enabled: false }, email: { enabled: false } } })).statusCode).toBe(200);
      try {
        expect(await sms(phoneNumber())).toMatchObject({ status: 'blocked_channel_disabled', provider: null });
        expect(await email(uniqueEmail('off'))).toMatchObject({ status: 'blocked_channel_disabled', provider: null });
        expect(twilio.messages.length).toBe(smsCount);
        expect(resend.emails.length).toBe(emailCount);
      } finally {
        expect((await patch({ channels: { sms: { enabled: true }, email: { enabled: true } } })).statusCode).toBe(200);
      }
      expect((await sms(phoneNumber())).status).toBe('sent');
    });
  });
});

describe('delivery callbacks without provider secrets', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMITS: JSON.stringify({ hooks: { max: 4, window_seconds: 60 } }) } });
  });
  afterAll(async () => app?.destroy());

  it('refuses every callback (401) when RESEND_WEBHOOK_SECRET or Twilio is not configured; the hooks have a rate-limit group of their own', async () => {
    const resend = await startFakeResend();
    const twilio = await startFakeTwilio();
    try {
      const signed = resend.sign(resend.event('email.delivered', crypto.randomUUID()));
      expectProblem(await app.server.inject({ method: 'POST', url: '/v1/hooks/resend', headers: signed.headers, payload: signed.body }), 401, 'invalid_signature');
      const callback = twilio.signCallback('SM' + 'ab'.repeat(16), 'delivered', { url: 'http://localhost:8080/v1/hooks/twilio' });
      expectProblem(await app.server.inject({ method: 'POST', url: '/v1/hooks/twilio', headers: callback.headers, payload: callback.body }), 401, 'invalid_signature');
      for (let i = 0; i < 2; i++) expect((await app.server.inject({ method: 'POST', url: '/v1/hooks/twilio', headers: callback.headers, payload: callback.body })).statusCode).toBe(401);
      expectProblem(await app.server.inject({ method: 'POST', url: '/v1/hooks/twilio', headers: callback.headers, payload: callback.body }), 429, 'rate_limited');
      // Other groups count apart.
      expect((await app.server.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await Promise.all([resend.close(), twilio.close()]);
    }
  });

  it('both callbacks are documented in OpenAPI as public (signature-verified) POST routes', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json<{ paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>> }>().paths;
    for (const path of ['/v1/hooks/resend', '/v1/hooks/twilio']) {
      expect(Object.keys(paths[path] ?? {}), path).toEqual(['post']);
      expect(paths[path]!.post!.security).toEqual([]);
      expect(Object.keys(paths[path]!.post!.responses)).toEqual(expect.arrayContaining(['204', '400', '401', '415', '429']));
    }
  });

  it('a webhook secret that is not whsec_ + base64 is refused when the app is built, not on every callback', () => {
    expect(() => createDeliveryHooks({ db: app.context.db, resendWebhookSecret: 'not a base64 secret!!' })).toThrow(/RESEND_WEBHOOK_SECRET/);
    expect(() => createDeliveryHooks({ db: app.context.db, resendWebhookSecret: `whsec_${randomBytes(24).toString('base64')}` })).not.toThrow();
  });
});

describe('provider choice without Resend and Twilio', () => {
  it('SMS goes to the generic HTTP gateway (signed, the log keeps its id) and push to Web Push with the VAPID key; email to the outbox', async () => {
    const gateway = await startFakeSmsGateway();
    const vapid = webpush.generateVAPIDKeys();
    const app = await createTestApp({
      env: { SMS_HTTP_URL: gateway.url, SMS_HTTP_SECRET: gateway.secret, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey },
      build: { messengerQueue: QUEUE },
    });
    try {
      expect(app.context.mailTransport.kind).toBe('outbox');
      expect(app.context.smsProvider.kind).toBe('http');
      expect(app.context.pushProvider).toMatchObject({ kind: 'web-push', publicKey: vapid.publicKey });
      const number = phoneNumber();
      const id = await app.context.messenger.notify({ channel: 'sms', to: number, template: 'otp.code', data: codeData() });
      const log = await testClient(() => app).logWhen(id, ['sent', 'failed']);
      const request = gateway.requests.at(-1)!;
      expect(request).toMatchObject({ signatureValid: true, json: { id, to: number, text: expect.stringContaining('482913') } });
      expect(log).toMatchObject({ status: 'sent', provider: 'http', provider_message_id: expect.stringMatching(/^gw_/) });
    } finally {
      await app.destroy();
      await gateway.close();
    }
  });
});
