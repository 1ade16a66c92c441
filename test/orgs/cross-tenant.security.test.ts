import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ORG_ROUTES } from '../../src/modules/orgs/index.js';
import { GRANTABLE_PERMISSIONS } from '../../src/modules/orgs/orgs.permissions.js';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { testClient, type Method, type Signed } from '../helpers/client.js';
import { uniqueEmail } from '../helpers/outbox.js';
import { PROBLEM } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Cross-tenant access, generated from the one table of org-scoped routes (ORG_ROUTES): the owner of
 * organization A, and then an API key of A holding every scope, call every route against
 * organization B's ids and must get 403 or 404, with B left exactly as it was. Routes without an
 * organization in the path (/v1/org…) name B by the X-Organization-Id header and by B's subdomain.
 * A route added to the table without a request body here fails this file; a route registered
 * without a table entry fails app start and the route inventory below.
 */

const { redisUrl } = inject('services');

type RouteKey = `${(typeof ORG_ROUTES)[number]['method']} ${(typeof ORG_ROUTES)[number]['url']}`;

/** The ids a request against an organization can name. */
interface Target {
  orgId: string;
  /** The organization's slug (its subdomain under BASE_DOMAIN). */
  slug: string;
  /** A custom role of that organization, held by nobody: the `:role_id` of role routes. */
  roleId: string;
  /** An API key of that organization: the `:key_id` of key routes. */
  keyId: string;
  /** A plain member of that organization: the `:user_id` of member routes and the body's user. */
  memberId: string;
  /** A pending invitation of that organization: the `:invitation_id` of invitation routes. */
  invitationId: string;
  /** A webhook endpoint of that organization: the `:endpoint_id` of webhook routes. */
  endpointId: string;
  /** A delivery (a test event) to that endpoint: the `:delivery_id` of the retry route. */
  deliveryId: string;
}

/** Where the organizations' webhook endpoints point: a local receiver answering 200 (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true). */
let receiverUrl = '';

/**
 * A plausible, schema-valid request body per route, which would change the organization if the
 * caller were let in (`null`: the route takes no body). Every route whose method carries a body must
 * be listed: a new route in ORG_ROUTES without an entry fails the test of that route.
 */
const BODIES: Partial<Record<RouteKey, ((target: Target) => Record<string, unknown>) | null>> = {
  'PATCH /v1/orgs/:org_id': () => ({ name: 'Taken over', slug: `taken-over-${randomBytes(3).toString('hex')}` }),
  'PATCH /v1/orgs/:org_id/members/:user_id': () => ({ role: 'admin' }),
  'POST /v1/orgs/:org_id/leave': null,
  'POST /v1/orgs/:org_id/transfer-ownership': (target) => ({ user_id: target.memberId }),
  'POST /v1/orgs/:org_id/check-permission': (target) => ({ permission: 'members:write', user_id: target.memberId }),
  'POST /v1/orgs/:org_id/invitations': () => ({ email: uniqueEmail('invitee'), role: 'admin' }),
  'POST /v1/orgs/:org_id/invitations/:invitation_id/resend': null,
  'POST /v1/orgs/:org_id/roles': () => ({ name: `Intruder ${randomBytes(3).toString('hex')}`, permissions: ['members:read'] }),
  'PATCH /v1/orgs/:org_id/roles/:role_id': () => ({ name: `Renamed ${randomBytes(3).toString('hex')}`, permissions: ['members:write'] }),
  'POST /v1/orgs/:org_id/api-keys': () => ({ name: 'Intruder key', scopes: ['org:read'] }),
  'POST /v1/orgs/:org_id/webhooks': () => ({ url: `${receiverUrl}/intruder`, event_types: ['*'] }),
  'PATCH /v1/orgs/:org_id/webhooks/:endpoint_id': () => ({ url: `${receiverUrl}/taken-over`, event_types: ['*'], enabled: false }),
  'POST /v1/orgs/:org_id/webhooks/:endpoint_id/rotate-secret': null,
  'POST /v1/orgs/:org_id/webhooks/:endpoint_id/test': null,
  'POST /v1/orgs/:org_id/webhooks/:endpoint_id/deliveries/:delivery_id/retry': null,
  'POST /v1/org/check-permission': (target) => ({ permission: 'members:write', user_id: target.memberId }),
};
const BASE_DOMAIN = 'tenants.test';
const GRANTABLE_SCOPES = [...GRANTABLE_PERMISSIONS];
/** How a route without an organization in its path names the target: X-Organization-Id, or the Host's subdomain. */
type NamedBy = 'header' | 'host';
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

