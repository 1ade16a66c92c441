import { randomBytes } from 'node:crypto';
import { decodeJwt, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { BUILT_IN_ROLES, type Permission } from '../../src/modules/orgs/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { type TokenBody } from '../helpers/outbox.js';
import { testClient, type OrgBody, type Role, type Signed } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';

/*
 * The organization of a request, end to end through HTTP on each engine (PGlite with the in-process
 * cache, PostgreSQL with Redis): organization tokens (POST /v1/auth/refresh with org_id, the org_id
 * and org_role claims, kept by the session, dropped with the membership), and tenant resolution for
 * the routes without an organization in their path (/v1/org…): the path, then the Host's subdomain
 * under BASE_DOMAIN, then X-Organization-Id, then the token's claim, with membership and role
 * checked on every request whatever the token says.
 */

const BASE_DOMAIN = 'example.test';
const { redisUrl } = inject('services');
const ORG_ID = /^org_[0-9a-z]{26}$/;

type Claims = JWTPayload & { sid?: string; org_id?: string; org_role?: string };

async function appOn(engine: Engine, env: Record<string, string> = { BASE_DOMAIN }): Promise<TestApp> {
  return createEngineApp(engine, env);
}

/** A fresh, unused organization id (valid form, names nothing). */
const unknownOrgId = (): string => {
  const id = `org_${randomBytes(13).toString('hex')}`;
  expect(id).toMatch(ORG_ID);
  return id;
};

describe.each(engineCases())('organization context on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call, query, signedIn, joined } = api;

    const createOrg = (owner: Signed, slug?: string): Promise<OrgBody> => api.createOrg(owner, slug ? { slug } : {});

    /** Adds an account to an organization with this role (directly, without an invitation). */
    const addMember = (orgId: string, who: Signed, role: Role | string) => app.context.orgs.addMember(orgId, who.user.id, role, { id: null }, { ip: null, userAgent: null });

    const refresh = (refreshToken: string, extra: Record<string, unknown> = {}) =>
      app.server.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: refreshToken, ...extra } });

    /** Refreshes (200 expected) and makes the new pair the account's current one; returns the access token's claims. */
    async function rotate(who: Signed, extra: Record<string, unknown> = {}): Promise<Claims> {
      const res = await refresh(who.refreshToken, extra);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<TokenBody>();
      expect(body.session_id).toBe(who.sessionId);
      who.token = body.access_token;
      who.refreshToken = body.refresh_token;
      return decodeJwt(body.access_token) as Claims;
    }

    const sessionOrg = async (sessionId: string): Promise<string | null> =>
      (await query<{ org_id: string | null }>('SELECT org_id FROM sessions WHERE id = $1', [sessionId]))[0]!.org_id;
    const sessionRevoked = async (sessionId: string): Promise<boolean> =>
      (await query<{ revoked_at: unknown }>('SELECT revoked_at FROM sessions WHERE id = $1', [sessionId]))[0]!.revoked_at !== null;

    const getOrg = (token: string, headers: Record<string, string> = {}) => call('GET', '/v1/org', token, undefined, { headers });
    /** GET /v1/org answering 200: the organization it resolved to. */
    async function orgOf(token: string, headers: Record<string, string> = {}): Promise<OrgBody> {
      const res = await getOrg(token, headers);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<OrgBody>();
    }
    const check = (token: string, permission: string, headers: Record<string, string> = {}) =>
      call('POST', '/v1/org/check-permission', token, { permission }, { headers });
    async function allowed(token: string, permission: Permission, headers: Record<string, string> = {}): Promise<boolean> {
      const res = await check(token, permission, headers);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ allowed: boolean }>().allowed;
    }
    const host = (label: string) => ({ host: `${label}.${BASE_DOMAIN}` });

    beforeAll(async () => {
      app = await appOn(engine);
    });
    afterAll(async () => app?.destroy());

    describe('organization tokens (POST /v1/auth/refresh with org_id)', () => {
      it('gives a member a token with org_id and org_role (their role); later refreshes keep it, org_id: null drops it', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const member = await joined(org.id, 'member');

        const plain = decodeJwt(member.token) as Claims;
        expect(plain).not.toHaveProperty('org_id');
        expect(plain).not.toHaveProperty('org_role');

        const scoped = await rotate(member, { org_id: org.id });
        expect(scoped).toMatchObject({ sub: member.user.id, sid: member.sessionId, org_id: org.id, org_role: 'member' });
        expect(await sessionOrg(member.sessionId)).toBe(org.id);

        // Absent org_id: the session's organization stays.
        const kept = await rotate(member);
        expect(kept).toMatchObject({ sub: member.user.id, org_id: org.id, org_role: 'member' });
        expect(kept.jti).not.toBe(scoped.jti);

        // The owner's own token says owner.
        expect(await rotate(owner, { org_id: org.id })).toMatchObject({ org_id: org.id, org_role: 'owner' });

        // null: no organization any more, and it stays so.
        const left = await rotate(member, { org_id: null });
        expect(left).not.toHaveProperty('org_id');
        expect(left).not.toHaveProperty('org_role');
        expect(await sessionOrg(member.sessionId)).toBeNull();
        const after = await rotate(member);
        expect(after).not.toHaveProperty('org_id');
        expect(after).not.toHaveProperty('org_role');
      });

      it('switches between organizations the user belongs to, each with its own role', async () => {
        const user = await signedIn('switcher');
        const a = await createOrg(user);
        const ownerB = await signedIn('owner-b');
        const b = await createOrg(ownerB);
        await addMember(b.id, user, 'viewer');

        expect(await rotate(user, { org_id: a.id })).toMatchObject({ org_id: a.id, org_role: 'owner' });
        expect((await orgOf(user.token)).id).toBe(a.id);

        expect(await rotate(user, { org_id: b.id })).toMatchObject({ org_id: b.id, org_role: 'viewer' });
        expect(await sessionOrg(user.sessionId)).toBe(b.id);
        expect(await orgOf(user.token)).toMatchObject({ id: b.id, role: 'viewer' });
        expect(await rotate(user)).toMatchObject({ org_id: b.id, org_role: 'viewer' });

        expect(await rotate(user, { org_id: a.id })).toMatchObject({ org_id: a.id, org_role: 'owner' });
      });

      it('carries a custom role as its id in org_role', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const created = await call('POST', `/v1/orgs/${org.id}/roles`, owner.token, { name: `Auditor ${randomBytes(3).toString('hex')}`, permissions: ['audit:read', 'org:read'] });
        expect(created.statusCode, created.body).toBe(201);
        const roleId = created.json<{ id: string }>().id;
        const auditor = await joined(org.id, 'viewer', 'auditor');
        const given = await call('PATCH', `/v1/orgs/${org.id}/members/${auditor.user.id}`, owner.token, { role: roleId });
        expect(given.statusCode, given.body).toBe(204);

        expect(await rotate(auditor, { org_id: org.id })).toMatchObject({ org_id: org.id, org_role: roleId });
        expect(await allowed(auditor.token, 'audit:read')).toBe(true);
        expect(await allowed(auditor.token, 'members:read')).toBe(false);
      });

      it("refuses a non-member's or an unknown org_id (404 org_not_found) and leaves the refresh token unspent", async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const outsider = await signedIn('outsider');
        const presented = outsider.refreshToken;

        expectProblem(await refresh(presented, { org_id: org.id }), 404, 'org_not_found');
        expectProblem(await refresh(presented, { org_id: unknownOrgId() }), 404, 'org_not_found');
        expect(await sessionRevoked(outsider.sessionId)).toBe(false);
        expect(await sessionOrg(outsider.sessionId)).toBeNull();

        // The same refresh token still works, once: it was never spent, no reuse was detected.
        const claims = await rotate(outsider);
        expect(claims).not.toHaveProperty('org_id');
        expect(outsider.refreshToken).not.toBe(presented);
        expect(await sessionRevoked(outsider.sessionId)).toBe(false);
        expect((await call('GET', '/v1/orgs', outsider.token)).statusCode).toBe(200);
        expect(await query("SELECT id FROM audit_events WHERE action = 'session.refresh_token_reused' AND target_id = $1", [outsider.sessionId])).toEqual([]);

        // A refused org_id on the new token leaves that one usable too.
        expectProblem(await refresh(outsider.refreshToken, { org_id: org.id }), 404, 'org_not_found');
        expect(await rotate(outsider)).not.toHaveProperty('org_id');
      });

      it.each<[string, unknown]>([
        ['a slug', 'acme'],
        ['upper case', `org_${'A'.repeat(26)}`],
        ['too short', 'org_123'],
        ['a number', 42],
        ['an object', { id: 'org_x' }],
        // Regression: a union schema let the validator coerce these to null (or unwrap the array).
        ['an empty string', ''],
        ['an array holding null', [null]],
        ['an array holding an id', [`org_${'a'.repeat(26)}`]],
      ])('refuses a malformed org_id (%s) with 400, the refresh token left unspent', async (_label, orgId) => {
        const user = await signedIn('malformed');
        const res = await refresh(user.refreshToken, { org_id: orgId });
        expectProblem(res, 400, 'validation_failed');
        expect(await rotate(user)).not.toHaveProperty('org_id');
      });

      it('drops the claims quietly on the next refresh once the member is removed (and refuses them explicitly)', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const member = await joined(org.id, 'member');
        expect(await rotate(member, { org_id: org.id })).toMatchObject({ org_id: org.id, org_role: 'member' });

        expect((await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token)).statusCode).toBe(204);

        const claims = await rotate(member);
        expect(claims).not.toHaveProperty('org_id');
        expect(claims).not.toHaveProperty('org_role');
        expect(await sessionOrg(member.sessionId)).toBeNull();
        expect(await sessionRevoked(member.sessionId)).toBe(false);
        expectProblem(await refresh(member.refreshToken, { org_id: org.id }), 404, 'org_not_found');
        // Taken back in later: the session does not silently return to the organization.
        await addMember(org.id, member, 'viewer');
        expect(await rotate(member)).not.toHaveProperty('org_id');
        expect(await rotate(member, { org_id: org.id })).toMatchObject({ org_id: org.id, org_role: 'viewer' });
      });

      it('reflects a role change in org_role at the next refresh', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const admin = await joined(org.id, 'admin');
        expect(await rotate(admin, { org_id: org.id })).toMatchObject({ org_role: 'admin' });
        expect((await call('PATCH', `/v1/orgs/${org.id}/members/${admin.user.id}`, owner.token, { role: 'viewer' })).statusCode).toBe(204);
        expect(await rotate(admin)).toMatchObject({ org_id: org.id, org_role: 'viewer' });
      });

      it('drops the claims once the organization is deleted', async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const member = await joined(org.id, 'member');
        expect(await rotate(member, { org_id: org.id })).toMatchObject({ org_id: org.id });
        expect((await call('DELETE', `/v1/orgs/${org.id}`, owner.token)).statusCode).toBe(204);
        expect(await rotate(member)).not.toHaveProperty('org_id');
        expectProblem(await getOrg(member.token), 400, 'organization_required');
      });
    });

    describe('the organization of /v1/org from the token', () => {
      it("GET /v1/org and POST /v1/org/check-permission act on the claim's organization with the caller's role", async () => {
        const owner = await signedIn('owner');
        const a = await createOrg(owner);
        const b = await createOrg(owner);
        const member = await joined(a.id, 'member');
        await addMember(b.id, member, 'admin');

        await rotate(member, { org_id: a.id });
        const body = await orgOf(member.token);
        expect(body).toMatchObject({ id: a.id, slug: a.slug, name: a.name, role: 'member', limits: expect.any(Object) });
        for (const permission of ['org:read', 'members:read', 'members:write', 'org:write', 'api_keys:write'] as const) {
          expect(await allowed(member.token, permission), permission).toBe(BUILT_IN_ROLES.member.permissions.includes(permission));
        }
        expectProblem(await check(member.token, 'no:such'), 422, 'unknown_permission');

        await rotate(member, { org_id: b.id });
        expect(await orgOf(member.token)).toMatchObject({ id: b.id, role: 'admin' });
        expect(await allowed(member.token, 'members:write')).toBe(true);
        expect(await allowed(member.token, 'org:delete')).toBe(false);
      });

      it('answers 400 organization_required when nothing names the organization', async () => {
        const owner = await signedIn('owner');
        await createOrg(owner);
        expectProblem(await getOrg(owner.token), 400, 'organization_required');
        expectProblem(await check(owner.token, 'org:read'), 400, 'organization_required');
        // A host outside BASE_DOMAIN, or BASE_DOMAIN itself, names nothing either.
        expectProblem(await getOrg(owner.token, { host: 'acme.elsewhere.test' }), 400, 'organization_required');
        expectProblem(await getOrg(owner.token, { host: BASE_DOMAIN }), 400, 'organization_required');
        // Without a token: 401 before anything else.
        expect((await call('GET', '/v1/org', null)).statusCode).toBe(401);
      });
    });

    describe('X-Organization-Id', () => {
      it('picks the organization, over the token claim', async () => {
        const owner = await signedIn('owner');
        const a = await createOrg(owner);
        const b = await createOrg(owner);
        const user = await joined(a.id, 'admin', 'user');
        await addMember(b.id, user, 'viewer');

        // With a plain token, the header alone names it.
        expect(await orgOf(user.token, { 'x-organization-id': b.id })).toMatchObject({ id: b.id, role: 'viewer' });

        await rotate(user, { org_id: a.id });
        expect(await orgOf(user.token)).toMatchObject({ id: a.id, role: 'admin' });
        expect(await orgOf(user.token, { 'x-organization-id': b.id })).toMatchObject({ id: b.id, role: 'viewer' });
        expect(await allowed(user.token, 'members:write')).toBe(true);
        expect(await allowed(user.token, 'members:write', { 'x-organization-id': b.id })).toBe(false);
      });

      it("answers 404 for an organization the caller is not a member of, an unknown one, or a malformed header (never falling back to the claim)", async () => {
        const owner = await signedIn('owner');
        const a = await createOrg(owner);
        const stranger = await signedIn('stranger');
        const theirs = await createOrg(stranger);
        await rotate(owner, { org_id: a.id });

        for (const header of [theirs.id, unknownOrgId(), 'acme', a.id.toUpperCase(), `${a.id} `, '']) {
          expectProblem(await getOrg(owner.token, { 'x-organization-id': header }), 404, 'org_not_found');
          expectProblem(await check(owner.token, 'org:read', { 'x-organization-id': header }), 404, 'org_not_found');
        }
        // The claim still works without the header.
        expect((await orgOf(owner.token)).id).toBe(a.id);
      });
    });

    describe(`the Host's subdomain under BASE_DOMAIN (${BASE_DOMAIN})`, () => {
      let owner: Signed;
      let a: OrgBody;
      let b: OrgBody;
      /** Member of A (admin) and B (viewer), holding an organization token for A. */
      let user: Signed;

      beforeAll(async () => {
        owner = await signedIn('owner');
        a = await createOrg(owner, `alpha-${randomBytes(3).toString('hex')}`);
        b = await createOrg(owner, `bravo-${randomBytes(3).toString('hex')}`);
        user = await joined(a.id, 'admin', 'user');
        await addMember(b.id, user, 'viewer');
        await rotate(user, { org_id: a.id });
      });

      it('names the organization whose slug is the label (case and port aside)', async () => {
        const plain = await signedIn('plain');
        await addMember(b.id, plain, 'member');
        expect(await orgOf(plain.token, host(b.slug))).toMatchObject({ id: b.id, slug: b.slug, role: 'member' });
        expect(await orgOf(plain.token, { host: `${b.slug.toUpperCase()}.EXAMPLE.Test` })).toMatchObject({ id: b.id });
        expect(await orgOf(plain.token, { host: `${b.slug}.${BASE_DOMAIN}:8443` })).toMatchObject({ id: b.id });
        // A fully qualified name (trailing dot) is the same host: regression guard for it falling through to the claim.
        expect(await orgOf(user.token, { host: `${b.slug}.${BASE_DOMAIN}.` })).toMatchObject({ id: b.id, role: 'viewer' });
        expect(await orgOf(user.token, { host: `${b.slug}.${BASE_DOMAIN}.:8443` })).toMatchObject({ id: b.id });
        expect(await allowed(plain.token, 'members:read', host(b.slug))).toBe(true);
      });

      it('wins over X-Organization-Id and the token claim', async () => {
        expect(await orgOf(user.token, host(b.slug))).toMatchObject({ id: b.id, role: 'viewer' });
        expect(await orgOf(user.token, { ...host(b.slug), 'x-organization-id': a.id })).toMatchObject({ id: b.id, role: 'viewer' });
        expect(await orgOf(user.token, { ...host(a.slug), 'x-organization-id': b.id })).toMatchObject({ id: a.id, role: 'admin' });
        expect(await allowed(user.token, 'members:write', { ...host(b.slug), 'x-organization-id': a.id })).toBe(false);
        expect(await allowed(user.token, 'members:write', host(a.slug))).toBe(true);
      });

      it('ignores a reserved label (www, api): the header, then the claim, decide', async () => {
        for (const label of ['www', 'api', 'app']) {
          expect(await orgOf(user.token, host(label))).toMatchObject({ id: a.id });
          expect(await orgOf(user.token, { ...host(label), 'x-organization-id': b.id })).toMatchObject({ id: b.id });
          expectProblem(await getOrg(owner.token, host(label)), 400, 'organization_required');
        }
      });

      it('answers 404 for an unknown slug, and for an organization the caller is not a member of', async () => {
        expectProblem(await getOrg(user.token, host(`nobody-${randomBytes(4).toString('hex')}`)), 404, 'org_not_found');
        expectProblem(await getOrg(user.token, { ...host(`nobody-${randomBytes(4).toString('hex')}`), 'x-organization-id': a.id }), 404, 'org_not_found');
        const stranger = await signedIn('stranger');
        const theirs = await createOrg(stranger, `charlie-${randomBytes(3).toString('hex')}`);
        expectProblem(await getOrg(user.token, host(theirs.slug)), 404, 'org_not_found');
        expectProblem(await check(user.token, 'org:read', { ...host(theirs.slug), 'x-organization-id': a.id }), 404, 'org_not_found');
      });

      it('ignores a nested label (a.b.example.test)', async () => {
        expect(await orgOf(user.token, host(`a.${b.slug}`))).toMatchObject({ id: a.id });
        expect(await orgOf(user.token, host(`${b.slug}.x`))).toMatchObject({ id: a.id });
        expect(await orgOf(user.token, { ...host(`${a.slug}.x`), 'x-organization-id': b.id })).toMatchObject({ id: b.id });
      });

      it('gives way to the organization in the path (/v1/orgs/{org_id}…)', async () => {
        const res = await call('GET', `/v1/orgs/${a.id}`, user.token, undefined, { headers: { ...host(b.slug), 'x-organization-id': b.id } });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json<OrgBody>()).toMatchObject({ id: a.id, role: 'admin' });
        const viaPath = await call('POST', `/v1/orgs/${a.id}/check-permission`, user.token, { permission: 'members:write' }, { headers: host(b.slug) });
        expect(viaPath.statusCode, viaPath.body).toBe(200);
        expect(viaPath.json()).toEqual({ allowed: true });
        // And the path's organization is checked on its own: B in the path, A by every other source.
        const inB = await call('PATCH', `/v1/orgs/${b.id}`, user.token, { name: 'Renamed' }, { headers: { ...host(a.slug), 'x-organization-id': a.id } });
        expectProblem(inB, 403, 'permission_denied');
      });
    });

    it('ignores the Host when BASE_DOMAIN is not set', async () => {
      const other = await appOn(engine, {});
      try {
        const otherApi = testClient(() => other);
        const me = await otherApi.signedIn('nobase');
        const org = await otherApi.createOrg(me, { name: 'No Base', slug: `nobase-${randomBytes(3).toString('hex')}` });
        const get = (headers: Record<string, string>) => otherApi.call('GET', '/v1/org', me.token, undefined, { headers });
        expectProblem(await get({ host: `${org.slug}.${BASE_DOMAIN}` }), 400, 'organization_required');
        const viaHeader = await get({ host: `${org.slug}.${BASE_DOMAIN}`, 'x-organization-id': org.id });
        expect(viaHeader.statusCode, viaHeader.body).toBe(200);
        expect(viaHeader.json<OrgBody>().id).toBe(org.id);
      } finally {
        await other.destroy();
      }
    });

    describe('membership and role, checked on every request', () => {
      it("refuses an organization token once its member is removed (404), whatever names the organization", async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner, `delta-${randomBytes(3).toString('hex')}`);
        const member = await joined(org.id, 'member');
        await rotate(member, { org_id: org.id });
        expect((await orgOf(member.token)).id).toBe(org.id);

        expect((await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token)).statusCode).toBe(204);

        expect(decodeJwt(member.token)).toMatchObject({ org_id: org.id, org_role: 'member' });
        expectProblem(await getOrg(member.token), 404, 'org_not_found');
        expectProblem(await check(member.token, 'org:read'), 404, 'org_not_found');
        expectProblem(await getOrg(member.token, { 'x-organization-id': org.id }), 404, 'org_not_found');
        expectProblem(await getOrg(member.token, host(org.slug)), 404, 'org_not_found');
        expectProblem(await call('GET', `/v1/orgs/${org.id}`, member.token), 404, 'org_not_found');
      });

      it("applies a role change at the next request although the token's org_role is stale", async () => {
        const owner = await signedIn('owner');
        const org = await createOrg(owner);
        const admin = await joined(org.id, 'admin');
        const member = await joined(org.id, 'member');
        await rotate(admin, { org_id: org.id });
        await rotate(member, { org_id: org.id });

        const renamed = await call('PATCH', `/v1/orgs/${org.id}`, admin.token, { name: 'Renamed by admin' });
        expect(renamed.statusCode, renamed.body).toBe(200);
        expect(await allowed(admin.token, 'org:write')).toBe(true);

        expect((await call('PATCH', `/v1/orgs/${org.id}/members/${admin.user.id}`, owner.token, { role: 'viewer' })).statusCode).toBe(204);
        expect(decodeJwt(admin.token)).toMatchObject({ org_role: 'admin' });
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, admin.token, { name: 'Renamed again' }), 403, 'permission_denied');
        expect(await orgOf(admin.token)).toMatchObject({ id: org.id, role: 'viewer' });
        expect(await allowed(admin.token, 'org:write')).toBe(false);
        expect((await query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [org.id]))[0]!.name).toBe('Renamed by admin');

        // And the other way: a promoted member may act at once with their old token.
        expect((await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token, { role: 'admin' })).statusCode).toBe(204);
        expect(decodeJwt(member.token)).toMatchObject({ org_role: 'member' });
        expect((await call('PATCH', `/v1/orgs/${org.id}`, member.token, { name: 'Renamed by promoted' })).statusCode).toBe(200);
        expect(await orgOf(member.token)).toMatchObject({ role: 'admin' });
      });
    });

  });
});

describe('BASE_DOMAIN configuration', () => {
  it('normalises a domain name (lower case, no trailing dot)', () => {
    expect(loadConfig({ BASE_DOMAIN: 'Tenants.Example.COM.' }).orgs.baseDomain).toBe('tenants.example.com');
    expect(loadConfig({}).orgs.baseDomain).toBeUndefined();
  });

  it.each([
    ['a single label', 'localhost'],
    ['a URL', 'https://example.com'],
    ['a wildcard', '*.example.com'],
    ['a space', 'exa mple.com'],
    ['a port', 'example.com:443'],
    ['a leading dot', '.example.com'],
  ])('refuses %s', (_label, value) => {
    let error: unknown;
    try {
      loadConfig({ BASE_DOMAIN: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^BASE_DOMAIN: expected a domain name such as example\.com, got /);
    expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(['BASE_DOMAIN']);
  });
});
