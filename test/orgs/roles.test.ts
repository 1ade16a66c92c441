import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/platform/crypto/ids.js';
import { BUILT_IN_ROLES } from '../../src/modules/orgs/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { columns, testClient } from '../helpers/client.js';
import { uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';

/*
 * Custom roles of an organization end to end through HTTP on each engine (PGlite with the
 * in-process cache, PostgreSQL with Redis): listing beside the built-in roles, creation, changes and
 * deletion with their refusals; assigning a custom role (directly and through an invitation) and
 * what its holders may then do, at once; tenant isolation of role ids; and the no-escalation rule
 * (nobody grants, manages or changes a role holding a permission they lack). Each change is checked
 * in org_roles / org_members and in the audit_events and events rows it leaves.
 */

const ROLE_ID = /^rol_[0-9a-z]{26}$/;
const { redisUrl } = inject('services');

interface RoleBody {
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
  built_in: boolean;
  created_at: string | null;
  updated_at: string | null;
}
async function appOn(engine: Engine): Promise<TestApp> {
  // Members are not what is tested here: no tier limit on them (invitations count against it).
  const env = { TIER_LIMITS: JSON.stringify({ free: { members: null } }) };
  return createEngineApp(engine, env);
}

describe.each(engineCases())('custom roles on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    /*
     * People are seeded (see `seeded` in the test client): sign-up mails would pile up in the mail
     * queue ahead of the invitation mails these tests wait for (sign-up itself is tested in the
     * accounts suites).
     */
    const api = testClient(() => app, { accounts: 'seeded' });
    const { call, query, joined, team } = api;

    /** Creates a custom role through the API (201 expected). */
    async function createRole(orgId: string, token: string, body: { name?: string; description?: string | null; permissions: string[] }): Promise<RoleBody> {
      const res = await call('POST', `/v1/orgs/${orgId}/roles`, token, { name: `Role ${randomBytes(4).toString('hex')}`, ...body });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<RoleBody>();
    }

    const assign = (orgId: string, token: string, userId: string, role: string) => call('PATCH', `/v1/orgs/${orgId}/members/${userId}`, token, { role });
    const check = async (orgId: string, token: string, permission: string, userId?: string): Promise<boolean> => {
      const res = await call('POST', `/v1/orgs/${orgId}/check-permission`, token, { permission, ...(userId ? { user_id: userId } : {}) });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ allowed: boolean }>().allowed;
    };
    const roleOf = async (orgId: string, userId: string): Promise<string | null> =>
      (await query<{ role: string }>('SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]))[0]?.role ?? null;
    const roleRows = (orgId: string) =>
      query<{ id: string; name: string; description: string | null; permissions: string[] }>('SELECT id, name, description, permissions FROM org_roles WHERE org_id = $1 ORDER BY created_at, id', [orgId]);
    const audit = async (orgId: string, action: string) =>
      columns(await api.auditRows({ orgId, action }), 'actor_type', 'actor_id', 'target_type', 'target_id', 'result', 'changes');
    const events = (orgId: string, type: string) => api.eventRows({ orgId, type });
    const roleAudits = async (orgId: string): Promise<number> =>
      (await query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1 AND action LIKE 'role.%'", [orgId]))[0]!.n;
    const roleEvents = async (orgId: string): Promise<number> =>
      (await query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE org_id = $1 AND type LIKE 'role.%'", [orgId]))[0]!.n;

    /** The token of the newest invitation mail to this address (delivered to the development outbox). */
    async function invitationToken(email: string): Promise<string> {
      const mail = await waitForMail(app, { to: email, template: 'orgs.invitation' });
      return decodeURIComponent(/invitations\/accept\?token=([^\s"<>&]+)/.exec(mail.text)![1]!);
    }

    beforeAll(async () => {
      app = await appOn(engine);
    });
    afterAll(async () => app?.destroy());

    describe('GET /v1/orgs/{org_id}/roles', () => {
      it('lists the 4 built-in roles (built_in: true) then the custom ones oldest first; every member, a viewer too, may read; a non-member gets 404', async () => {
        const t = await team();
        const first = await createRole(t.org.id, t.owner.token, { name: 'Support', description: 'Answers tickets', permissions: ['org:read', 'members:read'] });
        const second = await createRole(t.org.id, t.owner.token, { name: 'Auditor', permissions: ['audit:read'] });

        for (const who of [t.owner, t.admin, t.member, t.viewer]) {
          const res = await call('GET', `/v1/orgs/${t.org.id}/roles`, who.token);
          expect(res.statusCode, res.body).toBe(200);
          const body = res.json<{ data: RoleBody[]; next_cursor: null }>();
          expect(body.next_cursor).toBeNull();
          expect(body.data.map((r) => r.id)).toEqual(['owner', 'admin', 'member', 'viewer', first.id, second.id]);
          for (const [name, role] of Object.entries(BUILT_IN_ROLES)) {
            expect(body.data.find((r) => r.id === name)).toEqual({
              id: name, name, description: role.description, permissions: [...role.permissions], built_in: true, created_at: null, updated_at: null,
            });
          }
          expect(body.data[4]).toEqual({
            id: first.id, name: 'Support', description: 'Answers tickets', permissions: ['org:read', 'members:read'], built_in: false,
            created_at: first.created_at, updated_at: first.updated_at,
          });
          expect(body.data[5]).toMatchObject({ id: second.id, name: 'Auditor', description: null, permissions: ['audit:read'], built_in: false });
        }

        // Another organization's custom roles are not listed; its members see only theirs.
        const other = await team();
        const theirs = await createRole(other.org.id, other.owner.token, { permissions: ['org:read'] });
        const mine = (await call('GET', `/v1/orgs/${t.org.id}/roles`, t.viewer.token)).json<{ data: RoleBody[] }>().data.map((r) => r.id);
        expect(mine).not.toContain(theirs.id);
        expect((await call('GET', `/v1/orgs/${other.org.id}/roles`, other.viewer.token)).json<{ data: RoleBody[] }>().data.map((r) => r.id)).toEqual(['owner', 'admin', 'member', 'viewer', theirs.id]);

        expectProblem(await call('GET', `/v1/orgs/${t.org.id}/roles`, other.owner.token), 404, 'org_not_found');
        expectProblem(await call('GET', `/v1/orgs/${t.org.id}/roles`, null), 401, 'unauthorized');
      });
    });

    describe('POST /v1/orgs/{org_id}/roles', () => {
      it('creates a custom role (201, rol_… id, trimmed name, permissions in catalogue order), stored, audited (role.created) and published', async () => {
        const t = await team();
        const res = await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: '  Billing manager ', description: 'Pays the bills', permissions: ['billing:write', 'members:read', 'org:read'] });
        expect(res.statusCode, res.body).toBe(201);
        const role = res.json<RoleBody>();
        expect(role).toEqual({
          id: expect.stringMatching(ROLE_ID), name: 'Billing manager', description: 'Pays the bills', permissions: ['org:read', 'members:read', 'billing:write'],
          built_in: false, created_at: expect.any(String), updated_at: expect.any(String),
        });
        expect(new Date(role.created_at!).toISOString()).toBe(role.created_at);

        expect(await roleRows(t.org.id)).toEqual([{ id: role.id, name: 'Billing manager', description: 'Pays the bills', permissions: ['org:read', 'members:read', 'billing:write'] }]);
        expect(await audit(t.org.id, 'role.created')).toEqual([
          { actor_type: 'user', actor_id: t.owner.user.id, target_type: 'role', target_id: role.id, result: 'success', changes: null },
        ]);
        expect(await events(t.org.id, 'role.created')).toEqual([
          { type: 'role.created', org_id: t.org.id, payload: { org_id: t.org.id, role_id: role.id, name: 'Billing manager', permissions: ['org:read', 'members:read', 'billing:write'] } },
        ]);

        // An admin creates a role within their own permissions; a role may hold no permission at all.
        const byAdmin = await createRole(t.org.id, t.admin.token, { name: 'Hook keeper', permissions: ['webhooks:write', 'org:read'] });
        expect(byAdmin.permissions).toEqual(['org:read', 'webhooks:write']);
        expect((await audit(t.org.id, 'role.created'))[1]).toMatchObject({ actor_id: t.admin.user.id, target_id: byAdmin.id });
        expect((await createRole(t.org.id, t.owner.token, { name: 'Nothing', permissions: [] })).permissions).toEqual([]);
      });

      it('refuses the name of a built-in role, case-insensitively, and a name taken by a custom role, case-insensitively (409 role_name_taken), creating nothing', async () => {
        const t = await team();
        await createRole(t.org.id, t.owner.token, { name: 'Support', permissions: ['org:read'] });
        const before = { roles: await roleRows(t.org.id), audits: await roleAudits(t.org.id), events: await roleEvents(t.org.id) };

        for (const name of ['owner', 'Admin', 'MEMBER', '  Viewer  ']) {
          const body = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name, permissions: ['org:read'] }), 409, 'role_name_taken');
          expect(body.errors, name).toEqual([{ path: 'body.name', message: 'is a built-in role' }]);
        }
        for (const name of ['Support', 'support', 'SUPPORT', ' sUpPoRt ']) {
          const body = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name, permissions: ['members:read'] }), 409, 'role_name_taken');
          expect(body.detail, name).toContain(JSON.stringify(name.trim()));
          expect(body.errors, name).toEqual([{ path: 'body.name', message: 'is taken' }]);
        }
        expect({ roles: await roleRows(t.org.id), audits: await roleAudits(t.org.id), events: await roleEvents(t.org.id) }).toEqual(before);

        // Names are unique per organization only.
        const other = await team();
        expect((await createRole(other.org.id, other.owner.token, { name: 'Support', permissions: ['org:read'] })).name).toBe('Support');
      });

      it('refuses unknown permissions and the owner-only org:delete / org:transfer (422 unknown_permission, naming each), even for the owner', async () => {
        const t = await team();
        const unknown = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: 'Bad', permissions: ['org:read', 'org:destroy'] }), 422, 'unknown_permission');
        expect(unknown.errors).toEqual([{ path: 'body.permissions.1', message: expect.stringContaining('org:destroy') }]);
        expect(unknown.detail).toContain('org:destroy');

        for (const permission of ['org:delete', 'org:transfer']) {
          const body = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: 'Deputy', permissions: ['org:read', permission] }), 422, 'unknown_permission');
          expect(body.errors).toEqual([{ path: 'body.permissions.1', message: `${permission} belongs to owners only` }]);
        }
        const both = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: 'Deputy', permissions: ['org:delete', 'nope'] }), 422, 'unknown_permission');
        expect((both.errors as { path: string }[]).map((e) => e.path)).toEqual(['body.permissions.0', 'body.permissions.1']);
        expect(await roleRows(t.org.id)).toEqual([]);
        expect(await roleAudits(t.org.id)).toBe(0);
      });

      it('refuses a member without roles:write (403 permission_denied) and an admin granting billing:write, which they lack (403 with `missing`)', async () => {
        const t = await team();
        for (const who of [t.member, t.viewer]) {
          const body = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, who.token, { name: 'Mine', permissions: ['org:read'] }), 403, 'permission_denied');
          expect(body.permission).toBe('roles:write');
        }
        const escalation = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.admin.token, { name: 'Payer', permissions: ['org:read', 'billing:write'] }), 403, 'permission_denied');
        expect(escalation.missing).toEqual(['billing:write']);
        expect(escalation.detail).toContain('billing:write');

        // A custom role with roles:write but not members:write cannot hand members:write out.
        const roleAdmin = await createRole(t.org.id, t.owner.token, { name: 'Role admin', permissions: ['org:read', 'roles:write'] });
        const holder = await joined(t.org.id, roleAdmin.id, 'role-admin');
        const denied = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, holder.token, { name: 'Managers', permissions: ['members:read', 'members:write'] }), 403, 'permission_denied');
        expect(denied.missing).toEqual(['members:read', 'members:write']);
        expect((await createRole(t.org.id, holder.token, { name: 'Readers', permissions: ['org:read'] })).name).toBe('Readers');

        expect((await roleRows(t.org.id)).map((r) => r.name)).toEqual(['Role admin', 'Readers']);
        expect(await audit(t.org.id, 'role.created')).toHaveLength(2);
        expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, null, { name: 'Anon', permissions: [] }), 401, 'unauthorized');
      });

      it('refuses a 51st custom role (409 role_limit_reached); deleting one makes room', async () => {
        const t = await team();
        await query(
          "INSERT INTO org_roles (org_id, id, name, permissions) SELECT $1, 'rol_' || lpad(i::text, 26, '0'), 'Bulk ' || i, '[]'::jsonb FROM generate_series(1, 50) AS i",
          [t.org.id],
        );
        expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { name: 'One too many', permissions: [] }), 409, 'role_limit_reached');
        expect(await roleRows(t.org.id)).toHaveLength(50);
        expect(await roleAudits(t.org.id)).toBe(0);
        expect((await call('DELETE', `/v1/orgs/${t.org.id}/roles/rol_${'1'.padStart(26, '0')}`, t.owner.token)).statusCode).toBe(204);
        expect((await createRole(t.org.id, t.owner.token, { name: 'One too many', permissions: [] })).name).toBe('One too many');
        expect(await roleRows(t.org.id)).toHaveLength(50);
      });

      it('refuses malformed bodies (400 validation_failed), creating nothing', async () => {
        const t = await team();
        const bodies: unknown[] = [
          {},
          { permissions: ['org:read'] },
          { name: 'No permissions' },
          { name: '', permissions: [] },
          { name: '   ', permissions: [] },
          { name: 'n'.repeat(101), permissions: [] },
          { name: 'Dup', permissions: ['org:read', 'org:read'] },
          { name: 'Empty item', permissions: [''] },
          { name: 'Long description', description: 'd'.repeat(501), permissions: [] },
          { name: 'Extra', permissions: [], built_in: true },
          { name: 'Object items', permissions: [{ name: 'org:read' }] },
        ];
        for (const body of bodies) expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, body), 400, 'validation_failed');
        const missing = expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.owner.token, { permissions: [] }), 400, 'validation_failed');
        expect(missing.errors).toContainEqual({ path: 'body.name', message: expect.any(String) });
        // The org guard runs before validation: a malformed organization id is no organization.
        expectProblem(await call('POST', '/v1/orgs/not-an-org/roles', t.owner.token, { name: 'x', permissions: [] }), 404, 'org_not_found');
        expect(await roleRows(t.org.id)).toEqual([]);
        expect(await roleAudits(t.org.id)).toBe(0);
      });
    });

    describe('assigning a custom role', () => {
      it('gives its holder exactly its permissions: routes that need them answer, the others 403; check-permission agrees; the change is audited', async () => {
        const t = await team();
        const reader = await createRole(t.org.id, t.owner.token, { name: 'Member reader', permissions: ['org:read', 'members:read'] });
        const auditor = await createRole(t.org.id, t.owner.token, { name: 'Auditor', permissions: ['audit:read'] });

        expect((await assign(t.org.id, t.admin.token, t.viewer.user.id, reader.id)).statusCode).toBe(204);
        expect(await roleOf(t.org.id, t.viewer.user.id)).toBe(reader.id);
        expect(await audit(t.org.id, 'member.role_changed')).toEqual([
          { actor_type: 'user', actor_id: t.admin.user.id, target_type: 'user', target_id: t.viewer.user.id, result: 'success', changes: { role: { before: 'viewer', after: reader.id } } },
        ]);
        expect((await events(t.org.id, 'member.role_changed'))[0]!.payload).toEqual({ org_id: t.org.id, user_id: t.viewer.user.id, role: reader.id, previous_role: 'viewer' });

        // members:read: the member list and the invitations are open to them; members:write is not.
        const org = await call('GET', `/v1/orgs/${t.org.id}`, t.viewer.token);
        expect(org.statusCode, org.body).toBe(200);
        expect(org.json()).toMatchObject({ id: t.org.id, role: reader.id });
        const members = await call('GET', `/v1/orgs/${t.org.id}/members`, t.viewer.token);
        expect(members.statusCode, members.body).toBe(200);
        expect(members.json<{ data: { user_id: string; role: string }[] }>().data).toContainEqual(expect.objectContaining({ user_id: t.viewer.user.id, role: reader.id }));
        expect((await call('GET', `/v1/orgs/${t.org.id}/invitations`, t.viewer.token)).statusCode).toBe(200);
        expect(expectProblem(await assign(t.org.id, t.viewer.token, t.member.user.id, 'viewer'), 403, 'permission_denied').permission).toBe('members:write');
        expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.viewer.token, { name: 'x', permissions: [] }), 403, 'permission_denied');
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}`, t.viewer.token, { name: 'Renamed' }), 403, 'permission_denied');
        for (const [permission, allowed] of [['org:read', true], ['members:read', true], ['members:write', false], ['audit:read', false], ['roles:write', false], ['billing:write', false]] as const) {
          expect(await check(t.org.id, t.viewer.token, permission), permission).toBe(allowed);
          // Asked by someone else about the holder, the answer is the same.
          expect(await check(t.org.id, t.owner.token, permission, t.viewer.user.id), permission).toBe(allowed);
        }

        // A custom role without members:read (nor org:read): the list and even the organization are closed.
        expect((await assign(t.org.id, t.owner.token, t.member.user.id, auditor.id)).statusCode).toBe(204);
        expect(expectProblem(await call('GET', `/v1/orgs/${t.org.id}/members`, t.member.token), 403, 'permission_denied').permission).toBe('members:read');
        expectProblem(await call('GET', `/v1/orgs/${t.org.id}`, t.member.token), 403, 'permission_denied');
        expect(await check(t.org.id, t.member.token, 'audit:read')).toBe(true);
        expect(await check(t.org.id, t.member.token, 'members:read')).toBe(false);
        expect(await check(t.org.id, t.member.token, 'org:read')).toBe(false);

        // Back to a built-in role: the built-in permissions again.
        expect((await assign(t.org.id, t.owner.token, t.member.user.id, 'member')).statusCode).toBe(204);
        expect((await call('GET', `/v1/orgs/${t.org.id}/members`, t.member.token)).statusCode).toBe(200);
      });

      it('refuses an unknown custom role id and a custom role of another organization (422 unknown_role), and a malformed one (400), changing nothing', async () => {
        const t = await team();
        const other = await team();
        const foreign = await createRole(other.org.id, other.owner.token, { name: 'Foreign', permissions: ['org:read', 'members:read'] });
        const before = await roleOf(t.org.id, t.member.user.id);

        const unknown = expectProblem(await assign(t.org.id, t.owner.token, t.member.user.id, newId('rol')), 422, 'unknown_role');
        expect(unknown.detail).toContain('custom role');
        // Tenant isolation: a role id of another organization is no role here.
        expectProblem(await assign(t.org.id, t.owner.token, t.member.user.id, foreign.id), 422, 'unknown_role');
        expectProblem(await assign(t.org.id, t.admin.token, t.viewer.user.id, foreign.id), 422, 'unknown_role');
        for (const role of ['rol_short', 'ROL_00000000000000000000000000', 'Foreign', 'superuser']) {
          expectProblem(await assign(t.org.id, t.owner.token, t.member.user.id, role), 400, 'validation_failed');
        }
        expect(await roleOf(t.org.id, t.member.user.id)).toBe(before);
        expect(await audit(t.org.id, 'member.role_changed')).toEqual([]);
        // And the foreign role works in its own organization.
        expect((await assign(other.org.id, other.owner.token, other.viewer.user.id, foreign.id)).statusCode).toBe(204);
      });

      it('a member holding a custom role with members:write manages only members who hold no more than they do', async () => {
        const t = await team();
        const manager = await createRole(t.org.id, t.owner.token, { name: 'Manager', permissions: ['org:read', 'members:read', 'members:write'] });
        const holder = await joined(t.org.id, manager.id, 'manager');

        expect((await assign(t.org.id, holder.token, t.viewer.user.id, 'member')).statusCode).toBe(204);
        expect((await assign(t.org.id, holder.token, t.viewer.user.id, manager.id)).statusCode).toBe(204);
        expect(await roleOf(t.org.id, t.viewer.user.id)).toBe(manager.id);
        // Granting admin, or touching an admin, would hand out or take away what they lack.
        expect(expectProblem(await assign(t.org.id, holder.token, t.member.user.id, 'admin'), 403, 'permission_denied').missing).toEqual(expect.arrayContaining(['roles:write', 'api_keys:write']));
        expectProblem(await assign(t.org.id, holder.token, t.admin.user.id, 'viewer'), 403, 'permission_denied');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/members/${t.admin.user.id}`, holder.token), 403, 'permission_denied');
        expect(await roleOf(t.org.id, t.admin.user.id)).toBe('admin');
        expect(await roleOf(t.org.id, t.member.user.id)).toBe('member');
      });
    });

    describe('PATCH /v1/orgs/{org_id}/roles/{role_id}', () => {
      it('renames a role and changes its permissions (200): its holders change with it on their next request; role.updated is audited with before/after and published', async () => {
        const t = await team();
        const role = await createRole(t.org.id, t.owner.token, { name: 'Support', description: 'Helps', permissions: ['org:read', 'members:read'] });
        const holder = await joined(t.org.id, role.id, 'holder');
        expect((await call('GET', `/v1/orgs/${t.org.id}/members`, holder.token)).statusCode).toBe(200);
        expect(await check(t.org.id, holder.token, 'audit:read')).toBe(false);

        const res = await call('PATCH', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.admin.token, { name: 'Support desk', permissions: ['audit:read', 'org:read'] });
        expect(res.statusCode, res.body).toBe(200);
        const updated = res.json<RoleBody>();
        expect(updated).toMatchObject({ id: role.id, name: 'Support desk', description: 'Helps', permissions: ['org:read', 'audit:read'], built_in: false, created_at: role.created_at });
        expect(Date.parse(updated.updated_at!)).toBeGreaterThanOrEqual(Date.parse(role.updated_at!));
        expect(await roleRows(t.org.id)).toEqual([{ id: role.id, name: 'Support desk', description: 'Helps', permissions: ['org:read', 'audit:read'] }]);

        // At once: the holder's very next requests see the new permissions.
        expect(expectProblem(await call('GET', `/v1/orgs/${t.org.id}/members`, holder.token), 403, 'permission_denied').permission).toBe('members:read');
        expect(await check(t.org.id, holder.token, 'audit:read')).toBe(true);
        expect(await check(t.org.id, holder.token, 'members:read')).toBe(false);
        expect(await check(t.org.id, t.owner.token, 'audit:read', holder.user.id)).toBe(true);
        expect(await roleOf(t.org.id, holder.user.id)).toBe(role.id);

        expect(await audit(t.org.id, 'role.updated')).toEqual([{
          actor_type: 'user', actor_id: t.admin.user.id, target_type: 'role', target_id: role.id, result: 'success',
          changes: { name: { before: 'Support', after: 'Support desk' }, permissions: { before: ['org:read', 'members:read'], after: ['org:read', 'audit:read'] } },
        }]);
        expect(await events(t.org.id, 'role.updated')).toEqual([
          { type: 'role.updated', org_id: t.org.id, payload: { org_id: t.org.id, role_id: role.id, name: 'Support desk', permissions: ['org:read', 'audit:read'] } },
        ]);

        // Description alone; null clears it; only what changed is in `changes`.
        const cleared = await call('PATCH', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.owner.token, { description: null });
        expect(cleared.statusCode, cleared.body).toBe(200);
        expect(cleared.json()).toMatchObject({ name: 'Support desk', description: null, permissions: ['org:read', 'audit:read'] });
        expect((await audit(t.org.id, 'role.updated'))[1]!.changes).toEqual({ description: { before: 'Helps', after: null } });
        // Renaming to its own name in another case is no clash with itself.
        expect((await call('PATCH', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.owner.token, { name: 'SUPPORT DESK' })).statusCode).toBe(200);
      });

      it('404 role_not_found for an unknown id and for another organization\'s role, which stays as it was', async () => {
        const t = await team();
        const other = await team();
        const foreign = await createRole(other.org.id, other.owner.token, { name: 'Foreign', permissions: ['org:read'] });
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/${newId('rol')}`, t.owner.token, { name: 'Ghost' }), 404, 'role_not_found');
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/${foreign.id}`, t.owner.token, { name: 'Stolen', permissions: ['org:read', 'members:read'] }), 404, 'role_not_found');
        expectProblem(await call('PATCH', `/v1/orgs/${other.org.id}/roles/${foreign.id}`, t.owner.token, { name: 'Stolen' }), 404, 'org_not_found');
        expect(await roleRows(other.org.id)).toEqual([{ id: foreign.id, name: 'Foreign', description: null, permissions: ['org:read'] }]);
        expect(await audit(other.org.id, 'role.updated')).toEqual([]);
        // Built-in roles are not custom roles: their names are not role ids here.
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/admin`, t.owner.token, { name: 'Boss' }), 400, 'validation_failed');
      });

      it('refuses a taken or built-in name (409), an unknown or owner-only permission (422), an empty or malformed body (400), a member without roles:write (403), and an admin managing or extending a role with billing:write (403)', async () => {
        const t = await team();
        const support = await createRole(t.org.id, t.owner.token, { name: 'Support', permissions: ['org:read'] });
        await createRole(t.org.id, t.owner.token, { name: 'Sales', permissions: ['org:read'] });
        const billing = await createRole(t.org.id, t.owner.token, { name: 'Billing', permissions: ['org:read', 'billing:write'] });
        const url = `/v1/orgs/${t.org.id}/roles/${support.id}`;
        const before = await roleRows(t.org.id);

        expectProblem(await call('PATCH', url, t.owner.token, { name: 'sales' }), 409, 'role_name_taken');
        expectProblem(await call('PATCH', url, t.owner.token, { name: 'Owner' }), 409, 'role_name_taken');
        expectProblem(await call('PATCH', url, t.owner.token, { permissions: ['org:read', 'org:transfer'] }), 422, 'unknown_permission');
        expectProblem(await call('PATCH', url, t.owner.token, { permissions: ['everything'] }), 422, 'unknown_permission');
        for (const body of [{}, { name: '' }, { permissions: null }, { id: 'owner' }, { permissions: ['org:read', 'org:read'] }]) {
          expectProblem(await call('PATCH', url, t.owner.token, body), 400, 'validation_failed');
        }
        expectProblem(await call('PATCH', url, t.member.token, { name: 'Mine' }), 403, 'permission_denied');

        const extend = expectProblem(await call('PATCH', url, t.admin.token, { permissions: ['org:read', 'billing:write'] }), 403, 'permission_denied');
        expect(extend.missing).toEqual(['billing:write']);
        // Managing a role means holding what it grants: an admin cannot even rename or trim it.
        const manage = expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/${billing.id}`, t.admin.token, { permissions: ['org:read'] }), 403, 'permission_denied');
        expect(manage.missing).toEqual(['billing:write']);
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/${billing.id}`, t.admin.token, { name: 'Renamed' }), 403, 'permission_denied');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${billing.id}`, t.admin.token), 403, 'permission_denied');

        expect(await roleRows(t.org.id)).toEqual(before);
        expect(await audit(t.org.id, 'role.updated')).toEqual([]);
        expect(await audit(t.org.id, 'role.deleted')).toEqual([]);
      });
    });

    describe('DELETE /v1/orgs/{org_id}/roles/{role_id}', () => {
      it('409 role_in_use while a member holds it or a pending invitation grants it (with the counts); once reassigned and revoked, 204, role.deleted audited and published; then 404', async () => {
        const t = await team();
        const role = await createRole(t.org.id, t.owner.token, { name: 'Temp', permissions: ['org:read', 'members:read'] });
        const url = `/v1/orgs/${t.org.id}/roles/${role.id}`;
        const a = await joined(t.org.id, role.id, 'holder-a');
        const b = await joined(t.org.id, role.id, 'holder-b');

        const held = expectProblem(await call('DELETE', url, t.owner.token), 409, 'role_in_use');
        expect(held).toMatchObject({ members: 2, pending_invitations: 0 });
        expect(held.detail).toContain('Temp');

        const invited = await call('POST', `/v1/orgs/${t.org.id}/invitations`, t.owner.token, { email: uniqueEmail('invitee'), role: role.id });
        expect(invited.statusCode, invited.body).toBe(201);
        expect(invited.json()).toMatchObject({ role: role.id });
        expect(expectProblem(await call('DELETE', url, t.owner.token), 409, 'role_in_use')).toMatchObject({ members: 2, pending_invitations: 1 });

        expect((await assign(t.org.id, t.owner.token, a.user.id, 'member')).statusCode).toBe(204);
        expect((await call('DELETE', `/v1/orgs/${t.org.id}/members/${b.user.id}`, t.owner.token)).statusCode).toBe(204);
        // No member holds it any more; the pending invitation alone still keeps it.
        expect(expectProblem(await call('DELETE', url, t.owner.token), 409, 'role_in_use')).toMatchObject({ members: 0, pending_invitations: 1 });
        expect(await roleRows(t.org.id)).toHaveLength(1);

        const revoked = await call('DELETE', `/v1/orgs/${t.org.id}/invitations/${invited.json<{ id: string }>().id}`, t.owner.token);
        expect(revoked.statusCode, revoked.body).toBe(204);
        const res = await call('DELETE', url, t.owner.token);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expect(await roleRows(t.org.id)).toEqual([]);
        expect(await audit(t.org.id, 'role.deleted')).toEqual([{ actor_type: 'user', actor_id: t.owner.user.id, target_type: 'role', target_id: role.id, result: 'success', changes: null }]);
        expect(await events(t.org.id, 'role.deleted')).toEqual([
          { type: 'role.deleted', org_id: t.org.id, payload: { org_id: t.org.id, role_id: role.id, name: 'Temp', permissions: ['org:read', 'members:read'] } },
        ]);
        expect((await call('GET', `/v1/orgs/${t.org.id}/roles`, t.owner.token)).json<{ data: RoleBody[] }>().data.map((r) => r.id)).toEqual(['owner', 'admin', 'member', 'viewer']);

        expectProblem(await call('DELETE', url, t.owner.token), 404, 'role_not_found');
        // A deleted role can no longer be assigned.
        expectProblem(await assign(t.org.id, t.owner.token, t.member.user.id, role.id), 422, 'unknown_role');
      });

      it('an expired invitation does not keep a role; 404 for an unknown id and another organization\'s role; 403 without roles:write', async () => {
        const t = await team();
        const role = await createRole(t.org.id, t.owner.token, { name: 'Invited role', permissions: ['org:read'] });
        const invited = await call('POST', `/v1/orgs/${t.org.id}/invitations`, t.owner.token, { email: uniqueEmail('late'), role: role.id });
        expect(invited.statusCode, invited.body).toBe(201);
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.owner.token), 409, 'role_in_use');
        await query("UPDATE org_invitations SET expires_at = now() - interval '1 minute' WHERE org_id = $1", [t.org.id]);

        const other = await team();
        const foreign = await createRole(other.org.id, other.owner.token, { name: 'Foreign', permissions: ['org:read'] });
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${newId('rol')}`, t.owner.token), 404, 'role_not_found');
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${foreign.id}`, t.owner.token), 404, 'role_not_found');
        expect(await roleRows(other.org.id)).toHaveLength(1);
        for (const who of [t.member, t.viewer]) expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${role.id}`, who.token), 403, 'permission_denied');
        expect(await roleRows(t.org.id)).toHaveLength(1);

        expect((await call('DELETE', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.admin.token)).statusCode).toBe(204);
        expect(await roleRows(t.org.id)).toEqual([]);
      });

      it('a deletion racing an assignment of the role: either the deletion wins and the assignment is 422, or the assignment wins and the deletion is 409; never a member holding a deleted role', async () => {
        for (let round = 0; round < 4; round++) {
          const t = await team();
          const role = await createRole(t.org.id, t.owner.token, { name: `Race ${round}`, permissions: ['org:read'] });
          const [deleted, assigned] = await Promise.all([
            call('DELETE', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.owner.token),
            assign(t.org.id, t.admin.token, t.member.user.id, role.id),
          ]);
          const exists = (await roleRows(t.org.id)).length === 1;
          if (deleted.statusCode === 204) {
            expectProblem(assigned, 422, 'unknown_role');
            expect(exists).toBe(false);
            expect(await roleOf(t.org.id, t.member.user.id)).toBe('member');
          } else {
            expect(assigned.statusCode, assigned.body).toBe(204);
            expect(expectProblem(deleted, 409, 'role_in_use').members).toBe(1);
            expect(exists).toBe(true);
            expect(await roleOf(t.org.id, t.member.user.id)).toBe(role.id);
          }
        }
      });
    });

    describe('invitations with a custom role', () => {
      it('an invitation with a rol_… role, accepted, makes the newcomer a holder of that role with its permissions', async () => {
        const t = await team();
        const role = await createRole(t.org.id, t.owner.token, { name: 'Contractor', permissions: ['org:read', 'members:read'] });
        const email = uniqueEmail('contractor');
        const invited = await call('POST', `/v1/orgs/${t.org.id}/invitations`, t.admin.token, { email, role: role.id });
        expect(invited.statusCode, invited.body).toBe(201);
        expect(invited.json()).toMatchObject({ email, role: role.id, invited_by: t.admin.user.id });
        expect((await events(t.org.id, 'invitation.created'))[0]!.payload).toMatchObject({ email, role: role.id });
        const listed = (await call('GET', `/v1/orgs/${t.org.id}/invitations`, t.owner.token)).json<{ data: { email: string; role: string }[] }>().data;
        expect(listed).toContainEqual(expect.objectContaining({ email, role: role.id }));

        const token = await invitationToken(email);
        const newcomer = await api.signedIn('contractor', { email });
        const accepted = await call('POST', '/v1/invitations/accept', newcomer.token, { token });
        expect(accepted.statusCode, accepted.body).toBe(200);
        expect(accepted.json()).toMatchObject({ role: role.id, org: { id: t.org.id, role: role.id } });
        expect(await roleOf(t.org.id, newcomer.user.id)).toBe(role.id);
        expect((await events(t.org.id, 'member.added')).map((e) => e.payload)).toContainEqual(expect.objectContaining({ user_id: newcomer.user.id, role: role.id }));

        expect((await call('GET', `/v1/orgs/${t.org.id}/members`, newcomer.token)).statusCode).toBe(200);
        expect(await check(t.org.id, newcomer.token, 'members:write')).toBe(false);
        expectProblem(await assign(t.org.id, newcomer.token, t.viewer.user.id, 'member'), 403, 'permission_denied');
        // The invitation is spent, so only the member keeps the role.
        expect(expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/roles/${role.id}`, t.owner.token), 409, 'role_in_use')).toMatchObject({ members: 1, pending_invitations: 0 });
      });

      it('refuses inviting with an unknown or foreign custom role (422 unknown_role) and with a role holding a permission the inviter lacks (403)', async () => {
        const t = await team();
        const other = await team();
        const foreign = await createRole(other.org.id, other.owner.token, { name: 'Foreign', permissions: ['org:read'] });
        const payer = await createRole(t.org.id, t.owner.token, { name: 'Payer', permissions: ['org:read', 'billing:write'] });
        const invite = (token: string, role: string) => call('POST', `/v1/orgs/${t.org.id}/invitations`, token, { email: uniqueEmail('x'), role });
        expectProblem(await invite(t.owner.token, newId('rol')), 422, 'unknown_role');
        expectProblem(await invite(t.owner.token, foreign.id), 422, 'unknown_role');
        expect(expectProblem(await invite(t.admin.token, payer.id), 403, 'permission_denied').missing).toEqual(['billing:write']);
        expect(await query('SELECT id FROM org_invitations WHERE org_id = $1', [t.org.id])).toEqual([]);
        expect((await invite(t.owner.token, payer.id)).statusCode).toBe(201);
      });
    });

    describe('no escalation on assignment', () => {
      it('an admin cannot assign a custom role holding billing:write, nor change or remove a member holding one; the owner can', async () => {
        const t = await team();
        const payer = await createRole(t.org.id, t.owner.token, { name: 'Payer', permissions: ['org:read', 'billing:write'] });

        const granted = expectProblem(await assign(t.org.id, t.admin.token, t.member.user.id, payer.id), 403, 'permission_denied');
        expect(granted.missing).toEqual(['billing:write']);
        expect(await roleOf(t.org.id, t.member.user.id)).toBe('member');

        expect((await assign(t.org.id, t.owner.token, t.member.user.id, payer.id)).statusCode).toBe(204);
        expect(await roleOf(t.org.id, t.member.user.id)).toBe(payer.id);
        expect(await check(t.org.id, t.member.token, 'billing:write')).toBe(true);

        // The holder has billing:write, which the admin lacks: the admin may not touch them.
        for (const role of ['viewer', 'member', 'admin']) {
          const body = expectProblem(await assign(t.org.id, t.admin.token, t.member.user.id, role), 403, 'permission_denied');
          expect(body.missing, role).toEqual(['billing:write']);
        }
        expectProblem(await call('DELETE', `/v1/orgs/${t.org.id}/members/${t.member.user.id}`, t.admin.token), 403, 'permission_denied');
        expect(await roleOf(t.org.id, t.member.user.id)).toBe(payer.id);
        expect((await audit(t.org.id, 'member.role_changed')).map((r) => r.actor_id)).toEqual([t.owner.user.id]);

        // Extending a held role later is the same escalation, refused; the owner can take the role back.
        expectProblem(await call('PATCH', `/v1/orgs/${t.org.id}/roles/${payer.id}`, t.admin.token, { permissions: ['org:read'] }), 403, 'permission_denied');
        expect((await assign(t.org.id, t.owner.token, t.member.user.id, 'viewer')).statusCode).toBe(204);
        expect((await assign(t.org.id, t.admin.token, t.member.user.id, 'member')).statusCode).toBe(204);
      });

      it('the role an actor holds is read inside the change: an admin demoted to a custom role loses what the role lacks at once', async () => {
        const t = await team();
        const limited = await createRole(t.org.id, t.owner.token, { name: 'Limited', permissions: ['org:read', 'members:read', 'members:write'] });
        const wide = await createRole(t.org.id, t.owner.token, { name: 'Wide', permissions: ['org:read', 'roles:write'] });
        expect((await assign(t.org.id, t.owner.token, t.admin.user.id, limited.id)).statusCode).toBe(204);
        // As a Limited holder, the former admin cannot hand out roles:write any more.
        expect(expectProblem(await assign(t.org.id, t.admin.token, t.viewer.user.id, wide.id), 403, 'permission_denied').missing).toEqual(['roles:write']);
        expectProblem(await call('POST', `/v1/orgs/${t.org.id}/roles`, t.admin.token, { name: 'x', permissions: [] }), 403, 'permission_denied');
        expect(await roleOf(t.org.id, t.viewer.user.id)).toBe('viewer');
      });
    });
  });
});
