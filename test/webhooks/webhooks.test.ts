import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_TIER_LIMITS } from '../../src/config/config.schema.js';
import { EVENT_TYPES } from '../../src/modules/webhooks/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { columns, testClient, type Method, type Signed } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import type { DeliveryBody } from './bodies.js';
import { startReceiver, type Receiver } from './receiver.js';

/*
 * Webhook endpoints managed through HTTP on each engine: create (the secret once), list, get,
 * change, delete, rotate the secret, the delivery list; every refusal (bad body, unknown event type,
 * unsafe URL, a role without webhooks:write, an API key without the scope, another organization,
 * the tier limit) with nothing written; the audit entries; and the event catalogue.
 */

const { redisUrl } = inject('services');

/** The event types issue #7 names: the catalogue must cover at least these. */
const REQUIRED_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.email_verified', 'session.created', 'session.revoked', 'mfa.enabled', 'mfa.disabled', 'passkey.added',
  'passkey.removed', 'org.created', 'org.updated', 'org.deleted', 'member.added', 'member.removed', 'member.role_changed', 'invitation.created',
  'invitation.accepted', 'api_key.created', 'api_key.revoked',
];

interface EndpointBody {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  consecutive_failures: number;
  created_at: string;
  updated_at: string;
  secret?: string;
}

describe('the event catalogue', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createEngineApp('pglite');
  });
  afterAll(async () => app?.destroy());

  it('GET /v1/webhooks/event-types lists at least the types of the issue, each with a JSON Schema and an example whose data validates against it', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/v1/webhooks/event-types' });
    expect(res.statusCode, res.body).toBe(200);
    const { data } = res.json<{ data: { type: string; description: string; schema: Record<string, unknown>; example: { type: string; timestamp: string; data: unknown } }[] }>();
    const types = data.map((entry) => entry.type);
    expect(types).toEqual(expect.arrayContaining(REQUIRED_TYPES));
    expect(new Set(types).size).toBe(types.length);
    for (const entry of data) {
      const source = EVENT_TYPES[entry.type]!;
      expect(source, entry.type).toBeDefined();
      expect(entry.description.length, entry.type).toBeGreaterThan(0);
      // The schema served is the catalogue's JSON Schema, an object schema with typed properties.
      expect(entry.schema, entry.type).toEqual(JSON.parse(JSON.stringify(source.schema)));
      expect(entry.schema).toMatchObject({ type: 'object', properties: expect.any(Object), required: expect.any(Array) });
      // The example is a whole delivery body; its data validates against the schema.
      expect(entry.example).toEqual({ type: entry.type, timestamp: expect.any(String), data: expect.any(Object) });
      expect(new Date(entry.example.timestamp).toISOString()).toBe(entry.example.timestamp);
      expect([...Value.Errors(source.schema, entry.example.data)].map((error) => `${error.path} ${error.message}`), entry.type).toEqual([]);
    }
    // The schemas check something: an example of one type fails the schema of another.
    expect(Value.Check(EVENT_TYPES['member.added']!.schema, EVENT_TYPES['org.created']!.example)).toBe(false);
    expect(Value.Check(EVENT_TYPES['session.created']!.schema, { ...EVENT_TYPES['session.created']!.example, user_id: 'nobody' })).toBe(false);
  });
});