const keyOf = (route: { method: string; url: string }): RouteKey => `${route.method} ${route.url}` as RouteKey;

/** The request a route makes against a target: its path with the target's ids (or a header naming it), and its body. */
function requestFor(route: (typeof ORG_ROUTES)[number], target: Target, namedBy: NamedBy = 'header'): CrossRequest {
  const key = keyOf(route);
  if (METHODS_WITH_BODY.has(route.method) && !Object.hasOwn(BODIES, key)) {
    throw new Error(`${key} takes a body: add one (or null for none) to BODIES in test/orgs/cross-tenant.security.test.ts`);
  }
  const url = route.url
    .replace(':org_id', target.orgId)
    .replace(':user_id', target.memberId)
    .replace(':invitation_id', target.invitationId)
    .replace(':role_id', target.roleId)
    .replace(':key_id', target.keyId)
    .replace(':endpoint_id', target.endpointId)
    .replace(':delivery_id', target.deliveryId);
  if (/:[a-z_]+/.test(url)) throw new Error(`${key} has a path parameter this test does not fill: ${url}`);
  const body = BODIES[key];
  const headers: Record<string, string> = route.url.includes(':org_id') ? {} : namedBy === 'header' ? { 'x-organization-id': target.orgId } : { host: `${target.slug}.${BASE_DOMAIN}` };
  return { method: route.method as Method, url, headers, ...(body ? { payload: body(target) } : {}) };
}
interface CrossRequest {
  method: Method;
  url: string;
  headers: Record<string, string>;
  payload?: Record<string, unknown>;
}
/** An org-scoped route without the organization in its path (it comes from a header, the Host or the token). */
const isContextual = (route: { url: string }): boolean => !route.url.includes(':org_id');

/** Every route of a `printRoutes({ commonPrefix: false })` tree, one `METHOD /path` per method. */
function routesOfTree(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) routes.push(`${method} ${stack.join('')}`);
  }
  return routes;
}

