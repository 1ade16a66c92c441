import { createHash, randomBytes } from 'node:crypto';
import type { LightMyRequestResponse as Response } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMemoryCache, type Cache } from '../../src/platform/cache/index.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { API_KEY_PREFIX, createApiKeysService, PERMISSIONS } from '../../src/modules/orgs/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { columns, testClient, type Method } from '../helpers/client.js';
import { bearer, expectProblem } from '../helpers/http.js';

/*
 * API keys of an organization end to end through HTTP on each engine (PGlite with the in-process
 * cache, PostgreSQL with Redis): creation (the secret shown once, only its SHA-256 stored), listing,
 * revocation; authenticating with X-API-Key or a bearer token on the organization's routes within
 * the key's scopes, and every refusal (missing scope, another organization, person-only routes,
 * non-organization routes, unknown, revoked and expired keys); the no-escalation rule for scopes;
 * the tier's live-key limit; audit entries made by a key; and the per-key and per-tier rate limits.
 */

const SECRET = /^tsk_live_[A-Za-z0-9_-]{43}$/;
/** Every permission a key may carry: all but the owners' own org:delete and org:transfer. */
const GRANTABLE = Object.keys(PERMISSIONS).filter((p) => p !== 'org:delete' && p !== 'org:transfer');
const KEY_ID = /^key_[0-9a-z]{26}$/;
const { redisUrl } = inject('services');

type Via = 'x-api-key' | 'bearer';

interface KeyBody {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  rate_limit_per_minute: number | null;
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  last_used_ip: string | null;
}
interface CreatedKey extends KeyBody {
  secret: string;
}
type KeyRow = {
  org_id: string;
  id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  scopes: string[];
  rate_limit_per_minute: number | null;
  created_by: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  last_used_ip: string | null;
  revoked_at: Date | null;
};

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

async function appOn(engine: Engine, tierLimits: Record<string, unknown> = {}): Promise<TestApp> {
  // Members are not what is tested here: no tier limit on them; the api_keys limit stays the default (2 on free).
  const env = { TIER_LIMITS: JSON.stringify({ free: { members: null, ...tierLimits } }) };
  return createEngineApp(engine, env);
}

