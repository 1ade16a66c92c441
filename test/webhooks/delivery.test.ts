import { randomBytes } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EVENT_TYPES } from '../../src/modules/webhooks/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { columns, PASSWORD, testClient, type Signed } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { login, signUpAndVerify, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { waitFor } from '../helpers/wait.js';
import type { DeliveryBody } from './bodies.js';
import { startReceiver, type Receiver, type WebhookPayload } from './receiver.js';

/*
 * Webhook delivery end to end on each engine, to real HTTP receivers on 127.0.0.1, every request
 * verified with the `standardwebhooks` package: events of real flows (org, invitation, member,
 * API key, a member's sign-in), the outbox's all-or-nothing (a rolled-back transaction sends
 * nothing), retries after a failure (the same webhook-id, each attempt listed), redirects not
 * followed, an endpoint that keeps failing disabled and resumed, secret rotation (both signatures
 * for 24 hours), test events, manual retries and timeouts.
 */

const { redisUrl } = inject('services');

interface Hook {
  orgId: string;
  owner: Signed;
  id: string;
  secret: string;
  path: string;
  url: string;
}

/** What every test of the file needs: an app with the given settings, a receiver, the shared test client on them, and helpers. */
function harness(engine: 'pglite' | 'postgres', env: Record<string, string>) {
  const api = testClient(() => h.app);
  const h = {
    ...api,
    app: undefined as unknown as TestApp,
    receiver: undefined as unknown as Receiver,
    /** A new owner, their organization, and an endpoint of it on a fresh receiver path. */
    async hook(eventTypes: string[], label = 'hook'): Promise<Hook> {
      const owner = await api.signedIn('owner');
      const orgId = (await api.createOrg(owner, { name: `Deliveries ${randomBytes(4).toString('hex')}` })).id;
      const { path, url } = h.receiver.endpoint(label);
      const res = await api.call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url, event_types: eventTypes });
      expect(res.statusCode, res.body).toBe(201);
      const { id, secret } = res.json<{ id: string; secret: string }>();
      h.receiver.expectSecrets(path, [secret]);
      return { orgId, owner, id, secret, path, url };
    },
    /** Renames the organization (an org.updated event); returns the new name. */
    async rename(hook: Hook, name = `Renamed ${randomBytes(4).toString('hex')}`): Promise<string> {
      const res = await h.call('PATCH', `/v1/orgs/${hook.orgId}`, hook.owner.token, { name });
      expect(res.statusCode, res.body).toBe(200);
      return name;
    },
    async deliveries(hook: Hook): Promise<DeliveryBody[]> {
      const res = await h.call('GET', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/deliveries?limit=100`, hook.owner.token);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ data: DeliveryBody[] }>().data;
    },
    /** Waits until the delivery of `eventId` (or the only one) satisfies `done`. */
    async deliveryWhen(hook: Hook, done: (delivery: DeliveryBody) => boolean, what: string, eventId?: string, timeoutMs = 20_000): Promise<DeliveryBody> {
      return waitFor(async () => {
        const list = await h.deliveries(hook);
        const delivery = eventId ? list.find((d) => d.event_id === eventId) : list[0];
        return delivery && done(delivery) && delivery;
      }, timeoutMs, what);
    },
    async endpoint(hook: Hook): Promise<{ enabled: boolean; disabled_reason: string | null; consecutive_failures: number }> {
      const res = await h.call('GET', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}`, hook.owner.token);
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    },
    /** The id of the outbox event of this type in the organization whose payload contains `match`. */
    async eventId(orgId: string, type: string, match: Record<string, unknown>): Promise<string> {
      const rows = await h.query<{ id: string; payload: Record<string, unknown> }>('SELECT id, payload FROM events WHERE org_id = $1 AND type = $2 ORDER BY created_at, id', [orgId, type]);
      const found = rows.filter((row) => Object.entries(match).every(([key, value]) => JSON.stringify(row.payload[key]) === JSON.stringify(value)));
      expect(found, `${type} ${JSON.stringify(match)}`).toHaveLength(1);
      return found[0]!.id;
    },
  };
  beforeAll(async () => {
    h.receiver = await startReceiver();
    h.app = await createEngineApp(engine, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...env });
  });
  afterAll(async () => {
    await h.app?.destroy();
    h.receiver?.assertAllVerified();
    await h.receiver?.close();
  });
  return h;
}