async function appOn(engine: Engine): Promise<TestApp> {
  const env = { BASE_DOMAIN, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' };
  return createEngineApp(engine, env);
}

let receiver: Server;
beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('the org route table', () => {
  it('has one entry per method and path, all org-scoped', () => {
    const keys = ORG_ROUTES.map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(key).toMatch(/^(GET|POST|PUT|PATCH|DELETE) \/v1\/(orgs\/:org_id|org)(\/|$)/);
  });

  it('BODIES names only routes of the table', () => {
    const keys = new Set<string>(ORG_ROUTES.map(keyOf));
    expect(Object.keys(BODIES).filter((key) => !keys.has(key))).toEqual([]);
  });

  it('app start refuses an org-scoped route missing from ORG_ROUTES', async () => {
    // PGlite only: buildApp closes the database when it fails, and nothing is left to drop.
    await expect(
      createTestApp({
        build: {
          extraRoutes(server) {
            server.get('/v1/orgs/:org_id/extra', async () => ({ ok: true }));
          },
        },
      }),
    ).rejects.toThrow('org-scoped route GET /v1/orgs/:org_id/extra is missing from ORG_ROUTES');
  });
});

describe.each(engineCases())('cross-tenant access on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    /** Org A's owner, signed in just now (step-up routes would not stop them). */
    let attacker: Signed;
    /** An API key of organization A holding every scope a key can hold. */
    let attackerKey: string;
    let orgA: Target;
    let orgB: Target & { ownerId: string; adminId: string };

    const api = testClient(() => app);
    const { query, signedIn } = api;

    /** Calls as a user (access token) or with an API key (X-API-Key). */
    const call = (request: CrossRequest, credential: string) => {
      const byKey = credential.startsWith('tsk_');
      return api.call(request.method, request.url, byKey ? null : credential, request.payload, { headers: { ...request.headers, ...(byKey ? { 'x-api-key': credential } : {}) } });
    };

    /** A custom role in the organization, held by nobody, made through the API by one of its owners. */
    async function customRole(orgId: string, owner: Signed): Promise<string> {
      const res = await api.call('POST', `/v1/orgs/${orgId}/roles`, owner.token, { name: `Role ${randomBytes(3).toString('hex')}`, permissions: ['members:read'] });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    }
    /** An API key of the organization with `scopes` (default: all a key can hold): its id and secret. */
    const apiKey = (orgId: string, owner: Signed, scopes = GRANTABLE_SCOPES) => api.apiKey(orgId, owner, scopes, 'key');
    /**
     * A complete target: an organization of `owner` (on the starter tier, which allows a second
     * webhook endpoint) with a member, a pending invitation, an unheld custom role, an API key, and a
     * webhook endpoint with one delivery.
     */
    async function targetOf(owner: Signed, name: string, member: Signed): Promise<Target> {
      const { id, slug } = await api.createOrg(owner, { name });
      await query(`UPDATE organizations SET tier = 'starter' WHERE id = $1`, [id]);
      await add(id, member.user.id, 'member');
      const { endpointId, deliveryId } = await webhook(id, owner);
      return {
        orgId: id, slug, memberId: member.user.id, invitationId: await invite(id, owner), roleId: await customRole(id, owner), keyId: (await apiKey(id, owner, ['org:read'])).id,
        endpointId, deliveryId,
      };
    }
    /** A webhook endpoint of the organization and a test delivery to it, made through the API by one of its owners. */
    async function webhook(orgId: string, owner: Signed): Promise<{ endpointId: string; deliveryId: string }> {
      const res = await api.call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url: `${receiverUrl}/hook`, event_types: ['org.deleted'] });
      expect(res.statusCode, res.body).toBe(201);
      const endpointId = res.json<{ id: string }>().id;
      const test = await api.call('POST', `/v1/orgs/${orgId}/webhooks/${endpointId}/test`, owner.token);
      expect(test.statusCode, test.body).toBe(202);
      return { endpointId, deliveryId: test.json<{ id: string }>().id };
    }
    /** Waits until the delivery is no longer being attempted (the receiver answers 200: it succeeds). */
    const settled = (deliveryId: string) =>
      waitFor(async () => (await query<{ status: string }>('SELECT status FROM webhook_deliveries WHERE id = $1', [deliveryId]))[0]?.status === 'succeeded', 20_000, `delivery ${deliveryId} to succeed`);
    /** A pending invitation in the organization, made through the API by one of its owners. */
    async function invite(orgId: string, owner: Signed): Promise<string> {
      const res = await api.call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email: uniqueEmail('pending'), role: 'member' });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    }
    const add = (orgId: string, userId: string, role: string) => app.context.orgs.addMember(orgId, userId, role, { id: null }, { ip: null, userAgent: null });

    /** Everything about an organization a cross-tenant call could change, and what it would leave behind. */
    async function snapshot(orgId: string) {
      return {
        org: await query('SELECT id, slug, name, tier, created_at, updated_at FROM organizations WHERE id = $1', [orgId]),
        members: await query('SELECT user_id, role, created_at FROM org_members WHERE org_id = $1 ORDER BY user_id', [orgId]),
        audit: await query('SELECT id FROM audit_events WHERE org_id = $1 ORDER BY id', [orgId]),
        events: await query('SELECT id FROM events WHERE org_id = $1 ORDER BY id', [orgId]),
        invitations: await query(
          'SELECT id, email, role, token_hash, expires_at, accepted_at, revoked_at FROM org_invitations WHERE org_id = $1 ORDER BY id',
          [orgId],
        ),
        roles: await query('SELECT id, name, description, permissions, updated_at FROM org_roles WHERE org_id = $1 ORDER BY id', [orgId]),
        keys: await query('SELECT id, name, scopes, secret_hash, revoked_at, expires_at FROM api_keys WHERE org_id = $1 ORDER BY id', [orgId]),
        webhooks: await query(
          'SELECT id, url, event_types, description, enabled, secret, previous_secret, previous_secret_expires_at, updated_at FROM webhook_endpoints WHERE org_id = $1 ORDER BY id',
          [orgId],
        ),
        deliveries: await query('SELECT id, status, attempts, next_attempt_at, updated_at FROM webhook_deliveries WHERE org_id = $1 ORDER BY id', [orgId]),
        attempts: await query('SELECT delivery_id, attempt FROM webhook_attempts WHERE org_id = $1 ORDER BY delivery_id, attempt', [orgId]),
      };
    }

    beforeAll(async () => {
      app = await appOn(engine);
      attacker = await signedIn('owner-a');
      orgA = await targetOf(attacker, 'Org A', await signedIn('member-a'));
      // Enterprise: no tier limit on keys or requests gets in the way of the attack.
      await query(`UPDATE organizations SET tier = 'enterprise' WHERE id = $1`, [orgA.orgId]);
      attackerKey = (await apiKey(orgA.orgId, attacker)).secret;

      const bOwner = await signedIn('owner-b');
      const bAdmin = await signedIn('admin-b');
      orgB = { ...(await targetOf(bOwner, 'Org B', await signedIn('member-b'))), ownerId: bOwner.user.id, adminId: '' };
      await add(orgB.orgId, bAdmin.user.id, 'admin');
      orgB.adminId = bAdmin.user.id;
      // B's delivery done before the attacks, so B's snapshot stands still.
      await settled(orgB.deliveryId);
    });
    afterAll(async () => app?.destroy());

    // Org-scoped: under /v1/orgs/:org_id or /v1/org. Platform-admin routes about an organization (/v1/admin/orgs/:org_id) are not.
    it('the org-scoped routes registered (under /v1/orgs/ with :org_id, and /v1/org) are exactly the ORG_ROUTES table (router and OpenAPI)', async () => {
      const table = ORG_ROUTES.map(keyOf).sort();
      const registered = routesOfTree(app.server.printRoutes({ commonPrefix: false }))
        .filter((route) => / \/v1\/(orgs\/:org_id|org)(\/|$)/.test(route) && !route.startsWith('HEAD '))
        .sort();
      expect(registered).toEqual(table);

      const res = await app.server.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      const paths = res.json<{ paths: Record<string, Record<string, unknown>> }>().paths;
      const documented = Object.entries(paths)
        .filter(([path]) => path.startsWith('/v1/orgs/{org_id}') || /^\/v1\/org(\/|$)/.test(path))
        .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path.replace(/\{([a-z_]+)\}/g, ':$1')}`))
        .sort();
      expect(documented).toEqual(table);
    });

    /** Every way of reaching B: each route as A's owner and with A's API key; routes without the organization in the path both by header and by subdomain. */
    const attacks = ORG_ROUTES.flatMap((route) =>
      (['user', 'api key'] as const).flatMap((as) =>
        (isContextual(route) ? (['header', 'host'] as const) : (['header'] as const)).map((namedBy) => ({
          ...route, key: keyOf(route), as, namedBy, how: isContextual(route) ? ` (B named by ${namedBy === 'header' ? 'X-Organization-Id' : 'subdomain'})` : '',
        })),
      ),
    );
    const credentialOf = (as: 'user' | 'api key'): string => (as === 'user' ? attacker.token : attackerKey);

    it.each(attacks)('$key as $as of A against organization B$how: 403/404, B unchanged', async (attack) => {
      const before = await snapshot(orgB.orgId);
      const res = await call(requestFor(attack, orgB, attack.namedBy), credentialOf(attack.as));

      expect([403, 404], `${attack.key} answered ${res.statusCode}: ${res.body}`).toContain(res.statusCode);
      expect(res.headers['content-type']).toContain(PROBLEM);
      const body = res.json<Record<string, unknown>>();
      expect(body).toMatchObject({ status: res.statusCode, code: expect.any(String), type: expect.stringMatching(/^urn:tessera:problem:/) });
      // Nothing of B leaks into the answer.
      expect(res.body).not.toContain('Org B');
      expect(res.body).not.toContain(orgB.ownerId);
      expect(res.body).not.toContain(orgB.slug);

      expect(await snapshot(orgB.orgId)).toEqual(before);
      expect(before.org).toHaveLength(1);
      expect(before.roles).toHaveLength(1);
      expect(before.keys).toHaveLength(1);
      expect(before.webhooks).toHaveLength(1);
      expect(before.deliveries).toMatchObject([{ id: orgB.deliveryId, status: 'succeeded' }]);
      expect(before.members.map((m) => [m.user_id, m.role]).sort()).toEqual(
        [[orgB.ownerId, 'owner'], [orgB.adminId, 'admin'], [orgB.memberId, 'member']].sort(),
      );
    });

    /** Routes of A naming one id of B in their path: the id is looked up inside A only, so it is not found. */
    const foreignIds = [
      { param: ':user_id', code: 'member_not_found', swap: (a: Target): Target => ({ ...a, memberId: orgB.memberId }) },
      { param: ':invitation_id', code: 'invitation_not_found', swap: (a: Target): Target => ({ ...a, invitationId: orgB.invitationId }) },
      { param: ':role_id', code: 'role_not_found', swap: (a: Target): Target => ({ ...a, roleId: orgB.roleId }) },
      { param: ':key_id', code: 'api_key_not_found', swap: (a: Target): Target => ({ ...a, keyId: orgB.keyId }) },
      { param: ':endpoint_id', code: 'endpoint_not_found', swap: (a: Target): Target => ({ ...a, endpointId: orgB.endpointId }) },
      { param: ':delivery_id', code: 'delivery_not_found', swap: (a: Target): Target => ({ ...a, deliveryId: orgB.deliveryId }) },
    ];
    it.each(
      foreignIds.flatMap(({ param, code, swap }) =>
        ORG_ROUTES.filter((route) => route.url.includes(param)).flatMap((route) => (['user', 'api key'] as const).map((as) => ({ ...route, key: keyOf(route), as, param, code, swap }))),
      ),
    )('$key in organization A as $as naming the $param of B: 404 $code, B unchanged', async (attack) => {
      const before = await snapshot(orgB.orgId);
      const res = await call(requestFor(attack, attack.swap(orgA)), credentialOf(attack.as));
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json()).toMatchObject({ code: attack.code });
      expect(await snapshot(orgB.orgId)).toEqual(before);
    });

    it("bodies of A's routes naming B's member or B's custom role: refused, false or unknown, B unchanged", async () => {
      const before = await snapshot(orgB.orgId);
      const transfer = await call({ method: 'POST', url: `/v1/orgs/${orgA.orgId}/transfer-ownership`, headers: {}, payload: { user_id: orgB.memberId } }, attacker.token);
      expect(transfer.statusCode, transfer.body).toBe(404);
      expect(transfer.json()).toMatchObject({ code: 'member_not_found' });
      for (const credential of [attacker.token, attackerKey]) {
        const check = await call({ method: 'POST', url: `/v1/orgs/${orgA.orgId}/check-permission`, headers: {}, payload: { permission: 'org:read', user_id: orgB.ownerId } }, credential);
        expect(check.statusCode, check.body).toBe(200);
        expect(check.json()).toEqual({ allowed: false });
        // B's custom role cannot be handed out in A, neither to a member nor by invitation.
        const assign = await call({ method: 'PATCH', url: `/v1/orgs/${orgA.orgId}/members/${orgA.memberId}`, headers: {}, payload: { role: orgB.roleId } }, credential);
        expect(assign.statusCode, assign.body).toBe(422);
        expect(assign.json()).toMatchObject({ code: 'unknown_role' });
        const invite = await call({ method: 'POST', url: `/v1/orgs/${orgA.orgId}/invitations`, headers: {}, payload: { email: uniqueEmail('x'), role: orgB.roleId } }, credential);
        expect(invite.statusCode, invite.body).toBe(422);
        expect(invite.json()).toMatchObject({ code: 'unknown_role' });
      }
      expect(await snapshot(orgB.orgId)).toEqual(before);
    });

    // The control: the same requests against an organization of the attacker's own are let through
    // (API keys: all but the routes only a person may use), so the refusals above come from the
    // tenant check, not from a malformed request.
    it.each(attacks)("control: $key as $as against the caller's own organization$how succeeds", async (attack) => {
      // Seeded people (no argon2, no sign-up mail): this runs once per attack.
      const coOwner = await api.seeded('co-owner');
      const own = await targetOf(attacker, `Own ${randomBytes(3).toString('hex')}`, await api.seeded('own-member'));
      await add(own.orgId, coOwner.user.id, 'owner'); // so the caller may leave
      const credential = attack.as === 'user' ? attacker.token : (await apiKey(own.orgId, attacker)).secret;
      // A delivery is retried only once it is no longer being attempted.
      if (attack.url.includes(':delivery_id')) await settled(own.deliveryId);
      const res = await call(requestFor(attack, own, attack.namedBy), credential);
      if (attack.as === 'api key' && 'userOnly' in attack && attack.userOnly) {
        expect(res.statusCode, res.body).toBe(403);
        expect(res.json()).toMatchObject({ code: 'api_key_not_allowed' });
        return;
      }
      expect(res.statusCode, `${attack.key}: ${res.body}`).toBeGreaterThanOrEqual(200);
      expect(res.statusCode, `${attack.key}: ${res.body}`).toBeLessThan(300);
    });
  });
});