/** The shared test client (its people seeded: no argon2 work for the many teams here) with keys and their rows, against whichever app `current()` answers. */
function harness(current: () => TestApp) {
  const api = testClient(current, { accounts: 'seeded' });
  const { call, query } = api;
  /** A request authenticated by an API key, in the X-API-Key header or as a bearer token (from 127.0.0.1 unless another address is given). */
  const withKey = (method: Method, url: string, secret: string, options: { payload?: unknown; via?: Via; headers?: Record<string, string>; remoteAddress?: string } = {}) =>
    call(method, url, null, options.payload, {
      ip: options.remoteAddress ?? '127.0.0.1',
      headers: { ...(options.via === 'bearer' ? bearer(secret) : { 'x-api-key': secret }), ...options.headers },
    });
  /** Creates a key through the API (201 expected). */
  async function createKey(orgId: string, token: string, body: { name?: string; scopes: string[]; expires_at?: string; rate_limit_per_minute?: number }): Promise<CreatedKey> {
    const res = await call('POST', `/v1/orgs/${orgId}/api-keys`, token, { name: `Key ${randomBytes(3).toString('hex')}`, ...body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<CreatedKey>();
  }
  const keyRow = async (orgId: string, id: string): Promise<KeyRow | undefined> => (await query<KeyRow>('SELECT * FROM api_keys WHERE org_id = $1 AND id = $2', [orgId, id]))[0];
  const keyCount = async (orgId: string): Promise<number> => (await query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE org_id = $1', [orgId]))[0]!.n;
  const audit = async (orgId: string, action: string) =>
    columns(await api.auditRows({ orgId, action }), 'actor_type', 'actor_id', 'target_type', 'target_id', 'result', 'changes');
  const events = (orgId: string, type: string) => api.eventRows({ orgId, type });
  const keyAudits = async (orgId: string): Promise<number> =>
    (await query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND action LIKE 'api_key.%'", [orgId]))[0]!.n;
  return { ...api, withKey, createKey, keyRow, keyCount, audit, events, keyAudits };
}

/** The RateLimit-* headers of an answer, as numbers. */
function rateHeaders(res: Response): { limit: number; remaining: number; reset: number } {
  return { limit: Number(res.headers['ratelimit-limit']), remaining: Number(res.headers['ratelimit-remaining']), reset: Number(res.headers['ratelimit-reset']) };
}

describe.each(engineCases())('API keys on $engine', ({ engine, available }) => {
  const label = `${engine}${engine === 'postgres' ? ' + Redis' : ''}`;
  const skip = !available || (engine === 'postgres' && !redisUrl);

  describe.skipIf(skip)(label, () => {
    let app: TestApp;
    const { call, withKey, query, joined, team, createKey, keyRow, keyCount, audit, events, keyAudits } = harness(() => app);

    beforeAll(async () => {
      app = await appOn(engine);
    });
    afterAll(async () => app?.destroy());

    describe('creating, listing, revoking', () => {
      it('creates a key (201): the secret tsk_live_… is answered once, its prefix is its start, only its SHA-256 is stored; api_key.created is audited and published without it', async () => {
        const t = await team();
        const res = await call('POST', `/v1/orgs/${t.org.id}/api-keys`, t.owner.token, { name: '  CI deploys ', scopes: ['members:read', 'org:read'] });
        expect(res.statusCode, res.body).toBe(201);
        expect(res.headers['cache-control']).toBe('no-store');
        const key = res.json<CreatedKey>();
        expect(key).toEqual({
          id: expect.stringMatching(KEY_ID), name: 'CI deploys', prefix: expect.any(String), scopes: ['org:read', 'members:read'], rate_limit_per_minute: null,
          created_by: t.owner.user.id, created_at: expect.any(String), expires_at: null, last_used_at: null, last_used_ip: null, secret: expect.stringMatching(SECRET),
        });
        expect(API_KEY_PREFIX).toBe('tsk_live_');
        expect(key.prefix).toMatch(/^tsk_live_.{8}$/);
        expect(key.secret.startsWith(key.prefix)).toBe(true);
        const hidden = key.secret.slice(key.prefix.length);

        // The row: the hash of the secret and the readable prefix; no column holds the secret or its hidden part.
        const row = (await keyRow(t.org.id, key.id))!;
        expect(row).toMatchObject({ name: 'CI deploys', prefix: key.prefix, secret_hash: sha256(key.secret), scopes: ['org:read', 'members:read'], created_by: t.owner.user.id, revoked_at: null });
        expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(JSON.stringify(row)).not.toContain(hidden);

        expect(await audit(t.org.id, 'api_key.created')).toEqual([{ actor_type: 'user', actor_id: t.owner.user.id, target_type: 'api_key', target_id: key.id, result: 'success', changes: null }]);
        expect(await events(t.org.id, 'api_key.created')).toEqual([
          { type: 'api_key.created', org_id: t.org.id, payload: { org_id: t.org.id, api_key_id: key.id, name: 'CI deploys', prefix: key.prefix, scopes: ['org:read', 'members:read'] } },
        ]);
        // Nowhere in the audit log or the outbox, in any row.
        expect(JSON.stringify(await query('SELECT * FROM audit_events'))).not.toContain(hidden);
        expect(JSON.stringify(await query('SELECT * FROM events'))).not.toContain(hidden);

        // Used both ways, then: still not in the logs.
        expect((await withKey('GET', `/v1/orgs/${t.org.id}/members`, key.secret)).statusCode).toBe(200);
        expect((await withKey('GET', `/v1/orgs/${t.org.id}/members`, key.secret, { via: 'bearer' })).statusCode).toBe(200);
        expect(app.logs.text()).not.toContain(hidden);
      });

      it('lists live keys without their secrets, with prefix, scopes, created_by; last_used_at / last_used_ip are null before a use and set after one', async () => {
        const t = await team();
        const first = await createKey(t.org.id, t.owner.token, { name: 'First', scopes: ['org:read'] });
        const second = await createKey(t.org.id, t.admin.token, { name: 'Second', scopes: ['members:read'], rate_limit_per_minute: 100 });

        const list = async (): Promise<KeyBody[]> => {
          const res = await call('GET', `/v1/orgs/${t.org.id}/api-keys`, t.admin.token);
          expect(res.statusCode, res.body).toBe(200);
          expect(res.body).not.toContain(first.secret.slice(first.prefix.length));
          expect(res.body).not.toContain(second.secret.slice(second.prefix.length));
          const body = res.json<{ data: KeyBody[]; next_cursor: null }>();
          expect(body.next_cursor).toBeNull();
          for (const key of body.data) expect(key).not.toHaveProperty('secret');
          return body.data;
        };
        const { secret: _first, ...firstListed } = first;
        const { secret: _second, ...secondListed } = second;
        expect(await list()).toEqual([firstListed, secondListed]);
        expect(secondListed).toMatchObject({ created_by: t.admin.user.id, rate_limit_per_minute: 100, last_used_at: null, last_used_ip: null });

        const before = Date.now();
        expect((await withKey('GET', `/v1/orgs/${t.org.id}`, first.secret)).statusCode).toBe(200);
        const [used, unused] = await list();
        expect(used!.last_used_ip).toBe('127.0.0.1');
        expect(Date.parse(used!.last_used_at!)).toBeGreaterThanOrEqual(before - 1000);
        expect(unused).toMatchObject({ id: second.id, last_used_at: null, last_used_ip: null });
        expect(await keyRow(t.org.id, first.id)).toMatchObject({ last_used_ip: '127.0.0.1', last_used_at: expect.any(Date) });

        // Within the minute, the same address is not written again; a new address is.
        expect((await withKey('GET', `/v1/orgs/${t.org.id}`, first.secret)).statusCode).toBe(200);
        expect((await list())[0]!.last_used_at).toBe(used!.last_used_at);
        expect((await withKey('GET', `/v1/orgs/${t.org.id}`, first.secret, { remoteAddress: '203.0.113.9' })).statusCode).toBe(200);
        expect((await list())[0]!.last_used_ip).toBe('203.0.113.9');

        // Members without api_keys:write do not see the keys.
        for (const who of [t.member, t.viewer]) expect(expectProblem(await call('GET', `/v1/orgs/${t.org.id}/api-keys`, who.token), 403, 'permission_denied').permission).toBe('api_keys:write');
      });

      it('revokes a key (204): it stops working at once, is no longer listed, api_key.revoked is audited and published; a second revocation, an unknown id and another organization\'s key are 404', async () => {
        const t = await team();
        const other = await team();
        const key = await createKey(t.org.id, t.owner.token, { name: 'Doomed', scopes: ['org:read'] });
        const foreign = await createKey(other.org.id, other.owner.token, { scopes: ['org:read'] });
        expect((await withKey('GET', '/v1/org', key.secret)).statusCode).toBe(200);

        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${key.id}`, t.member.token), 403, 'permission_denied');
        const res = await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${key.id}`, t.admin.token);
        expect(res.statusCode, res.body).toBe(204);
        expect((await keyRow(t.org.id, key.id))!.revoked_at).toBeInstanceOf(Date);

        // At once: the very next request with it is refused, both ways.
        const refused = expectProblem(await withKey('GET', '/v1/org', key.secret), 401, 'invalid_token');
        expect(refused.detail).toContain('revoked');
        expectProblem(await withKey('GET', `/v1/orgs/${t.org.id}`, key.secret, { via: 'bearer' }), 401, 'invalid_token');
        expect((await call('GET', `/v1/orgs/${t.org.id}/api-keys`, t.owner.token)).json<{ data: KeyBody[] }>().data).toEqual([]);

        expect(await audit(t.org.id, 'api_key.revoked')).toEqual([{ actor_type: 'user', actor_id: t.admin.user.id, target_type: 'api_key', target_id: key.id, result: 'success', changes: null }]);
        expect(await events(t.org.id, 'api_key.revoked')).toEqual([
          { type: 'api_key.revoked', org_id: t.org.id, payload: { org_id: t.org.id, api_key_id: key.id, name: 'Doomed', prefix: key.prefix, scopes: ['org:read'] } },
        ]);

        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${key.id}`, t.owner.token), 404, 'api_key_not_found');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${newId('key')}`, t.owner.token), 404, 'api_key_not_found');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${foreign.id}`, t.owner.token), 404, 'api_key_not_found');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/not-a-key`, t.owner.token), 400, 'validation_failed');
        expect((await keyRow(other.org.id, foreign.id))!.revoked_at).toBeNull();
        expect((await withKey('GET', '/v1/org', foreign.secret)).statusCode).toBe(200);
        expect(await audit(t.org.id, 'api_key.revoked')).toHaveLength(1);
      });
    });

    describe('authenticating with a key', () => {
      it('works with X-API-Key and with Authorization: Bearer on its organization\'s routes within its scopes; GET /v1/org answers the key\'s organization', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read', 'members:read'] });

        for (const via of ['x-api-key', 'bearer'] as const) {
          const members = await withKey('GET', `/v1/orgs/${t.org.id}/members`, key.secret, { via });
          expect(members.statusCode, members.body).toBe(200);
          expect(members.json<{ data: { user_id: string }[] }>().data.map((m) => m.user_id).sort()).toEqual([t.owner.user.id, t.admin.user.id, t.member.user.id, t.viewer.user.id].sort());

          const org = await withKey('GET', '/v1/org', key.secret, { via });
          expect(org.statusCode, org.body).toBe(200);
          expect(org.json()).toMatchObject({ id: t.org.id, tier: 'free', role: 'api_key', limits: { api_keys: 2 } });
          expect((await withKey('GET', `/v1/orgs/${t.org.id}`, key.secret, { via })).json()).toMatchObject({ id: t.org.id, role: 'api_key' });
          expect((await withKey('GET', `/v1/orgs/${t.org.id}/roles`, key.secret, { via })).statusCode).toBe(200);
        }
        // The scheme is case-insensitive; the organization named by X-Organization-Id may be the key's own.
        expect((await app.server.inject({ method: 'GET', url: '/v1/org', headers: { authorization: `bearer ${key.secret}` } })).statusCode).toBe(200);
        expect((await withKey('GET', '/v1/org', key.secret, { headers: { 'x-organization-id': t.org.id } })).json()).toMatchObject({ id: t.org.id });

        // check-permission answers for the key's scopes, and (with members:read) for members.
        const check = async (body: Record<string, unknown>, url = `/v1/orgs/${t.org.id}/check-permission`) => {
          const res = await withKey('POST', url, key.secret, { payload: body });
          expect(res.statusCode, res.body).toBe(200);
          return res.json<{ allowed: boolean }>().allowed;
        };
        expect(await check({ permission: 'members:read' })).toBe(true);
        expect(await check({ permission: 'members:write' })).toBe(false);
        expect(await check({ permission: 'org:read' }, '/v1/org/check-permission')).toBe(true);
        expect(await check({ permission: 'members:write', user_id: t.admin.user.id })).toBe(true);
        expect(await check({ permission: 'members:write', user_id: t.viewer.user.id })).toBe(false);
      });

      it('answers 403 scope_missing (naming the scope) for a route outside the key\'s scopes, changing nothing', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['members:read'] });
        const cases: [Method, string, string, unknown?][] = [
          ['GET', `/v1/orgs/${t.org.id}`, 'org:read'],
          ['GET', '/v1/org', 'org:read'],
          ['GET', `/v1/orgs/${t.org.id}/roles`, 'org:read'],
          ['PATCH', `/v1/orgs/${t.org.id}`, 'org:write', { name: 'Renamed by key' }],
          ['PATCH', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, 'members:write', { role: 'viewer' }],
          ['DELETE', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, 'members:write'],
          ['POST', `/v1/orgs/${t.org.id}/roles`, 'roles:write', { name: 'By key', permissions: [] }],
          ['GET', `/v1/orgs/${t.org.id}/api-keys`, 'api_keys:write'],
          ['DELETE', `/v1/orgs/${t.org.id}/api-keys/${key.id}`, 'api_keys:write'],
        ];
        for (const [method, url, scope, payload] of cases) {
          const body = expectProblem(await withKey(method, url, key.secret, payload === undefined ? {} : { payload }), 403, 'scope_missing');
          expect(body.scope, `${method} ${url}`).toBe(scope);
        }
        expect(expectProblem(await withKey('GET', `/v1/orgs/${t.org.id}`, key.secret, { via: 'bearer' }), 403, 'scope_missing').scope).toBe('org:read');
        expect(await query('SELECT user_id, role FROM org_members WHERE org_id = $1 AND user_id = $2', [t.org.id, t.member.user.id])).toEqual([{ user_id: t.member.user.id, role: 'member' }]);
        expect((await keyRow(t.org.id, key.id))!.revoked_at).toBeNull();
        expect(await query('SELECT id FROM org_roles WHERE org_id = $1', [t.org.id])).toEqual([]);
        expect(await audit(t.org.id, 'org.updated')).toEqual([]);
      });

      it('answers 404 org_not_found for another organization, named in the path or by X-Organization-Id, which stays as it was', async () => {
        const t = await team();
        const other = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: GRANTABLE.filter((p) => p !== 'billing:write') });
        const name = (await query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [other.org.id]))[0]!.name;
        for (const via of ['x-api-key', 'bearer'] as const) {
          expectProblem(await withKey('GET', `/v1/orgs/${other.org.id}/members`, key.secret, { via }), 404, 'org_not_found');
          expectProblem(await withKey('GET', `/v1/orgs/${other.org.id}`, key.secret, { via }), 404, 'org_not_found');
          expectProblem(await withKey('PATCH', `/v1/orgs/${other.org.id}`, key.secret, { via, payload: { name: 'Taken over' } }), 404, 'org_not_found');
          expectProblem(await withKey('PATCH', `/v1/orgs/${other.org.id}/members/${other.member.user.id}`, key.secret, { via, payload: { role: 'admin' } }), 404, 'org_not_found');
          expectProblem(await withKey('GET', '/v1/org', key.secret, { via, headers: { 'x-organization-id': other.org.id } }), 404, 'org_not_found');
          expectProblem(await withKey('GET', `/v1/orgs/${newId('org')}/members`, key.secret, { via }), 404, 'org_not_found');
        }
        expect((await query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [other.org.id]))[0]!.name).toBe(name);
        expect((await query<{ role: string }>('SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2', [other.org.id, other.member.user.id]))[0]!.role).toBe('member');
      });

      it('refuses person-only routes with 403 api_key_not_allowed, whatever its scopes: leave, delete the organization, transfer ownership, create API keys', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: GRANTABLE });
        expect(key.scopes).toEqual(GRANTABLE);
        const cases: [Method, string, unknown?][] = [
          ['POST', `/v1/orgs/${t.org.id}/leave`],
          ['DELETE', `/v1/orgs/${t.org.id}`],
          ['POST', `/v1/orgs/${t.org.id}/transfer-ownership`, { user_id: t.admin.user.id }],
          ['POST', `/v1/orgs/${t.org.id}/api-keys`, { name: 'Minted by a key', scopes: ['org:read'] }],
        ];
        for (const via of ['x-api-key', 'bearer'] as const) {
          for (const [method, url, payload] of cases) {
            expectProblem(await withKey(method, url, key.secret, { via, ...(payload === undefined ? {} : { payload }) }), 403, 'api_key_not_allowed');
          }
        }
        expect(await query('SELECT id FROM organizations WHERE id = $1', [t.org.id])).toHaveLength(1);
        expect(await query('SELECT user_id FROM org_members WHERE org_id = $1', [t.org.id])).toHaveLength(4);
        expect((await query<{ role: string }>('SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2', [t.org.id, t.owner.user.id]))[0]!.role).toBe('owner');
        expect(await keyCount(t.org.id)).toBe(1);
        expect(await audit(t.org.id, 'api_key.created')).toHaveLength(1);
      });

      it('is no credential outside organization routes (GET /v1/me, GET and POST /v1/orgs: 401)', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        expect((await withKey('GET', '/v1/me', key.secret)).statusCode).toBe(401);
        expectProblem(await withKey('GET', '/v1/me', key.secret, { via: 'bearer' }), 401, 'invalid_token');
        expect((await withKey('GET', '/v1/orgs', key.secret)).statusCode).toBe(401);
        expectProblem(await withKey('GET', '/v1/orgs', key.secret, { via: 'bearer' }), 401, 'invalid_token');
        expectProblem(await withKey('POST', '/v1/orgs', key.secret, { via: 'bearer', payload: { name: 'By key' } }), 401, 'invalid_token');
        expect(await query('SELECT id FROM organizations WHERE name = $1', ['By key'])).toEqual([]);
      });

      it('refuses unknown, garbled and tampered keys with 401 invalid_token', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        const last = key.secret.at(-1)!;
        const tampered = key.secret.slice(0, -1) + (last === 'A' ? 'B' : 'A');
        const secrets = [`tsk_live_${randomBytes(32).toString('base64url')}`, 'garbage', 'tsk_live_', tampered, `tsk_live_${'a'.repeat(300)}`, key.prefix];
        for (const secret of secrets) {
          const res = await withKey('GET', `/v1/orgs/${t.org.id}`, secret);
          expectProblem(res, 401, 'invalid_token');
          expect(res.headers['www-authenticate']).toContain('invalid_token');
        }
        expectProblem(await withKey('GET', '/v1/org', `tsk_live_${randomBytes(32).toString('base64url')}`, { via: 'bearer' }), 401, 'invalid_token');
        // A key in X-API-Key is what authenticates, even beside a valid access token.
        expectProblem(await withKey('GET', `/v1/orgs/${t.org.id}`, 'garbage', { headers: bearer(t.owner.token) }), 401, 'invalid_token');
        expect((await withKey('GET', `/v1/orgs/${t.org.id}`, key.secret)).statusCode).toBe(200);
      });

      it('an expired key answers 401 at once (it stays listed with its expiry); an expiry in the past or malformed is refused at creation (400)', async () => {
        const t = await team();
        const expiresAt = new Date(Date.now() + 3600_000).toISOString();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'], expires_at: expiresAt });
        expect(key.expires_at).toBe(expiresAt);
        expect((await withKey('GET', '/v1/org', key.secret)).statusCode).toBe(200);

        await query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE org_id = $1 AND id = $2", [t.org.id, key.id]);
        expectProblem(await withKey('GET', '/v1/org', key.secret), 401, 'invalid_token');
        expectProblem(await withKey('GET', '/v1/org', key.secret, { via: 'bearer' }), 401, 'invalid_token');
        const listed = (await call('GET', `/v1/orgs/${t.org.id}/api-keys`, t.owner.token)).json<{ data: KeyBody[] }>().data;
        expect(listed).toEqual([expect.objectContaining({ id: key.id, expires_at: expect.any(String) })]);
        expect(Date.parse(listed[0]!.expires_at!)).toBeLessThan(Date.now());

        const past = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/api-keys`, t.owner.token, { name: 'Late', scopes: ['org:read'], expires_at: new Date(Date.now() - 60_000).toISOString() }), 400, 'validation_failed');
        expect(past.errors).toEqual([{ path: 'body.expires_at', message: 'must be in the future' }]);
        expectProblem(await call('POST', `/v1/orgs/${t.org.id}/api-keys`, t.owner.token, { name: 'Bad date', scopes: ['org:read'], expires_at: 'tomorrow' }), 400, 'validation_failed');
        expect(await keyCount(t.org.id)).toBe(1);
      });
    });

    describe('refusals at creation', () => {
      it('refuses a member without api_keys:write (403), scopes the creator lacks (403 with `missing`), unknown and owner-only scopes (422) and malformed bodies (400), creating nothing', async () => {
        const t = await team();
        const url = `/v1/orgs/${t.org.id}/api-keys`;
        for (const who of [t.member, t.viewer]) {
          expect(expectProblem(await call('POST', url, who.token, { name: 'Mine', scopes: ['org:read'] }), 403, 'permission_denied').permission).toBe('api_keys:write');
        }
        const escalation = expectProblem(await call('POST', url, t.admin.token, { name: 'Payer', scopes: ['org:read', 'billing:write'] }), 403, 'permission_denied');
        expect(escalation.missing).toEqual(['billing:write']);

        const unknown = expectProblem(await call('POST', url, t.owner.token, { name: 'Bad', scopes: ['org:read', 'org:everything'] }), 422, 'unknown_permission');
        expect(unknown.errors).toEqual([{ path: 'body.scopes.1', message: expect.stringContaining('org:everything') }]);
        for (const scope of ['org:delete', 'org:transfer']) {
          const body = expectProblem(await call('POST', url, t.owner.token, { name: 'Owner-only', scopes: [scope] }), 422, 'unknown_permission');
          expect(body.errors).toEqual([{ path: 'body.scopes.0', message: `${scope} belongs to owners only` }]);
        }

        const bodies: unknown[] = [
          {},
          { name: 'No scopes' },
          { name: 'Empty scopes', scopes: [] },
          { scopes: ['org:read'] },
          { name: '', scopes: ['org:read'] },
          { name: '  ', scopes: ['org:read'] },
          { name: 'n'.repeat(101), scopes: ['org:read'] },
          { name: 'Dup', scopes: ['org:read', 'org:read'] },
          { name: 'Zero', scopes: ['org:read'], rate_limit_per_minute: 0 },
          { name: 'Fraction', scopes: ['org:read'], rate_limit_per_minute: 1.5 },
          { name: 'Extra', scopes: ['org:read'], secret: 'tsk_live_mine' },
        ];
        for (const body of bodies) expectProblem(await call('POST', url, t.owner.token, body), 400, 'validation_failed');
        expectProblem(await call('POST', url, null, { name: 'Anon', scopes: ['org:read'] }), 401, 'unauthorized');

        expect(await keyCount(t.org.id)).toBe(0);
        expect(await keyAudits(t.org.id)).toBe(0);
        // An admin creates a key with what an admin holds.
        expect((await createKey(t.org.id, t.admin.token, { scopes: ['org:write', 'members:write', 'api_keys:write'] })).created_by).toBe(t.admin.user.id);
      });

      it('a custom role\'s holder with api_keys:write creates keys only within the role\'s permissions', async () => {
        const t = await team();
        const res = await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: 'Key manager', permissions: ['org:read', 'api_keys:write'] });
        expect(res.statusCode, res.body).toBe(201);
        const holder = await joined(t.org.id, res.json<{ id: string }>().id, 'key-manager');
        expect((await createKey(t.org.id, holder.token, { scopes: ['org:read'] })).created_by).toBe(holder.user.id);
        expect(expectProblem(await call('POST', `/v1/orgs/${t.org.id}/api-keys`, holder.token, { name: 'More', scopes: ['org:read', 'members:read'] }), 403, 'permission_denied').missing).toEqual(['members:read']);
        expect(await keyCount(t.org.id)).toBe(1);
      });

      it('the free tier allows 2 live keys: the third is 403 tier_limit_reached (limit api_keys); revoking one, or one expiring, frees a place', async () => {
        const t = await team();
        const url = `/v1/orgs/${t.org.id}/api-keys`;
        const first = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        const second = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        const refused = expectProblem(await call('POST', url, t.owner.token, { name: 'Third', scopes: ['org:read'] }), 403, 'tier_limit_reached');
        expect(refused).toMatchObject({ limit: 'api_keys', max: 2, tier: 'free' });
        expect(await keyCount(t.org.id)).toBe(2);
        expect(await audit(t.org.id, 'api_key.created')).toHaveLength(2);

        expect((await call('DELETE', `${url}/${first.id}`, t.owner.token)).statusCode).toBe(204);
        const third = await createKey(t.org.id, t.owner.token, { name: 'Third', scopes: ['org:read'] });
        expectProblem(await call('POST', url, t.owner.token, { name: 'Fourth', scopes: ['org:read'] }), 403, 'tier_limit_reached');

        await query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE org_id = $1 AND id = $2", [t.org.id, second.id]);
        await createKey(t.org.id, t.owner.token, { name: 'Fourth', scopes: ['org:read'] });
        expectProblem(await call('POST', url, t.owner.token, { name: 'Fifth', scopes: ['org:read'] }), 403, 'tier_limit_reached');
        expect((await withKey('GET', '/v1/org', third.secret)).statusCode).toBe(200);
      });
    });

    describe('changes made with a key', () => {
      it('are audited with actor_type api_key and the key\'s id (org.updated, member.role_changed, api_key.revoked)', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read', 'org:write', 'members:read', 'members:write', 'api_keys:write'] });
        const spare = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        const name = (await query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [t.org.id]))[0]!.name;

        const renamed = await withKey('PATCH', `/v1/orgs/${t.org.id}`, key.secret, { payload: { name: 'Renamed by a key' } });
        expect(renamed.statusCode, renamed.body).toBe(200);
        expect(renamed.json()).toMatchObject({ id: t.org.id, name: 'Renamed by a key', role: 'api_key' });
        expect(await audit(t.org.id, 'org.updated')).toEqual([
          { actor_type: 'api_key', actor_id: key.id, target_type: 'org', target_id: t.org.id, result: 'success', changes: { name: { before: name, after: 'Renamed by a key' } } },
        ]);
        expect((await events(t.org.id, 'org.updated'))[0]!.payload).toEqual({ org_id: t.org.id, changes: ['name'] });

        const changed = await withKey('PATCH', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, key.secret, { via: 'bearer', payload: { role: 'viewer' } });
        expect(changed.statusCode, changed.body).toBe(204);
        expect(await audit(t.org.id, 'member.role_changed')).toEqual([
          { actor_type: 'api_key', actor_id: key.id, target_type: 'user', target_id: t.member.user.id, result: 'success', changes: { role: { before: 'member', after: 'viewer' } } },
        ]);

        expect((await withKey('DELETE', `/v1/orgs/${t.org.id}/api-keys/${spare.id}`, key.secret)).statusCode).toBe(204);
        expect((await audit(t.org.id, 'api_key.revoked'))).toEqual([{ actor_type: 'api_key', actor_id: key.id, target_type: 'api_key', target_id: spare.id, result: 'success', changes: null }]);
      });

      it('a key grants no more than its scopes: no owner role, no role holding what the key lacks, no member holding more', async () => {
        const t = await team();
        const key = await createKey(t.org.id, t.owner.token, { scopes: ['org:read', 'members:read', 'members:write'] });
        expectProblem(await withKey('PATCH', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, key.secret, { payload: { role: 'owner' } }), 403, 'permission_denied');
        expectProblem(await withKey('PATCH', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, key.secret, { payload: { role: 'admin' } }), 403, 'permission_denied');
        expectProblem(await withKey('PATCH', `/v1/orgs/${t.org.id}/members/${t.admin.user.id}`, key.secret, { payload: { role: 'viewer' } }), 403, 'permission_denied');
        expectProblem(await withKey('DELETE', `/v1/orgs/${t.org.id}/members/${t.owner.user.id}`, key.secret), 403, 'permission_denied');
        expect(await query<{ user_id: string; role: string }>('SELECT user_id, role FROM org_members WHERE org_id = $1 ORDER BY user_id', [t.org.id])).toEqual(
          [[t.owner.user.id, 'owner'], [t.admin.user.id, 'admin'], [t.member.user.id, 'member'], [t.viewer.user.id, 'viewer']].sort(([a], [b]) => (a! < b! ? -1 : 1)).map(([user_id, role]) => ({ user_id, role })),
        );
        expect((await withKey('PATCH', `/v1/orgs/${t.org.id}/members/${t.viewer.user.id}`, key.secret, { payload: { role: 'member' } })).statusCode).toBe(204);
      });
    });

    describe('rate limits', () => {
      it('a key with rate_limit_per_minute 3 answers RateLimit-* headers, then 429 rate_limited with Retry-After on the 4th request of the minute; other keys and members are not held back', async () => {
        const t = await team();
        const limited = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'], rate_limit_per_minute: 3 });
        const free = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
        expect(limited.rate_limit_per_minute).toBe(3);
        expect((await keyRow(t.org.id, limited.id))!.rate_limit_per_minute).toBe(3);

        for (const [i, via] of (['x-api-key', 'bearer', 'x-api-key'] as const).entries()) {
          const res = await withKey('GET', '/v1/org', limited.secret, { via });
          expect(res.statusCode, res.body).toBe(200);
          const headers = rateHeaders(res);
          expect(headers).toMatchObject({ limit: 3, remaining: 2 - i });
          expect(headers.reset).toBeGreaterThanOrEqual(1);
          expect(headers.reset).toBeLessThanOrEqual(60);
        }
        const res = await withKey('GET', '/v1/org', limited.secret, { via: 'bearer' });
        const body = expectProblem(res, 429, 'rate_limited');
        const retryAfter = Number(res.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(body.retry_after).toBe(retryAfter);
        expect(rateHeaders(res)).toMatchObject({ limit: 3, remaining: 0 });
        expectProblem(await withKey('GET', `/v1/orgs/${t.org.id}`, limited.secret), 429, 'rate_limited');

        // The organization's other key counts against the tier only (60 a minute on free).
        const other = await withKey('GET', '/v1/org', free.secret);
        expect(other.statusCode, other.body).toBe(200);
        expect(rateHeaders(other).limit).toBe(60);
        expect(rateHeaders(other).remaining).toBeLessThan(60);
        // People are not limited by the keys' windows, and their answers carry no key headers.
        const person = await call('GET', `/v1/orgs/${t.org.id}`, t.owner.token);
        expect(person.statusCode).toBe(200);
        expect(person.headers['ratelimit-limit']).toBeUndefined();
      });
    });
  });

  describe.skipIf(skip)(`${label}: the tier's requests_per_minute`, () => {
    let app: TestApp;
    const { call, withKey, team, createKey } = harness(() => app);

    beforeAll(async () => {
      app = await appOn(engine, { requests_per_minute: 5 });
    });
    afterAll(async () => app?.destroy());

    it('counts all keys of an organization together (5 a minute here): the 6th request is 429 whichever key makes it; another organization has its own window', async () => {
      expect(app.context.tiers.limitsFor('free')).toMatchObject({ requests_per_minute: 5, api_keys: 2 });
      const t = await team();
      const a = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });
      const b = await createKey(t.org.id, t.owner.token, { scopes: ['org:read'] });

      const order = [a, b, a, b, a];
      for (const [i, key] of order.entries()) {
        const res = await withKey('GET', '/v1/org', key.secret, { via: i % 2 ? 'bearer' : 'x-api-key' });
        expect(res.statusCode, res.body).toBe(200);
        expect(rateHeaders(res)).toMatchObject({ limit: 5, remaining: 4 - i });
      }
      for (const key of [b, a]) {
        const res = await withKey('GET', '/v1/org', key.secret);
        const body = expectProblem(res, 429, 'rate_limited');
        expect(body.detail).toContain('tier');
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }

      // A key's own higher limit does not lift the tier's.
      const owner = t.owner.token;
      expect((await call('DELETE', `/v1/orgs/${t.org.id}/api-keys/${a.id}`, owner)).statusCode).toBe(204);
      const generous = await createKey(t.org.id, owner, { scopes: ['org:read'], rate_limit_per_minute: 1000 });
      expectProblem(await withKey('GET', '/v1/org', generous.secret), 429, 'rate_limited');

      // Members are not counted; another organization's keys have a window of their own.
      expect((await call('GET', `/v1/orgs/${t.org.id}`, owner)).statusCode).toBe(200);
      const other = await team();
      const theirs = await createKey(other.org.id, other.owner.token, { scopes: ['org:read'] });
      const res = await withKey('GET', '/v1/org', theirs.secret);
      expect(res.statusCode, res.body).toBe(200);
      expect(rateHeaders(res)).toMatchObject({ limit: 5, remaining: 4 });
    });
  });
});