describe.each(engineCases())('webhook endpoints on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    let receiver: Receiver;

    const api = testClient(() => app);
    const { call, query, signedIn, joined } = api;
    const createOrg = async (owner: Signed): Promise<string> => (await api.createOrg(owner)).id;
    /** A receiver path and its URL; its deliveries (if any) are checked to verify with `secret` once known. */
    const target = (label: string) => receiver.endpoint(label);
    async function createEndpoint(orgId: string, token: string, body: Record<string, unknown> = {}): Promise<EndpointBody & { secret: string }> {
      const { path, url } = target('ep');
      const res = await call('POST', `/v1/orgs/${orgId}/webhooks`, token, { url, event_types: ['member.removed'], ...body });
      expect(res.statusCode, res.body).toBe(201);
      const created = res.json<EndpointBody & { secret: string }>();
      receiver.expectSecrets(path, [created.secret]);
      return created;
    }
    const endpointRows = (orgId: string) =>
      query<{ id: string; url: string; event_types: string[]; description: string | null; enabled: boolean; secret: string; previous_secret: string | null; previous_secret_expires_at: Date | null }>(
        'SELECT id, url, event_types, description, enabled, secret, previous_secret, previous_secret_expires_at FROM webhook_endpoints WHERE org_id = $1 ORDER BY id',
        [orgId],
      );
    /** The secrets that sign for a stored row (as the delivery job reads them). */
    const signingSecrets = (row: { secret: string; previous_secret: string | null; previous_secret_expires_at: Date | null }, at?: Date) =>
      app.context.webhooks.secretsOf({ secret: row.secret, previousSecret: row.previous_secret, previousSecretExpiresAt: row.previous_secret_expires_at } as Parameters<TestApp['context']['webhooks']['secretsOf']>[0], at);
    const auditOf = async (targetId: string) =>
      columns(await api.auditRows({ targetId }), 'org_id', 'actor_type', 'actor_id', 'action', 'target_type', 'changes', 'request_id');

    beforeAll(async () => {
      receiver = await startReceiver();
      app = await createEngineApp(engine, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
    });
    afterAll(async () => {
      await app?.destroy();
      receiver?.assertAllVerified();
      await receiver?.close();
    });

    it('POST creates an endpoint (201): the whsec_ secret once, no-store, sealed at rest; GET and the list never show it; audit webhook.created', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      const { url, path } = target('create');
      const res = await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url, event_types: ['org.updated', 'member.added'], description: 'CRM sync' });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      const created = res.json<EndpointBody & { secret: string }>();
      receiver.expectSecrets(path, [created.secret]);
      expect(created).toEqual({
        id: expect.stringMatching(/^whk_[0-9a-z]{26}$/), url, description: 'CRM sync', event_types: ['org.updated', 'member.added'], enabled: true, disabled_reason: null,
        consecutive_failures: 0, created_at: expect.any(String), updated_at: expect.any(String), secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      });
      expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);

      const [row] = await endpointRows(orgId);
      expect(row).toMatchObject({ id: created.id, url, event_types: ['org.updated', 'member.added'], description: 'CRM sync', enabled: true, previous_secret: null });
      // Sealed with TESSERA_SECRET: neither the secret nor its key material is stored in clear.
      expect(row!.secret).not.toContain(created.secret);
      expect(row!.secret).not.toContain(created.secret.slice('whsec_'.length));
      expect(signingSecrets(row!)).toEqual([created.secret]);

      const got = await call('GET', `/v1/orgs/${orgId}/webhooks/${created.id}`, owner.token);
      expect(got.statusCode, got.body).toBe(200);
      const { secret, ...withoutSecret } = created;
      expect(got.json()).toEqual(withoutSecret);
      const list = await call('GET', `/v1/orgs/${orgId}/webhooks`, owner.token);
      expect(list.statusCode).toBe(200);
      expect(list.json()).toEqual({ data: [withoutSecret], next_cursor: null });
      for (const body of [got.body, list.body]) expect(body).not.toContain(secret);

      const audit = await auditOf(created.id);
      expect(audit).toEqual([
        {
          org_id: orgId, actor_type: 'user', actor_id: owner.user.id, action: 'webhook.created', target_type: 'webhook_endpoint', request_id: expect.any(String),
          changes: { url: { after: url }, event_types: { after: ['org.updated', 'member.added'] } },
        },
      ]);
      expect(JSON.stringify(await query('SELECT * FROM audit_events WHERE org_id = $1', [orgId]))).not.toContain(secret.slice('whsec_'.length));
      // Nor in the logs.
      expect(app.logs.text()).not.toContain(secret.slice('whsec_'.length));
    });

    it('event_types ["*"] subscribes to everything; an endpoint created with an API key holding webhooks:write is its own', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      const key = await call('POST', `/v1/orgs/${orgId}/api-keys`, owner.token, { name: 'ci', scopes: ['webhooks:write'] });
      expect(key.statusCode, key.body).toBe(201);
      const { url, path } = target('key');
      const res = await call('POST', `/v1/orgs/${orgId}/webhooks`, null, { url, event_types: ['*'] }, { headers: { 'x-api-key': key.json<{ secret: string }>().secret } });
      expect(res.statusCode, res.body).toBe(201);
      const created = res.json<EndpointBody & { secret: string }>();
      receiver.expectSecrets(path, [created.secret]);
      expect(created.event_types).toEqual(['*']);
      expect(await auditOf(created.id)).toMatchObject([{ action: 'webhook.created', actor_type: 'api_key', actor_id: key.json<{ id: string }>().id }]);
    });

    it('PATCH changes url, event types, description and enabled (audited with before/after); DELETE removes it with its deliveries (audited)', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      const endpoint = await createEndpoint(orgId, owner.token, { description: 'first' });
      const { url: newUrl, path: newPath } = target('moved');
      receiver.expectSecrets(newPath, [endpoint.secret]);

      const patched = await call('PATCH', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token, { url: newUrl, event_types: ['org.updated'], description: null, enabled: false });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({ id: endpoint.id, url: newUrl, event_types: ['org.updated'], description: null, enabled: false });
      expect(patched.json()).not.toHaveProperty('secret');
      expect(await endpointRows(orgId)).toMatchObject([{ url: newUrl, event_types: ['org.updated'], description: null, enabled: false }]);
      const updated = (await auditOf(endpoint.id)).find((entry) => entry.action === 'webhook.updated');
      expect(updated).toMatchObject({
        actor_id: owner.user.id,
        changes: { url: { before: endpoint.url, after: newUrl }, event_types: { before: ['member.removed'], after: ['org.updated'] }, description: { before: 'first', after: null }, enabled: { before: true, after: false } },
      });

      // Re-enabled by PATCH, an unchanged field leaves nothing in the changes.
      const again = await call('PATCH', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token, { enabled: true, url: newUrl });
      expect(again.json()).toMatchObject({ enabled: true, disabled_reason: null, consecutive_failures: 0 });
      expect((await auditOf(endpoint.id)).filter((entry) => entry.action === 'webhook.updated')[1]!.changes).toEqual({ enabled: { before: false, after: true } });

      const test = await call('POST', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/test`, owner.token);
      expect(test.statusCode, test.body).toBe(202);
      await receiver.waitForDeliveries(newPath, endpoint.secret);

      const deleted = await call('DELETE', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token);
      expect(deleted.statusCode, deleted.body).toBe(204);
      expect(await endpointRows(orgId)).toEqual([]);
      expect(await query('SELECT id FROM webhook_deliveries WHERE endpoint_id = $1', [endpoint.id])).toEqual([]);
      expectProblem(await call('GET', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token), 404, 'endpoint_not_found');
      expectProblem(await call('DELETE', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token), 404, 'endpoint_not_found');
      expect((await auditOf(endpoint.id)).map((entry) => entry.action)).toEqual(['webhook.created', 'webhook.updated', 'webhook.updated', 'webhook.deleted']);
    });

    it('rotate-secret answers a new secret once (no-store); the old one keeps signing for 24 hours; audit webhook.secret_rotated without either secret', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      const endpoint = await createEndpoint(orgId, owner.token);
      const before = Date.now();
      const res = await call('POST', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/rotate-secret`, owner.token);
      const after = Date.now();
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const rotated = res.json<EndpointBody & { secret: string }>();
      expect(rotated).toMatchObject({ id: endpoint.id, secret: expect.stringMatching(/^whsec_/) });
      expect(rotated.secret).not.toBe(endpoint.secret);

      const [row] = await endpointRows(orgId);
      const overlapEnd = row!.previous_secret_expires_at!.getTime();
      expect(overlapEnd).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
      expect(overlapEnd).toBeLessThanOrEqual(after + 24 * 3600_000 + 1000);
      expect(signingSecrets(row!)).toEqual([rotated.secret, endpoint.secret]);
      // After the overlap only the new secret signs.
      expect(signingSecrets(row!, new Date(overlapEnd + 1))).toEqual([rotated.secret]);

      expect((await call('GET', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token)).body).not.toContain(rotated.secret);
      const audit = await auditOf(endpoint.id);
      expect(audit.map((entry) => entry.action)).toEqual(['webhook.created', 'webhook.secret_rotated']);
      const text = JSON.stringify(await query('SELECT * FROM audit_events WHERE org_id = $1', [orgId]));
      for (const secret of [endpoint.secret, rotated.secret]) {
        expect(text).not.toContain(secret.slice('whsec_'.length));
        expect(app.logs.text()).not.toContain(secret.slice('whsec_'.length));
      }
    });

    it('the delivery list pages newest first with a cursor; an empty endpoint lists nothing', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      const endpoint = await createEndpoint(orgId, owner.token);
      const deliveries = (query = '') => call('GET', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/deliveries${query}`, owner.token);
      expect((await deliveries()).json()).toEqual({ data: [], next_cursor: null });
      const first = (await call('POST', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/test`, owner.token)).json<DeliveryBody>();
      const second = (await call('POST', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/test`, owner.token)).json<DeliveryBody>();
      expect(first).toMatchObject({ event_type: 'webhook.test', status: 'pending', attempt_count: 0, attempts: [] });
      const page1 = (await deliveries('?limit=1')).json<{ data: DeliveryBody[]; next_cursor: string | null }>();
      expect(page1.data.map((d) => d.id)).toEqual([second.id]);
      expect(page1.next_cursor).toBe(second.id);
      const page2 = (await deliveries(`?limit=1&cursor=${page1.next_cursor}`)).json<{ data: DeliveryBody[]; next_cursor: string | null }>();
      expect(page2).toMatchObject({ data: [{ id: first.id }], next_cursor: null });
      expectProblem(await deliveries('?limit=0'), 400, 'validation_failed');
      expectProblem(await deliveries('?cursor=nope'), 400, 'validation_failed');
    });

    describe('refusals: nothing is written', () => {
      let owner: Signed;
      let orgId: string;
      const countEndpoints = async () => Number((await query<{ n: string }>('SELECT count(*) AS n FROM webhook_endpoints WHERE org_id = $1', [orgId]))[0]!.n);
      const auditCount = async () => Number((await query<{ n: string }>(`SELECT count(*) AS n FROM audit_events WHERE org_id = $1 AND action LIKE 'webhook.%'`, [orgId]))[0]!.n);

      beforeAll(async () => {
        owner = await signedIn('owner');
        orgId = await createOrg(owner);
      });

      it.each([
        ['no body', undefined],
        ['no url', { event_types: ['org.updated'] }],
        ['no event types', { url: 'http://127.0.0.1:9/x' }],
        ['empty event types', { url: 'http://127.0.0.1:9/x', event_types: [] }],
        ['a repeated event type', { url: 'http://127.0.0.1:9/x', event_types: ['org.updated', 'org.updated'] }],
        ['an event type that is not a string', { url: 'http://127.0.0.1:9/x', event_types: [{ type: 'org.updated' }] }],
        ['an unknown field', { url: 'http://127.0.0.1:9/x', event_types: ['org.updated'], secret: 'whsec_mine' }],
        ['an empty url', { url: '', event_types: ['org.updated'] }],
        ['a url too long', { url: `http://127.0.0.1:9/${'a'.repeat(2100)}`, event_types: ['org.updated'] }],
        ['a description too long', { url: 'http://127.0.0.1:9/x', event_types: ['org.updated'], description: 'd'.repeat(501) }],
      ])('POST with %s: 400', async (_label, body) => {
        expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, body), 400, 'validation_failed');
        expect(await countEndpoints()).toBe(0);
      });

      it('POST with an unknown event type (or webhook.test, which is not subscribable): 422 unknown_event_type naming it', async () => {
        for (const types of [['org.updated', 'org.exploded'], ['webhook.test']]) {
          const problem = expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url: receiver.endpoint('x').url, event_types: types }), 422, 'unknown_event_type');
          expect(problem.detail).toContain(types[types.length - 1]);
          expect(problem.errors).toEqual([{ path: 'body.event_types', message: `unknown event type ${types[types.length - 1]}` }]);
        }
        expect(await countEndpoints()).toBe(0);
        expect(await auditCount()).toBe(0);
      });

      it.each([['ftp://127.0.0.1/x'], ['http://user:pw@127.0.0.1:9/x'], ['http://127.0.0.1:9/x#frag'], ['not a url'], ['javascript:alert(1)']])(
        'POST with the URL %s: 422 unsafe_url',
        async (url) => {
          const problem = expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url, event_types: ['org.updated'] }), 422, 'unsafe_url');
          expect(problem.errors).toEqual([{ path: 'body.url', message: expect.any(String) }]);
          expect(await countEndpoints()).toBe(0);
        },
      );

      it('PATCH refusals: empty body, unknown field, bad id 400; unknown type and unsafe URL 422; unknown endpoint 404; the row is unchanged', async () => {
        const endpoint = await createEndpoint(orgId, owner.token);
        const url = `/v1/orgs/${orgId}/webhooks/${endpoint.id}`;
        const rows = await endpointRows(orgId);
        const audits = await auditCount();
        expectProblem(await call('PATCH', url, owner.token, {}), 400, 'validation_failed');
        expectProblem(await call('PATCH', url, owner.token, { secret: 'x' }), 400, 'validation_failed');
        expectProblem(await call('PATCH', url, owner.token, { enabled: 'yes' }), 400, 'validation_failed');
        expectProblem(await call('PATCH', `/v1/orgs/${orgId}/webhooks/not-an-id`, owner.token, { enabled: false }), 400, 'validation_failed');
        expectProblem(await call('PATCH', url, owner.token, { event_types: ['nope.nope'] }), 422, 'unknown_event_type');
        expectProblem(await call('PATCH', url, owner.token, { url: 'gopher://127.0.0.1/', description: 'changed' }), 422, 'unsafe_url');
        expectProblem(await call('PATCH', `/v1/orgs/${orgId}/webhooks/whk_${'0'.repeat(26)}`, owner.token, { enabled: false }), 404, 'endpoint_not_found');
        for (const path of ['/rotate-secret', '/test']) expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks/whk_${'0'.repeat(26)}${path}`, owner.token), 404, 'endpoint_not_found');
        expectProblem(await call('GET', `/v1/orgs/${orgId}/webhooks/whk_${'0'.repeat(26)}/deliveries`, owner.token), 404, 'endpoint_not_found');
        expect(await endpointRows(orgId)).toEqual(rows);
        expect(await auditCount()).toBe(audits);
        // Cleanup for the tier test below.
        expect((await call('DELETE', url, owner.token)).statusCode).toBe(204);
      });

      it('retry of an unknown delivery: 404 delivery_not_found; a malformed id: 400', async () => {
        const endpoint = await createEndpoint(orgId, owner.token);
        const base = `/v1/orgs/${orgId}/webhooks/${endpoint.id}/deliveries`;
        expectProblem(await call('POST', `${base}/whd_${'0'.repeat(26)}/retry`, owner.token), 404, 'delivery_not_found');
        expectProblem(await call('POST', `${base}/nope/retry`, owner.token), 400, 'validation_failed');
        expect((await call('DELETE', `/v1/orgs/${orgId}/webhooks/${endpoint.id}`, owner.token)).statusCode).toBe(204);
      });

      it(`the free tier allows ${DEFAULT_TIER_LIMITS.free.webhooks} endpoint: the next is 403 tier_limit_reached; starter allows ${DEFAULT_TIER_LIMITS.starter.webhooks}`, async () => {
        expect(DEFAULT_TIER_LIMITS.free.webhooks).toBe(1);
        await createEndpoint(orgId, owner.token);
        const problem = expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url: receiver.endpoint('over').url, event_types: ['org.updated'] }), 403, 'tier_limit_reached');
        expect(problem).toMatchObject({ limit: 'webhooks', max: 1, tier: 'free' });
        expect(await countEndpoints()).toBe(1);

        await query(`UPDATE organizations SET tier = 'starter' WHERE id = $1`, [orgId]);
        for (let i = 1; i < DEFAULT_TIER_LIMITS.starter.webhooks!; i++) await createEndpoint(orgId, owner.token);
        expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url: receiver.endpoint('over').url, event_types: ['org.updated'] }), 403, 'tier_limit_reached');
        expect(await countEndpoints()).toBe(DEFAULT_TIER_LIMITS.starter.webhooks);
      });
    });

    it('only webhooks:write may manage endpoints: member and viewer 403 on every route, admin allowed; an API key without the scope 403', async () => {
      const owner = await signedIn('owner');
      const orgId = await createOrg(owner);
      await query(`UPDATE organizations SET tier = 'starter' WHERE id = $1`, [orgId]);
      const endpoint = await createEndpoint(orgId, owner.token);
      const delivery = (await call('POST', `/v1/orgs/${orgId}/webhooks/${endpoint.id}/test`, owner.token)).json<DeliveryBody>();
      const base = `/v1/orgs/${orgId}/webhooks`;
      const requests: [Method, string, unknown?][] = [
        ['POST', base, { url: receiver.endpoint('no').url, event_types: ['org.updated'] }],
        ['GET', base],
        ['GET', `${base}/${endpoint.id}`],
        ['PATCH', `${base}/${endpoint.id}`, { enabled: false }],
        ['DELETE', `${base}/${endpoint.id}`],
        ['POST', `${base}/${endpoint.id}/rotate-secret`],
        ['POST', `${base}/${endpoint.id}/test`],
        ['GET', `${base}/${endpoint.id}/deliveries`],
        ['POST', `${base}/${endpoint.id}/deliveries/${delivery.id}/retry`],
      ];
      const snapshot = async () => ({
        endpoints: await endpointRows(orgId),
        deliveries: await query('SELECT id FROM webhook_deliveries WHERE org_id = $1 ORDER BY id', [orgId]),
      });
      const before = await snapshot();
      for (const role of ['member', 'viewer']) {
        const person = await joined(orgId, role);
        for (const [method, url, body] of requests) {
          const problem = expectProblem(await call(method, url, person.token, body), 403, 'permission_denied');
          expect(problem.detail, `${method} ${url}`).toContain('webhooks:write');
        }
      }
      const key = (await call('POST', `/v1/orgs/${orgId}/api-keys`, owner.token, { name: 'reader', scopes: ['org:read', 'members:read'] })).json<{ secret: string }>();
      for (const [method, url, body] of requests) expectProblem(await call(method, url, null, body, { headers: { 'x-api-key': key.secret } }), 403, 'scope_missing');
      expect(await snapshot()).toEqual(before);

      const admin = await joined(orgId, 'admin');
      const listed = await call('GET', base, admin.token);
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json<{ data: EndpointBody[] }>().data.map((e) => e.id)).toEqual([endpoint.id]);
      const created = await call('POST', base, admin.token, { url: receiver.endpoint('admin').url, event_types: ['org.updated'] });
      expect(created.statusCode, created.body).toBe(201);
      receiver.expectSecrets(new URL(created.json<EndpointBody>().url).pathname, [created.json<{ secret: string }>().secret]);
    });

    it("another organization's endpoints: 404 for the organization, and its endpoint id is not found in one's own", async () => {
      const alice = await signedIn('alice');
      const aliceOrg = await createOrg(alice);
      const aliceEndpoint = await createEndpoint(aliceOrg, alice.token);
      const bob = await signedIn('bob');
      const bobOrg = await createOrg(bob);
      const before = await endpointRows(aliceOrg);

      for (const [method, url, body] of [
        ['GET', `/v1/orgs/${aliceOrg}/webhooks`],
        ['GET', `/v1/orgs/${aliceOrg}/webhooks/${aliceEndpoint.id}`],
        ['PATCH', `/v1/orgs/${aliceOrg}/webhooks/${aliceEndpoint.id}`, { url: receiver.endpoint('stolen').url }],
        ['POST', `/v1/orgs/${aliceOrg}/webhooks`, { url: receiver.endpoint('intruder').url, event_types: ['*'] }],
      ] as [Method, string, unknown?][]) {
        expectProblem(await call(method, url, bob.token, body), 404, 'org_not_found');
      }
      for (const [method, suffix, body] of [
        ['GET', ''], ['PATCH', '', { enabled: false }], ['DELETE', ''], ['POST', '/rotate-secret'], ['POST', '/test'], ['GET', '/deliveries'],
      ] as [Method, string, unknown?][]) {
        const res = await call(method, `/v1/orgs/${bobOrg}/webhooks/${aliceEndpoint.id}${suffix}`, bob.token, body);
        expectProblem(res, 404, 'endpoint_not_found');
        expect(res.body).not.toContain(aliceEndpoint.url);
      }
      expect(await endpointRows(aliceOrg)).toEqual(before);
    });
  });
});