/** The body is exactly `{type, timestamp, data}`, and the data validates against the catalogue's schema of the type. */
function expectWellFormed(payload: WebhookPayload & { webhookId: string }): void {
  const { webhookId, ...body } = payload;
  expect(Object.keys(body).sort()).toEqual(['data', 'timestamp', 'type']);
  expect(webhookId).toMatch(/^evt_[0-9a-z]{26}$/);
  expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  const schema = EVENT_TYPES[body.type]?.schema;
  expect(schema, body.type).toBeDefined();
  expect([...Value.Errors(schema!, body.data)].map((error) => `${error.path} ${error.message}`), `${body.type} ${JSON.stringify(body.data)}`).toEqual([]);
}

describe.each(engineCases())('webhook delivery on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    const h = harness(engine, { WEBHOOK_RETRY_SCHEDULE_SECONDS: '1,1,1', WEBHOOK_DISABLE_AFTER_FAILURES: '3' });

    it('events of real flows reach the subscribed endpoint, signed, as {type, timestamp, data} with the event id as webhook-id; org.created came before the endpoint and is not sent', async () => {
      const types = ['org.created', 'org.updated', 'invitation.created', 'invitation.accepted', 'member.added', 'api_key.created', 'session.created'];
      const hook = await h.hook(types, 'flows');
      const name = await h.rename(hook);

      const invitee = uniqueEmail('invitee');
      const invited = await h.call('POST', `/v1/orgs/${hook.orgId}/invitations`, hook.owner.token, { email: invitee, role: 'member' });
      expect(invited.statusCode, invited.body).toBe(201);
      const invitationId = invited.json<{ id: string }>().id;
      const mail = await waitForMail(h.app, { to: invitee, template: 'orgs.invitation' });
      const token = decodeURIComponent(/\/invitations\/accept\?token=([^\s"'<>&]+)/.exec(mail.text)![1]!);
      const user = await signUpAndVerify(h.app, invitee, PASSWORD);
      const first = await login(h.app, invitee, PASSWORD);
      const accepted = await h.call('POST', '/v1/invitations/accept', first.access_token, { token });
      expect(accepted.statusCode, accepted.body).toBe(200);
      // Signed in again as a member: session.created is about a person and reaches the organizations they belong to.
      const session = await login(h.app, invitee, PASSWORD);
      const key = await h.call('POST', `/v1/orgs/${hook.orgId}/api-keys`, hook.owner.token, { name: 'CI', scopes: ['members:read'] });
      expect(key.statusCode, key.body).toBe(201);
      const keyBody = key.json<{ id: string; secret: string }>();

      const expected: [string, (data: Record<string, unknown>) => boolean][] = [
        ['org.updated', (d) => d.org_id === hook.orgId && JSON.stringify(d.changes) === '["name"]'],
        ['invitation.created', (d) => d.invitation_id === invitationId && d.email === invitee && d.role === 'member'],
        ['invitation.accepted', (d) => d.invitation_id === invitationId && d.user_id === user.id],
        ['member.added', (d) => d.user_id === user.id && d.role === 'member'],
        ['session.created', (d) => d.id === session.session_id && d.user_id === user.id],
        ['api_key.created', (d) => d.api_key_id === keyBody.id && d.name === 'CI'],
      ];
      const payloads = await waitFor(() => {
        const all = h.receiver.verified(hook.path, hook.secret);
        return expected.every(([type, match]) => all.some((p) => p.type === type && match(p.data))) && all;
      }, 20_000, `${expected.map(([type]) => type).join(', ')} at the receiver`);

      for (const payload of payloads) expectWellFormed(payload);
      // Only subscribed types arrive, and org.created (published before the endpoint existed) does not.
      expect(payloads.map((p) => p.type).every((type) => types.includes(type))).toBe(true);
      expect(payloads.filter((p) => p.type === 'org.created')).toEqual([]);
      // A person's events reach the organizations they had joined by then: the sign-in before accepting is not sent.
      expect(payloads.filter((p) => p.type === 'session.created').map((p) => p.data.id)).toEqual([session.session_id]);
      expect(first.session_id).not.toBe(session.session_id);
      // The API key's secret never travels in an event.
      expect(JSON.stringify(payloads)).not.toContain(keyBody.secret);

      // webhook-id is the outbox event's id; the timestamp is the event's.
      const update = payloads.find((p) => p.type === 'org.updated')!;
      expect(update.webhookId).toBe(await h.eventId(hook.orgId, 'org.updated', { changes: ['name'] }));
      const [event] = await h.query<{ created_at: Date }>('SELECT created_at FROM events WHERE id = $1', [update.webhookId]);
      expect(update.timestamp).toBe(event!.created_at.toISOString());
      expect(name).toBeTruthy();
      const hit = h.receiver.hits(hook.path).find((entry) => entry.headers['webhook-id'] === update.webhookId)!;
      expect(hit.headers['content-type']).toBe('application/json');
      expect(hit.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(Number(hit.headers['webhook-timestamp'])).toBeGreaterThan(0);
      // Anyone else's secret does not verify it.
      expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(hit.body, hit.headers)).toThrow();

      // Each delivery is listed as succeeded with its one attempt.
      const listed = await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'succeeded', update.webhookId);
      expect(listed).toMatchObject({ event_type: 'org.updated', attempt_count: 1, next_attempt_at: null, attempts: [{ attempt: 1, status_code: 200, response_body: 'ok', error: null }] });
    });

    it('a rolled-back transaction sends nothing; the event committed after it arrives', async () => {
      const hook = await h.hook(['org.updated'], 'rollback');
      const marker = `rolled-back-${randomBytes(4).toString('hex')}`;
      await expect(
        h.app.context.db.transaction(async (tx) => {
          await h.app.context.events.publish(tx, { type: 'org.updated', orgId: hook.orgId, data: { org_id: hook.orgId, changes: ['name'], marker } });
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      const name = await h.rename(hook);

      const [payload] = await waitFor(() => {
        const all = h.receiver.verified(hook.path, hook.secret);
        return all.some((p) => p.type === 'org.updated') && all;
      }, 20_000, 'the committed org.updated');
      expect(payload!.webhookId).toBe(await h.eventId(hook.orgId, 'org.updated', { changes: ['name'] }));
      expect(name).toBeTruthy();
      // Events are taken in commit order: had the rolled-back one been written, it would have come first.
      expect(h.receiver.hits(hook.path)).toHaveLength(1);
      expect(JSON.stringify(h.receiver.hits(hook.path))).not.toContain(marker);
      expect(await h.query(`SELECT id FROM events WHERE payload->>'marker' = $1`, [marker])).toEqual([]);
      expect((await h.deliveries(hook)).map((d) => d.event_id)).toEqual([payload!.webhookId]);
    });

    it('a receiver that fails (500) then recovers gets the event by retry: the same webhook-id, both attempts listed with status, latency and the body cut to 1 KiB', async () => {
      const hook = await h.hook(['org.updated'], 'flaky');
      h.receiver.behave(hook.path, { kind: 'status', status: 500, body: `down ${'x'.repeat(5000)}` });
      await h.rename(hook);
      await h.receiver.waitForDeliveries(hook.path, hook.secret, 1);
      h.receiver.behave(hook.path, { kind: 'ok' });

      const delivery = await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'the retried delivery to succeed');
      const payloads = h.receiver.verified(hook.path, hook.secret);
      expect(payloads).toHaveLength(2);
      expect(payloads[0]!.webhookId).toBe(payloads[1]!.webhookId);
      expect(payloads[1]).toEqual(payloads[0]);
      expect(delivery.event_id).toBe(payloads[0]!.webhookId);
      expect(delivery).toMatchObject({ attempt_count: 2, next_attempt_at: null });
      const [failed, succeeded] = delivery.attempts;
      expect(failed).toMatchObject({ attempt: 1, status_code: 500, error: 'HTTP 500', latency_ms: expect.any(Number) });
      expect(failed!.response_body).toBe(`down ${'x'.repeat(5000)}`.slice(0, 1024));
      expect(succeeded).toMatchObject({ attempt: 2, status_code: 200, error: null, response_body: 'ok', latency_ms: expect.any(Number) });
      expect(new Date(succeeded!.attempted_at).getTime()).toBeGreaterThan(new Date(failed!.attempted_at).getTime());
      // A success resets the endpoint's failure count.
      expect(await h.endpoint(hook)).toMatchObject({ enabled: true, consecutive_failures: 0 });
    });

    it('a redirect is a failure and is not followed: the redirect target receives nothing', async () => {
      const hook = await h.hook(['org.updated'], 'redirect');
      const elsewhere = h.receiver.endpoint('redirect-target');
      h.receiver.behave(hook.path, { kind: 'redirect', location: elsewhere.url });
      await h.rename(hook);
      const delivery = await h.deliveryWhen(hook, (d) => d.status !== 'pending' && d.attempts.length >= 1, 'the first attempt');
      expect(delivery.attempts[0]).toMatchObject({ attempt: 1, status_code: 302, error: 'HTTP 302 (redirects are not followed)' });
      expect(delivery.status).toBe('retrying');
      expect(h.receiver.hits(hook.path).length).toBeGreaterThanOrEqual(1);
      expect(h.receiver.hits(elsewhere.path)).toEqual([]);
      // Stop the retries (the endpoint would be disabled after three).
      expect((await h.call('DELETE', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}`, hook.owner.token)).statusCode).toBe(204);
      expect(h.receiver.hits(elsewhere.path)).toEqual([]);
    });

    it('an endpoint that keeps failing is disabled after 3 failed attempts (audited as system, owners told); events meanwhile are not sent; PATCH enabled: true resumes the paused delivery', async () => {
      const hook = await h.hook(['org.updated'], 'failing');
      h.receiver.behave(hook.path, { kind: 'status', status: 503 });
      await h.rename(hook);

      await waitFor(async () => !(await h.endpoint(hook)).enabled, 30_000, 'the endpoint to be disabled');
      const endpoint = await h.endpoint(hook);
      expect(endpoint).toMatchObject({ enabled: false, consecutive_failures: 3, disabled_reason: expect.stringContaining('3') });
      const paused = await h.deliveryWhen(hook, (d) => d.status === 'paused', 'the delivery to be paused');
      expect(paused).toMatchObject({ attempt_count: 3, next_attempt_at: null });
      expect(paused.attempts.map((a) => [a.attempt, a.status_code, a.error])).toEqual([[1, 503, 'HTTP 503'], [2, 503, 'HTTP 503'], [3, 503, 'HTTP 503']]);
      expect(h.receiver.hits(hook.path)).toHaveLength(3);
      expect(new Set(h.receiver.verified(hook.path, hook.secret).map((p) => p.webhookId)).size).toBe(1);

      const audit = columns(await h.auditRows({ orgId: hook.orgId, action: 'webhook.disabled', targetId: hook.id }), 'actor_type', 'actor_id', 'target_type', 'reason');
      expect(audit).toEqual([{ actor_type: 'system', actor_id: null, target_type: 'webhook_endpoint', reason: endpoint.disabled_reason }]);
      // The organization's owners and admins are told, by email and in the app.
      const told = await h.query<{ channel: string; user_id: string }>(`SELECT channel, user_id FROM communication_logs WHERE template = 'webhooks.endpoint_disabled' ORDER BY channel`);
      expect(told.filter((row) => row.user_id === hook.owner.user.id).map((row) => row.channel)).toEqual(['email', 'in_app']);

      // While disabled, new events create no delivery and reach nobody.
      const name = await h.rename(hook);
      const laterId = await waitFor(async () => {
        const rows = await h.query<{ id: string; dispatched_at: Date | null }>(`SELECT id, dispatched_at FROM events WHERE org_id = $1 AND type = 'org.updated' AND payload->'changes' = '["name"]' ORDER BY created_at`, [hook.orgId]);
        return rows.length === 2 && rows[1]!.dispatched_at && rows[1]!.id;
      }, 10_000, 'the second event to be dispatched');
      expect((await h.deliveries(hook)).map((d) => d.id)).toEqual([paused.id]);

      // Re-enabled: the paused delivery goes out again (same webhook-id) and succeeds; the later event stays unsent.
      h.receiver.behave(hook.path, { kind: 'ok' });
      const enabled = await h.call('PATCH', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}`, hook.owner.token, { enabled: true });
      expect(enabled.statusCode, enabled.body).toBe(200);
      expect(enabled.json()).toMatchObject({ enabled: true, disabled_reason: null, consecutive_failures: 0 });
      const resumed = await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'the resumed delivery', paused.event_id);
      expect(resumed.attempts.map((a) => a.status_code)).toEqual([503, 503, 503, 200]);
      const payloads = await h.receiver.waitForDeliveries(hook.path, hook.secret, 4);
      expect(payloads).toHaveLength(4);
      expect(payloads[3]!.webhookId).toBe(paused.event_id);
      expect(payloads.some((p) => p.webhookId === laterId)).toBe(false);
      expect(JSON.stringify(payloads)).not.toContain(name);
    });

    it('after rotate-secret each delivery carries both signatures: a receiver on the old secret and one on the new both accept; after 24 hours only the new one signs', async () => {
      const hook = await h.hook(['org.updated'], 'rotate');
      const rotated = await h.call('POST', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/rotate-secret`, hook.owner.token);
      expect(rotated.statusCode, rotated.body).toBe(200);
      const newSecret = rotated.json<{ secret: string }>().secret;
      h.receiver.expectSecrets(hook.path, [hook.secret, newSecret]);

      await h.rename(hook);
      const [hit] = await waitFor(() => h.receiver.hits(hook.path).length >= 1 && h.receiver.hits(hook.path), 20_000, 'the delivery');
      expect(hit!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      for (const signature of hit!.headers['webhook-signature']!.split(' ')) expect(signature).toMatch(/^v1,/);
      const byOld = new Webhook(hook.secret).verify(hit!.body, hit!.headers) as WebhookPayload;
      const byNew = new Webhook(newSecret).verify(hit!.body, hit!.headers) as WebhookPayload;
      expect(byOld).toEqual(byNew);
      expect(byNew.type).toBe('org.updated');

      // 24 hours later (the overlap ends): only the new secret signs.
      await h.query('UPDATE webhook_endpoints SET previous_secret_expires_at = $1 WHERE id = $2', [new Date(Date.now() - 1000), hook.id]);
      await h.rename(hook);
      const hits = await waitFor(() => h.receiver.hits(hook.path).length >= 2 && h.receiver.hits(hook.path), 20_000, 'the second delivery');
      expect(hits[1]!.headers['webhook-signature']!.split(' ')).toHaveLength(1);
      expect((new Webhook(newSecret).verify(hits[1]!.body, hits[1]!.headers) as WebhookPayload).type).toBe('org.updated');
      expect(() => new Webhook(hook.secret).verify(hits[1]!.body, hits[1]!.headers)).toThrow();
    });

    it('POST …/test delivers a webhook.test event to the endpoint, whatever it subscribes to', async () => {
      const hook = await h.hook(['api_key.revoked'], 'test');
      const res = await h.call('POST', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/test`, hook.owner.token);
      expect(res.statusCode, res.body).toBe(202);
      const delivery = res.json<DeliveryBody>();
      expect(delivery).toMatchObject({ id: expect.stringMatching(/^whd_/), event_id: expect.stringMatching(/^evt_/), event_type: 'webhook.test', status: 'pending', attempts: [] });
      const [payload] = await h.receiver.waitForDeliveries(hook.path, hook.secret);
      expectWellFormed(payload!);
      expect(payload).toMatchObject({ type: 'webhook.test', webhookId: delivery.event_id, data: { org_id: hook.orgId, endpoint_id: hook.id } });
      await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'the test delivery to succeed', delivery.event_id);
    });

    it('a retry while the delivery is in flight is 409 delivery_in_progress; once it is done, a manual retry sends it again with the same webhook-id (audited)', async () => {
      const hook = await h.hook(['org.updated'], 'inflight');
      h.receiver.behave(hook.path, { kind: 'hold' });
      const delivery = (await h.call('POST', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/test`, hook.owner.token)).json<DeliveryBody>();
      await waitFor(() => h.receiver.held() === 1, 20_000, 'the request to be in flight');
      const retryUrl = `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/deliveries/${delivery.id}/retry`;
      expectProblem(await h.call('POST', retryUrl, hook.owner.token), 409, 'delivery_in_progress');

      h.receiver.behave(hook.path, { kind: 'ok' });
      h.receiver.release();
      await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'the held delivery to succeed', delivery.event_id);
      const retried = await h.call('POST', retryUrl, hook.owner.token);
      expect(retried.statusCode, retried.body).toBe(202);
      expect(retried.json()).toMatchObject({ id: delivery.id, status: 'pending', attempt_count: 1, attempts: [{ attempt: 1, status_code: 200 }] });
      const payloads = await h.receiver.waitForDeliveries(hook.path, hook.secret, 2);
      expect(payloads.map((p) => p.webhookId)).toEqual([delivery.event_id, delivery.event_id]);
      const done = await h.deliveryWhen(hook, (d) => d.status === 'succeeded' && d.attempts.length === 2, 'the second attempt', delivery.event_id);
      expect(done.attempts.map((a) => a.status_code)).toEqual([200, 200]);
      const audit = columns(await h.auditRows({ orgId: hook.orgId, action: 'webhook.delivery_retried' }), 'actor_id', 'target_id');
      expect(audit).toEqual([{ actor_id: hook.owner.user.id, target_id: delivery.id }]);
    });
  });
});

describe.each(engineCases())('webhook timeouts and manual retries on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    // One retry, a 1-second timeout, and a failure limit high enough that the delivery fails rather than the endpoint being disabled.
    const h = harness(engine, { WEBHOOK_RETRY_SCHEDULE_SECONDS: '1', WEBHOOK_DISABLE_AFTER_FAILURES: '10', WEBHOOK_TIMEOUT_SECONDS: '1' });

    it('a receiver that never answers: each attempt fails with a timeout error; after the schedule the delivery has failed; a manual retry then delivers it', async () => {
      const hook = await h.hook(['org.updated'], 'silent');
      h.receiver.behave(hook.path, { kind: 'hold' });
      const delivery = (await h.call('POST', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/test`, hook.owner.token)).json<DeliveryBody>();

      const failed = await h.deliveryWhen(hook, (d) => d.status === 'failed', 'the delivery to fail', delivery.event_id);
      expect(failed).toMatchObject({ attempt_count: 2, next_attempt_at: null });
      for (const attempt of failed.attempts) expect(attempt).toMatchObject({ status_code: null, response_body: null, error: 'timed out: no answer within 1 s' });
      expect(failed.attempts.map((a) => a.attempt)).toEqual([1, 2]);
      expect(await h.endpoint(hook)).toMatchObject({ enabled: true, consecutive_failures: 2 });
      // The receiver saw both (signed) requests.
      expect(h.receiver.verified(hook.path, hook.secret).map((p) => p.webhookId)).toEqual([delivery.event_id, delivery.event_id]);

      h.receiver.behave(hook.path, { kind: 'ok' });
      const retried = await h.call('POST', `/v1/orgs/${hook.orgId}/webhooks/${hook.id}/deliveries/${delivery.id}/retry`, hook.owner.token);
      expect(retried.statusCode, retried.body).toBe(202);
      // The answer shows the delivery queued again, with the attempts so far.
      expect(retried.json()).toMatchObject({ id: delivery.id, status: 'pending', attempt_count: 2, attempts: [{ attempt: 1, status_code: null }, { attempt: 2, status_code: null }] });
      const done = await h.deliveryWhen(hook, (d) => d.status === 'succeeded', 'the manual retry to succeed', delivery.event_id);
      expect(done).toMatchObject({ attempt_count: 3 });
      expect(done.attempts.map((a) => [a.attempt, a.status_code])).toEqual([[1, null], [2, null], [3, 200]]);
      const payloads = h.receiver.verified(hook.path, hook.secret);
      expect(payloads).toHaveLength(3);
      expect(payloads[2]).toMatchObject({ type: 'webhook.test', webhookId: delivery.event_id });
      expect(await h.endpoint(hook)).toMatchObject({ consecutive_failures: 0 });
    });
  });
});