describe('API key rate windows (no database)', () => {
  // Regression: a fresh window answered RateLimit-Reset / Retry-After 61 when the cache gave a TTL a millisecond over the minute.
  it('never announces a reset beyond the one-minute window, whatever TTL the cache reports', async () => {
    const memory = createMemoryCache({ prefix: 'test:window:' });
    const cache: Cache = { ...memory, incr: async (key, ttlSeconds, by) => ({ ...(await memory.incr(key, ttlSeconds, by)), ttlMs: ttlSeconds * 1000 + 1 }) };
    const unused = new Proxy({}, { get: () => { throw new Error('not used by consume'); } });
    const service = createApiKeysService({ db: unused as never, audit: unused as never, events: unused as never, cache });
    const key = { id: newId('key'), orgId: newId('org'), scopes: [], rateLimitPerMinute: 2, tier: 'free' };
    expect(await service.consume(key)).toEqual({ limit: 2, remaining: 1, resetSeconds: 60 });
    expect(await service.consume(key)).toEqual({ limit: 2, remaining: 0, resetSeconds: 60 });
    await expect(service.consume(key)).rejects.toMatchObject({ code: 'rate_limited', status: 429, headers: expect.objectContaining({ 'retry-after': '60', 'ratelimit-reset': '60' }) });
    await memory.close();
  });
});
