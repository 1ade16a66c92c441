import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/platform/crypto/ids.js';
import { BUILT_IN_ROLES, PERMISSIONS, type Permission } from '../../src/modules/orgs/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { PASSWORD, testClient, type OrgBody, type Page, type Role, type Signed } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Organizations and their members end to end through HTTP on each engine (PGlite with the
 * in-process cache, PostgreSQL with Redis): every endpoint's success and refusals, with the rows it
 * leaves behind (organizations, org_members, audit_events, the events outbox), the last-owner rule
 * under concurrent requests, and the permission catalogue.
 */

const SLUG = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const { redisUrl } = inject('services');

interface MemberBody {
  user_id: string;
  email: string;
  name: string | null;
  role: Role;
  joined_at: string;
}

async function appOn(engine: Engine): Promise<TestApp> {
  return createEngineApp(engine);
}

describe.each(engineCases())('organizations on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call, query, signedIn, createOrg, joined, team } = api;

    /** user id → role, as stored. */
    const roles = async (orgId: string): Promise<Record<string, string>> =>
      Object.fromEntries((await query<{ user_id: string; role: string }>('SELECT user_id, role FROM org_members WHERE org_id = $1', [orgId])).map((r) => [r.user_id, r.role]));
    const orgRow = async (orgId: string) =>
      (await query<{ id: string; slug: string; name: string; tier: string }>('SELECT id, slug, name, tier FROM organizations WHERE id = $1', [orgId]))[0];
    const audit = (orgId: string, action: string) => api.auditRows({ orgId, action });
    const events = (orgId: string, type: string) => api.eventRows({ orgId, type });
    const countOf = async (table: 'organizations' | 'org_members' | 'audit_events' | 'events') =>
      Number((await query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

    beforeAll(async () => {
      app = await appOn(engine);
    });
    afterAll(async () => app?.destroy());

    describe('POST /v1/orgs', () => {
      it('creates an organization (201): the creator is its owner, the slug comes from the name, and org.created + member.added are audited and published with the org id', async () => {
        const alice = await signedIn('alice');
        const res = await call('POST', '/v1/orgs', alice.token, { name: 'Acme Corp' });
        expect(res.statusCode, res.body).toBe(201);
        const org = res.json<OrgBody>();
        expect(org).toEqual({ id: expect.stringMatching(/^org_[0-9a-z]{26}$/), slug: 'acme-corp', name: 'Acme Corp', tier: 'free', role: 'owner', created_at: expect.any(String), updated_at: expect.any(String) });
        expect(new Date(org.created_at).toISOString()).toBe(org.created_at);

        expect(await orgRow(org.id)).toEqual({ id: org.id, slug: 'acme-corp', name: 'Acme Corp', tier: 'free' });
        expect(await roles(org.id)).toEqual({ [alice.user.id]: 'owner' });

        const [created] = await audit(org.id, 'org.created');
        expect(created).toMatchObject({ org_id: org.id, actor_type: 'user', actor_id: alice.user.id, target_type: 'org', target_id: org.id, result: 'success', request_id: expect.any(String) });
        const [added] = await audit(org.id, 'member.added');
        expect(added).toMatchObject({ org_id: org.id, actor_id: alice.user.id, target_type: 'user', target_id: alice.user.id });
        expect(await events(org.id, 'org.created')).toEqual([{ type: 'org.created', org_id: org.id, payload: { org_id: org.id, name: 'Acme Corp', slug: 'acme-corp' } }]);
        expect(await events(org.id, 'member.added')).toEqual([{ type: 'member.added', org_id: org.id, payload: { org_id: org.id, user_id: alice.user.id, role: 'owner' } }]);

        // A second "Acme Corp" (another creator) gets the slug with a suffix.
        const bob = await signedIn('bob');
        const second = await createOrg(bob, { name: 'Acme Corp' });
        expect(second.slug).toMatch(/^acme-corp-[0-9a-f]{6}$/);
        expect(second.id).not.toBe(org.id);
        expect(await roles(second.id)).toEqual({ [bob.user.id]: 'owner' });
      });

      it('accepts an explicit slug and trims the name', async () => {
        const owner = await signedIn('explicit');
        const slug = `team-${randomBytes(3).toString('hex')}`;
        const org = await createOrg(owner, { name: '  Explicit Team  ', slug });
        expect(org).toMatchObject({ slug, name: 'Explicit Team', role: 'owner' });
        expect(await orgRow(org.id)).toMatchObject({ slug, name: 'Explicit Team' });
      });

      // Regression: a long name cut to 50 characters could leave a slug ending with a hyphen.
      it('derives a valid slug from any name: reserved words, short, non-Latin and long names', async () => {
        const owner = await signedIn('derive');
        const names = ['Admin', 'AB', '日本語の会社', 'Ünïcödé Çafé', `${'a'.repeat(49)} b`, 'z'.repeat(200), '--- Hyphens ---'];
        const slugs: string[] = [];
        for (const name of names) {
          const org = await createOrg(owner, { name });
          expect(org.slug, name).toMatch(SLUG);
          expect(org.slug).not.toBe('admin');
          slugs.push(org.slug);
        }
        expect(slugs[0]).toBe('org-admin');
        expect(slugs[1]).toBe('org-ab');
        expect(slugs[2]).toMatch(/^org-[0-9a-f]{6}$/);
        expect(slugs[3]).toBe('unicode-cafe');
        expect(slugs[6]).toBe('hyphens');
        // The derived slug of a long name is accepted as an explicit slug too.
        const res = await call('PATCH', `/v1/orgs/${(await createOrg(owner, { name: 'Long' })).id}`, owner.token, { slug: `${slugs[4]}-x` });
        expect(res.statusCode, res.body).toBe(200);
      });

      it('refuses reserved and malformed slugs (422 invalid_slug), a taken slug (409 slug_taken), a missing name (400) and no token (401), creating nothing', async () => {
        const owner = await signedIn('refused');
        const taken = await createOrg(owner);
        const before = { orgs: await countOf('organizations'), members: await countOf('org_members'), audit: await countOf('audit_events'), events: await countOf('events') };

        for (const slug of ['admin', 'www']) {
          const body = expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'Reserved', slug }), 422, 'invalid_slug');
          expect(body.errors).toEqual([{ path: 'body.slug', message: 'is reserved' }]);
        }
        for (const slug of ['A', 'ab', '-x-', 'ends-', 'has_underscore', 'Upper-Case', 'x'.repeat(64)]) {
          const body = expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'Bad slug', slug }), 422, 'invalid_slug');
          expect(body.errors, slug).toEqual([{ path: 'body.slug', message: expect.stringContaining('lowercase letters') }]);
        }
        // Longer than the schema allows: refused by validation.
        expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'Bad slug', slug: 'x'.repeat(101) }), 400, 'validation_failed');

        expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'Copycat', slug: taken.slug }), 409, 'slug_taken');

        const noName = expectProblem(await call('POST', '/v1/orgs', owner.token, { slug: 'no-name-here' }), 400, 'validation_failed');
        expect(noName.errors).toContainEqual({ path: 'body.name', message: expect.any(String) });
        expectProblem(await call('POST', '/v1/orgs', owner.token, { name: '' }), 400, 'validation_failed');
        // Regression: a name of blanks only was trimmed and stored empty.
        const blank = expectProblem(await call('POST', '/v1/orgs', owner.token, { name: ' \t ' }), 400, 'validation_failed');
        expect(blank.errors).toContainEqual({ path: 'body.name', message: expect.any(String) });
        expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'n'.repeat(201) }), 400, 'validation_failed');
        expectProblem(await call('POST', '/v1/orgs', owner.token, { name: 'Extra', tier: 'enterprise' }), 400, 'validation_failed');

        const anonymous = expectProblem(await call('POST', '/v1/orgs', null, { name: 'Anonymous' }), 401, 'unauthorized');
        expect(anonymous).not.toHaveProperty('id');
        expectProblem(await call('POST', '/v1/orgs', 'not.a.jwt', { name: 'Forged' }), 401, 'invalid_token');

        expect({ orgs: await countOf('organizations'), members: await countOf('org_members'), audit: await countOf('audit_events'), events: await countOf('events') }).toEqual(before);
      });
    });

    describe('GET /v1/orgs and GET /v1/orgs/{id}', () => {
      it('lists only my organizations, each with my role', async () => {
        const me = await signedIn('lister');
        const stranger = await signedIn('stranger');
        const mine = await createOrg(me, { name: 'Mine' });
        const theirs = await createOrg(stranger, { name: 'Theirs' });
        const other = await createOrg(stranger, { name: 'Not mine' });
        await app.context.orgs.addMember(theirs.id, me.user.id, 'viewer', { id: stranger.user.id }, { ip: null, userAgent: null });

        const res = await call('GET', '/v1/orgs', me.token);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<Page<OrgBody>>();
        expect(body.next_cursor).toBeNull();
        expect(body.data.map((o) => [o.id, o.name, o.role])).toEqual([
          [mine.id, 'Mine', 'owner'],
          [theirs.id, 'Theirs', 'viewer'],
        ]);
        expect(body.data.map((o) => o.id)).not.toContain(other.id);

        const fresh = await signedIn('no-orgs');
        expect((await call('GET', '/v1/orgs', fresh.token)).json()).toEqual({ data: [], next_cursor: null });
        expectProblem(await call('GET', '/v1/orgs', null), 401, 'unauthorized');
      });

      it('answers an organization to each of its members with their role; 404 org_not_found alike for a non-member, an unknown id and a malformed id', async () => {
        const { org, owner, admin, member, viewer } = await team();
        for (const [who, role] of [[owner, 'owner'], [admin, 'admin'], [member, 'member'], [viewer, 'viewer']] as const) {
          const res = await call('GET', `/v1/orgs/${org.id}`, who.token);
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json()).toEqual({ ...org, role, limits: { members: 5, api_keys: 2, webhooks: 1, requests_per_minute: 60 } });
        }
        const outsider = await signedIn('outsider');
        const notMember = expectProblem(await call('GET', `/v1/orgs/${org.id}`, outsider.token), 404, 'org_not_found');
        const unknown = expectProblem(await call('GET', `/v1/orgs/${newId('org')}`, outsider.token), 404, 'org_not_found');
        const malformed = expectProblem(await call('GET', '/v1/orgs/org_nope', outsider.token), 404, 'org_not_found');
        // Nothing tells a non-member that the organization exists.
        for (const body of [unknown, malformed]) expect({ title: body.title, detail: body.detail }).toEqual({ title: notMember.title, detail: notMember.detail });
        expectProblem(await call('GET', `/v1/orgs/${org.id}`, null), 401, 'unauthorized');
      });
    });

    describe('PATCH /v1/orgs/{id}', () => {
      it('the owner renames the organization (200); org.updated is audited with before/after and published', async () => {
        const { org, owner } = await team();
        const res = await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { name: 'Renamed Inc' });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<OrgBody>();
        expect(body).toMatchObject({ id: org.id, name: 'Renamed Inc', slug: org.slug, role: 'owner' });
        expect(new Date(body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(org.updated_at).getTime());
        expect(await orgRow(org.id)).toMatchObject({ name: 'Renamed Inc', slug: org.slug });

        const [row] = await audit(org.id, 'org.updated');
        expect(row).toMatchObject({ org_id: org.id, actor_id: owner.user.id, target_type: 'org', target_id: org.id, changes: { name: { before: org.name, after: 'Renamed Inc' } } });
        expect(await events(org.id, 'org.updated')).toEqual([{ type: 'org.updated', org_id: org.id, payload: { org_id: org.id, changes: ['name'] } }]);
      });

      it('an admin changes the slug (200); keeping its own slug is no conflict', async () => {
        const { org, admin } = await team();
        const slug = `moved-${randomBytes(3).toString('hex')}`;
        const res = await call('PATCH', `/v1/orgs/${org.id}`, admin.token, { slug });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ id: org.id, slug, name: org.name, role: 'admin' });
        expect(await orgRow(org.id)).toMatchObject({ slug, name: org.name });
        const [row] = await audit(org.id, 'org.updated');
        expect(row).toMatchObject({ actor_id: admin.user.id, changes: { slug: { before: org.slug, after: slug } } });
        expect(row!.changes).not.toHaveProperty('name');

        const same = await call('PATCH', `/v1/orgs/${org.id}`, admin.token, { slug, name: 'Both' });
        expect(same.statusCode, same.body).toBe(200);
        expect((await audit(org.id, 'org.updated'))[1]!.changes).toEqual({ name: { before: org.name, after: 'Both' } });
      });

      it('refuses a member and a viewer (403 permission_denied), a taken slug (409), a reserved slug (422), an empty body (400) and a non-member (404), changing nothing', async () => {
        const { org, owner, member, viewer } = await team();
        const other = await createOrg(owner);
        for (const who of [member, viewer]) {
          const body = expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, who.token, { name: 'Hijacked' }), 403, 'permission_denied');
          expect(body.permission).toBe('org:write');
        }
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { slug: other.slug }), 409, 'slug_taken');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { slug: 'admin' }), 422, 'invalid_slug');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { slug: 'Bad Slug' }), 422, 'invalid_slug');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, {}), 400, 'validation_failed');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { name: '   ' }), 400, 'validation_failed');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, owner.token, { tier: 'enterprise' }), 400, 'validation_failed');
        const outsider = await signedIn('outsider');
        expectProblem(await call('PATCH', `/v1/orgs/${org.id}`, outsider.token, { name: 'Hijacked' }), 404, 'org_not_found');

        expect(await orgRow(org.id)).toEqual({ id: org.id, slug: org.slug, name: org.name, tier: 'free' });
        expect(await audit(org.id, 'org.updated')).toEqual([]);
        expect(await events(org.id, 'org.updated')).toEqual([]);
      });
    });

    describe('DELETE /v1/orgs/{id}', () => {
      it('the owner deletes the organization (204): it and its memberships are gone, the audit row stays, org.deleted is published', async () => {
        const { org, owner, member } = await team();
        const res = await call('DELETE', `/v1/orgs/${org.id}`, owner.token);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expect(await orgRow(org.id)).toBeUndefined();
        expect(await roles(org.id)).toEqual({});
        const [row] = await audit(org.id, 'org.deleted');
        expect(row).toMatchObject({ org_id: org.id, actor_id: owner.user.id, target_type: 'org', target_id: org.id });
        // The earlier history stays too.
        expect(await audit(org.id, 'org.created')).toHaveLength(1);
        expect(await events(org.id, 'org.deleted')).toEqual([{ type: 'org.deleted', org_id: org.id, payload: { org_id: org.id } }]);

        expectProblem(await call('GET', `/v1/orgs/${org.id}`, owner.token), 404, 'org_not_found');
        expect((await call('GET', '/v1/orgs', member.token)).json<Page<OrgBody>>().data).toEqual([]);
        expectProblem(await call('DELETE', `/v1/orgs/${org.id}`, owner.token), 404, 'org_not_found');
        // The members' accounts are untouched.
        expect((await call('GET', '/v1/me', member.token)).statusCode).toBe(200);
      });

      it('refuses an admin (403 permission_denied) and an owner without a recent sign-in (403 reauthentication_required), deleting nothing', async () => {
        const { org, owner, admin } = await team();
        const denied = expectProblem(await call('DELETE', `/v1/orgs/${org.id}`, admin.token), 403, 'permission_denied');
        expect(denied.permission).toBe('org:delete');

        await query(`UPDATE sessions SET reauthenticated_at = now() - interval '10 minutes' WHERE id = $1`, [owner.sessionId]);
        expectProblem(await call('DELETE', `/v1/orgs/${org.id}`, owner.token), 403, 'reauthentication_required');

        expect(await orgRow(org.id)).toMatchObject({ id: org.id });
        expect(Object.keys(await roles(org.id))).toHaveLength(4);
        expect(await audit(org.id, 'org.deleted')).toEqual([]);
        expect(await events(org.id, 'org.deleted')).toEqual([]);

        // Confirming who they are lets the owner go on.
        const step = await call('POST', '/v1/auth/reauthenticate', owner.token, { password: PASSWORD });
        expect(step.statusCode, step.body).toBeLessThan(300);
        expect((await call('DELETE', `/v1/orgs/${org.id}`, owner.token)).statusCode).toBe(204);
      });
    });

    describe('members', () => {
      it('lists members page by page (limit, cursor) in user-id order, with email, name, role and joined_at', async () => {
        const owner = await signedIn('pager', { name: 'Page Owner' });
        const org = await createOrg(owner);
        const others = [await joined(org.id, 'admin', 'p1', { name: 'Ada' }), await joined(org.id, 'member', 'p2', { name: 'Bob' }), await joined(org.id, 'viewer', 'p3'), await joined(org.id, 'member', 'p4', { name: 'Dee' })];
        const all = [owner, ...others];
        const expected = all
          .map((m) => ({ user_id: m.user.id, email: m.email, name: m.user.name, role: (m === owner ? 'owner' : null) as string | null }))
          .sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
        const stored = await roles(org.id);

        const seen: MemberBody[] = [];
        const cursors: (string | null)[] = [];
        let cursor: string | null = null;
        do {
          const res = await call('GET', `/v1/orgs/${org.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`, others[1]!.token);
          expect(res.statusCode, res.body).toBe(200);
          const page = res.json<Page<MemberBody>>();
          expect(page.data.length).toBeLessThanOrEqual(2);
          seen.push(...page.data);
          cursor = page.next_cursor;
          cursors.push(cursor);
        } while (cursor);
        expect(cursors).toEqual([expected[1]!.user_id, expected[3]!.user_id, null]);
        expect(seen.map(({ joined_at: _, ...rest }) => rest)).toEqual(expected.map((m) => ({ ...m, role: stored[m.user_id] })));
        for (const m of seen) expect(new Date(m.joined_at).toISOString()).toBe(m.joined_at);

        // One page holding everything has no next cursor.
        const whole = (await call('GET', `/v1/orgs/${org.id}/members`, owner.token)).json<Page<MemberBody>>();
        expect(whole.data).toHaveLength(5);
        expect(whole.next_cursor).toBeNull();
        const exact = (await call('GET', `/v1/orgs/${org.id}/members?limit=5`, owner.token)).json<Page<MemberBody>>();
        expect(exact.next_cursor).toBeNull();
      });

      it('searches members by email and by name (q), case-insensitively; LIKE wildcards in q match themselves only', async () => {
        const owner = await signedIn('searcher');
        const org = await createOrg(owner);
        const tag = randomBytes(3).toString('hex');
        const ada = await joined(org.id, 'member', `ada${tag}`, { name: 'Ada Lovelace' });
        const bob = await joined(org.id, 'member', 'bob', { name: `Bob ${tag.toUpperCase()}` });
        await joined(org.id, 'viewer', 'carol', { name: 'Carol' });
        const search = async (q: string) =>
          (await call('GET', `/v1/orgs/${org.id}/members?q=${encodeURIComponent(q)}`, owner.token)).json<Page<MemberBody>>().data.map((m) => m.user_id).sort();

        expect(await search(`ADA${tag}`)).toEqual([ada.user.id]);
        expect(await search('lovelace')).toEqual([ada.user.id]);
        expect(await search(tag)).toEqual([ada.user.id, bob.user.id].sort());
        expect(await search('nobody-here')).toEqual([]);
        expect(await search('%')).toEqual([]);
        expect(await search('_')).toEqual([]);
        // A search pages like the whole list.
        const first = (await call('GET', `/v1/orgs/${org.id}/members?q=${tag}&limit=1`, owner.token)).json<Page<MemberBody>>();
        expect(first.data).toHaveLength(1);
        expect(first.next_cursor).toBe(first.data[0]!.user_id);
        const second = (await call('GET', `/v1/orgs/${org.id}/members?q=${tag}&limit=1&cursor=${first.next_cursor}`, owner.token)).json<Page<MemberBody>>();
        expect([...first.data, ...second.data].map((m) => m.user_id).sort()).toEqual([ada.user.id, bob.user.id].sort());
        expect(second.next_cursor).toBeNull();
      });

      it('refuses a viewer (403), a non-member (404) and bad limit, cursor and q (400)', async () => {
        const { org, owner, viewer } = await team();
        const body = expectProblem(await call('GET', `/v1/orgs/${org.id}/members`, viewer.token), 403, 'permission_denied');
        expect(body.permission).toBe('members:read');
        expectProblem(await call('GET', `/v1/orgs/${org.id}/members`, (await signedIn('outsider')).token), 404, 'org_not_found');
        for (const qs of ['limit=0', 'limit=201', 'limit=ten', 'cursor=nope', 'q=', 'sort=email']) {
          expectProblem(await call('GET', `/v1/orgs/${org.id}/members?${qs}`, owner.token), 400, 'validation_failed');
        }
      });

      describe('role changes', () => {
        it('an admin moves a member between member, viewer and admin (204 each); member.role_changed is audited and published', async () => {
          const { org, admin, member } = await team();
          const path = `/v1/orgs/${org.id}/members/${member.user.id}`;
          const steps: [Role, Role][] = [['member', 'viewer'], ['viewer', 'admin'], ['admin', 'member']];
          for (const [, to] of steps) {
            const res = await call('PATCH', path, admin.token, { role: to });
            expect(res.statusCode, res.body).toBe(204);
            expect((await roles(org.id))[member.user.id]).toBe(to);
          }
          const rows = await audit(org.id, 'member.role_changed');
          expect(rows.map((r) => [r.actor_id, r.target_type, r.target_id, r.changes])).toEqual(
            steps.map(([from, to]) => [admin.user.id, 'user', member.user.id, { role: { before: from, after: to } }]),
          );
          expect((await events(org.id, 'member.role_changed')).map((e) => [e.org_id, e.payload])).toEqual(
            steps.map(([from, to]) => [org.id, { org_id: org.id, user_id: member.user.id, role: to, previous_role: from }]),
          );
          // Setting the role it has changes nothing and records nothing.
          expect((await call('PATCH', path, admin.token, { role: 'member' })).statusCode).toBe(204);
          expect(await audit(org.id, 'member.role_changed')).toHaveLength(3);
        });

        it('only an owner grants or takes away the owner role (admin: 403); the owner makes a second owner', async () => {
          const { org, owner, admin, member } = await team();
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, admin.token, { role: 'owner' }), 403, 'permission_denied');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${admin.user.id}`, admin.token, { role: 'owner' }), 403, 'permission_denied');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${owner.user.id}`, admin.token, { role: 'member' }), 403, 'permission_denied');
          expect(await roles(org.id)).toMatchObject({ [owner.user.id]: 'owner', [admin.user.id]: 'admin', [member.user.id]: 'member' });

          expect((await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token, { role: 'owner' })).statusCode).toBe(204);
          expect((await roles(org.id))[member.user.id]).toBe('owner');
          // With two owners, an owner can step down.
          expect((await call('PATCH', `/v1/orgs/${org.id}/members/${owner.user.id}`, owner.token, { role: 'admin' })).statusCode).toBe(204);
          expect(await roles(org.id)).toMatchObject({ [owner.user.id]: 'admin', [member.user.id]: 'owner' });
        });

        it('refuses to demote the last owner (409 last_owner), an unknown role (400), a non-member target (404 member_not_found) and a member without members:write (403)', async () => {
          const { org, owner, member, viewer } = await team();
          const before = await roles(org.id);
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${owner.user.id}`, owner.token, { role: 'admin' }), 409, 'last_owner');
          const unknown = expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token, { role: 'superuser' }), 400, 'validation_failed');
          expect((unknown.errors as { path: string }[]).map((e) => e.path)).toContain('body.role');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token, {}), 400, 'validation_failed');
          const outsider = await signedIn('outsider');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${outsider.user.id}`, owner.token, { role: 'member' }), 404, 'member_not_found');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${newId('usr')}`, owner.token, { role: 'member' }), 404, 'member_not_found');
          expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/not-a-user`, owner.token, { role: 'member' }), 400, 'validation_failed');
          const denied = expectProblem(await call('PATCH', `/v1/orgs/${org.id}/members/${viewer.user.id}`, member.token, { role: 'admin' }), 403, 'permission_denied');
          expect(denied.permission).toBe('members:write');
          expect(await roles(org.id)).toEqual(before);
          expect(await audit(org.id, 'member.role_changed')).toEqual([]);
          expect(await events(org.id, 'member.role_changed')).toEqual([]);
        });
      });

      describe('removal', () => {
        it('an admin removes a member (204); member.removed is audited and published; the removed user loses access', async () => {
          const { org, admin, member } = await team();
          const res = await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, admin.token);
          expect(res.statusCode, res.body).toBe(204);
          expect(await roles(org.id)).not.toHaveProperty(member.user.id);
          const [row] = await audit(org.id, 'member.removed');
          expect(row).toMatchObject({ org_id: org.id, actor_id: admin.user.id, target_type: 'user', target_id: member.user.id });
          expect(await events(org.id, 'member.removed')).toEqual([{ type: 'member.removed', org_id: org.id, payload: { org_id: org.id, user_id: member.user.id } }]);
          expectProblem(await call('GET', `/v1/orgs/${org.id}`, member.token), 404, 'org_not_found');
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, admin.token), 404, 'member_not_found');
        });

        it('refuses removing the last owner (409), an owner by an admin (403), a non-member (404 member_not_found), and a viewer removing anyone (403)', async () => {
          const { org, owner, admin, member, viewer } = await team();
          const before = await roles(org.id);
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${owner.user.id}`, owner.token), 409, 'last_owner');
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${owner.user.id}`, admin.token), 403, 'permission_denied');
          const outsider = await signedIn('outsider');
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${outsider.user.id}`, owner.token), 404, 'member_not_found');
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${newId('usr')}`, owner.token), 404, 'member_not_found');
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, viewer.token), 403, 'permission_denied');
          expect(await roles(org.id)).toEqual(before);
          expect(await audit(org.id, 'member.removed')).toEqual([]);
          expect(await events(org.id, 'member.removed')).toEqual([]);
        });

        it('an owner removes another owner when one stays (204)', async () => {
          const { org, owner, member } = await team();
          await call('PATCH', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token, { role: 'owner' });
          expect((await call('DELETE', `/v1/orgs/${org.id}/members/${member.user.id}`, owner.token)).statusCode).toBe(204);
          expect(Object.values(await roles(org.id)).filter((r) => r === 'owner')).toHaveLength(1);
        });
      });

      describe('leaving', () => {
        it('a member leaves (204): the membership is gone and member.removed (reason left) is recorded', async () => {
          const { org, member } = await team();
          const res = await call('POST', `/v1/orgs/${org.id}/leave`, member.token);
          expect(res.statusCode, res.body).toBe(204);
          expect(await roles(org.id)).not.toHaveProperty(member.user.id);
          expect(await audit(org.id, 'member.removed')).toEqual([expect.objectContaining({ actor_id: member.user.id, target_id: member.user.id, org_id: org.id })]);
          expect(await events(org.id, 'member.removed')).toEqual([{ type: 'member.removed', org_id: org.id, payload: { org_id: org.id, user_id: member.user.id, reason: 'left' } }]);
          expectProblem(await call('POST', `/v1/orgs/${org.id}/leave`, member.token), 404, 'org_not_found');
          expect((await call('GET', '/v1/orgs', member.token)).json<Page<OrgBody>>().data).toEqual([]);
        });

        it('the last owner cannot leave (409 last_owner); a second owner can (204)', async () => {
          const { org, owner, admin } = await team();
          expectProblem(await call('POST', `/v1/orgs/${org.id}/leave`, owner.token), 409, 'last_owner');
          expect((await roles(org.id))[owner.user.id]).toBe('owner');

          await call('PATCH', `/v1/orgs/${org.id}/members/${admin.user.id}`, owner.token, { role: 'owner' });
          expect((await call('POST', `/v1/orgs/${org.id}/leave`, owner.token)).statusCode).toBe(204);
          const after = await roles(org.id);
          expect(after).not.toHaveProperty(owner.user.id);
          expect(after[admin.user.id]).toBe('owner');
          // And now the new owner is the last one.
          expectProblem(await call('POST', `/v1/orgs/${org.id}/leave`, admin.token), 409, 'last_owner');
        });
      });

      describe('ownership transfer', () => {
        it('the owner hands over (204): the target becomes owner, the old owner admin; both changes are published', async () => {
          const { org, owner, member } = await team();
          const res = await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, owner.token, { user_id: member.user.id });
          expect(res.statusCode, res.body).toBe(204);
          expect(await roles(org.id)).toMatchObject({ [member.user.id]: 'owner', [owner.user.id]: 'admin' });
          expect(Object.values(await roles(org.id)).filter((r) => r === 'owner')).toHaveLength(1);
          // One transaction: both rows share created_at, so compare without order.
          const published = (await events(org.id, 'member.role_changed')).map((e) => e.payload);
          expect(published).toHaveLength(2);
          expect(published).toEqual(expect.arrayContaining([
            { org_id: org.id, user_id: member.user.id, role: 'owner', previous_role: 'member' },
            { org_id: org.id, user_id: owner.user.id, role: 'admin', previous_role: 'owner' },
          ]));
          const audited = (await audit(org.id, 'member.role_changed')).map((r) => [r.org_id, r.actor_id, r.target_id]);
          expect(audited).toHaveLength(2);
          expect(audited).toEqual(expect.arrayContaining([
            [org.id, owner.user.id, member.user.id],
            [org.id, owner.user.id, owner.user.id],
          ]));
          // The old owner is an admin now: no deleting, no transferring back.
          expectProblem(await call('DELETE', `/v1/orgs/${org.id}`, owner.token), 403, 'permission_denied');
          expectProblem(await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, owner.token, { user_id: owner.user.id }), 403, 'permission_denied');
        });

        it('refuses a non-member target (404 member_not_found), an admin (403), a stale sign-in (403 reauthentication_required) and a missing user_id (400)', async () => {
          const { org, owner, admin } = await team();
          const before = await roles(org.id);
          const outsider = await signedIn('outsider');
          expectProblem(await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, owner.token, { user_id: outsider.user.id }), 404, 'member_not_found');
          const denied = expectProblem(await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, admin.token, { user_id: admin.user.id }), 403, 'permission_denied');
          expect(denied.permission).toBe('org:transfer');
          expectProblem(await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, owner.token, {}), 400, 'validation_failed');
          await query(`UPDATE sessions SET reauthenticated_at = now() - interval '10 minutes' WHERE id = $1`, [owner.sessionId]);
          expectProblem(await call('POST', `/v1/orgs/${org.id}/transfer-ownership`, owner.token, { user_id: admin.user.id }), 403, 'reauthentication_required');
          expect(await roles(org.id)).toEqual(before);
          expect(await events(org.id, 'member.role_changed')).toEqual([]);
          expect(outsider.user.id in (await roles(org.id))).toBe(false);
        });
      });
    });

    describe('permissions', () => {
      it('GET /v1/permissions lists the catalogue and the four built-in roles', async () => {
        const user = await signedIn('catalogue');
        const res = await call('GET', '/v1/permissions', user.token);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<{ data: { name: string; description: string }[]; roles: { name: string; description: string; permissions: string[] }[] }>();
        expect(body.data).toEqual(Object.entries(PERMISSIONS).map(([name, description]) => ({ name, description })));
        expect(body.data.map((p) => p.name)).toEqual(expect.arrayContaining(['org:read', 'org:write', 'org:delete', 'org:transfer', 'members:read', 'members:write']));
        expect(body.roles.map((r) => r.name)).toEqual(['owner', 'admin', 'member', 'viewer']);
        for (const role of body.roles) {
          expect(role.permissions).toEqual([...BUILT_IN_ROLES[role.name as Role].permissions]);
          expect(role.description).toEqual(expect.any(String));
        }
        const byName = Object.fromEntries(body.roles.map((r) => [r.name, r.permissions]));
        expect(byName.owner).toEqual(Object.keys(PERMISSIONS));
        expect(byName.admin).not.toEqual(expect.arrayContaining(['org:delete']));
        expect(byName.admin).not.toContain('org:transfer');
        expect(byName.member).toEqual(['org:read', 'members:read']);
        expect(byName.viewer).toEqual(['org:read']);
        expectProblem(await call('GET', '/v1/permissions', null), 401, 'unauthorized');
      });

      it('check-permission answers for myself per my role', async () => {
        const t = await team();
        for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
          for (const permission of Object.keys(PERMISSIONS) as Permission[]) {
            const expected = BUILT_IN_ROLES[role].permissions.includes(permission);
            const res = await call('POST', `/v1/orgs/${t.org.id}/check-permission`, t[role].token, { permission });
            expect(res.statusCode, res.body).toBe(200);
            expect(res.json(), `${role} ${permission}`).toEqual({ allowed: expected });
          }
        }
        // Naming myself is the same as not naming anyone, even without members:read.
        const self = await call('POST', `/v1/orgs/${t.org.id}/check-permission`, t.viewer.token, { permission: 'org:read', user_id: t.viewer.user.id });
        expect(self.json()).toEqual({ allowed: true });
      });

      it('check-permission for another member needs members:read; a non-member holds nothing; unknown permissions are 422', async () => {
        const { org, admin, member, viewer } = await team();
        const check = (token: string, body: Record<string, unknown>) => call('POST', `/v1/orgs/${org.id}/check-permission`, token, body);
        expect((await check(member.token, { permission: 'members:write', user_id: admin.user.id })).json()).toEqual({ allowed: true });
        expect((await check(member.token, { permission: 'org:delete', user_id: admin.user.id })).json()).toEqual({ allowed: false });
        expect((await check(admin.token, { permission: 'members:read', user_id: viewer.user.id })).json()).toEqual({ allowed: false });
        const outsider = await signedIn('outsider');
        expect((await check(admin.token, { permission: 'org:read', user_id: outsider.user.id })).json()).toEqual({ allowed: false });

        expectProblem(await check(viewer.token, { permission: 'org:read', user_id: member.user.id }), 403, 'permission_denied');
        const unknown = expectProblem(await check(member.token, { permission: 'org:destroy' }), 422, 'unknown_permission');
        expect(unknown.detail).toContain('org:destroy');
        expectProblem(await check(member.token, {}), 400, 'validation_failed');
        expectProblem(await check(member.token, { permission: 'org:read', user_id: 'someone' }), 400, 'validation_failed');
        expectProblem(await check(outsider.token, { permission: 'org:read' }), 404, 'org_not_found');
      });
    });

    describe('concurrency', () => {
      /** An organization with two owners, both signed in. */
      async function twoOwners(label: string): Promise<{ org: OrgBody; a: Signed; b: Signed }> {
        const a = await signedIn(`${label}-a`);
        const org = await createOrg(a);
        const b = await joined(org.id, 'owner', `${label}-b`);
        return { org, a, b };
      }
      const owners = async (orgId: string) => Object.entries(await roles(orgId)).filter(([, role]) => role === 'owner').map(([id]) => id);

      /** The two-owner races: each request would leave the other owner as the last one. */
      const RACES = {
        'demote each other': (org: OrgBody, a: Signed, b: Signed) => [
          call('PATCH', `/v1/orgs/${org.id}/members/${b.user.id}`, a.token, { role: 'admin' }),
          call('PATCH', `/v1/orgs/${org.id}/members/${a.user.id}`, b.token, { role: 'admin' }),
        ],
        'remove each other': (org: OrgBody, a: Signed, b: Signed) => [
          call('DELETE', `/v1/orgs/${org.id}/members/${b.user.id}`, a.token),
          call('DELETE', `/v1/orgs/${org.id}/members/${a.user.id}`, b.token),
        ],
        'both leave': (org: OrgBody, a: Signed, b: Signed) => [
          call('POST', `/v1/orgs/${org.id}/leave`, a.token),
          call('POST', `/v1/orgs/${org.id}/leave`, b.token),
        ],
      };

      const LATE_GUARD: Record<keyof typeof RACES, [number, string]> = {
        'demote each other': [403, 'permission_denied'],
        'remove each other': [404, 'org_not_found'],
        'both leave': [409, 'last_owner'],
      };

      it.each(Object.keys(RACES) as (keyof typeof RACES)[])('two owners that %s at the same moment: one succeeds (204), the other is refused, exactly one owner stays', async (race) => {
        for (let round = 0; round < 4; round++) {
          const { org, a, b } = await twoOwners('racer');
          const results = await Promise.all(RACES[race](org, a, b));
          const [won, lost] = [...results].sort((x, y) => x.statusCode - y.statusCode);
          expect(won!.statusCode, `${won!.body} / ${lost!.body}`).toBe(204);
          // 409 when both requests got past the org guard as owners. When the loser's guard ran after
          // the winner's change, the loser is no longer an owner: a demoted admin may not touch an
          // owner (403), a removed user is no member (404).
          if (lost!.statusCode === 409) expectProblem(lost!, 409, 'last_owner');
          else expectProblem(lost!, ...LATE_GUARD[race]);
          expect(await owners(org.id)).toHaveLength(1);
        }
      });

      it('the service, called for both owners as their guards let them through, refuses the second demotion (the caller is no longer an owner, or it would leave none)', async () => {
        for (let round = 0; round < 4; round++) {
          const { org, a, b } = await twoOwners('service');
          const ctxA = (await app.context.orgs.membership(org.id, a.user.id))!;
          const ctxB = (await app.context.orgs.membership(org.id, b.user.id))!;
          expect([ctxA.role, ctxB.role]).toEqual(['owner', 'owner']);
          const client = { ip: null, userAgent: null };
          const results = await Promise.allSettled([
            app.context.orgs.changeRole(ctxA, b.user.id, 'admin', client),
            app.context.orgs.changeRole(ctxB, a.user.id, 'admin', client),
          ]);
          expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
          const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
          // The caller's role is read again inside the transaction: the demoted owner may not demote
          // (permission_denied); had both read "owner" at once, the owners' lock answers last_owner.
          expect(['last_owner', 'permission_denied']).toContain(refused.reason.code);
          expect(await owners(org.id)).toHaveLength(1);
          expect(await events(org.id, 'member.role_changed')).toHaveLength(1);
        }
      });

      // On PostgreSQL both requests are made to pass the guard and meet at the owners' row lock: a
      // test transaction holds it until both wait, so the race is the one that matters, every time.
      it.runIf(engine === 'postgres').each(Object.keys(RACES) as (keyof typeof RACES)[])(
        'PostgreSQL, both past the guard and waiting on the owners lock (%s): exactly one 204 and one 409 last_owner',
        async (race) => {
          const { org, a, b } = await twoOwners('locked');
          const holder = new pg.Client({ connectionString: app.database.url });
          await holder.connect();
          try {
            await holder.query('BEGIN');
            await holder.query(`SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'owner' FOR UPDATE`, [org.id]);
            const pending = Promise.all(RACES[race](org, a, b));
            await waitFor(
              async () => (await holder.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n === 2,
              10_000,
              'both requests to wait on the owners lock',
            );
            await holder.query('COMMIT');
            const results = await pending;
            const [won, lost] = [...results].sort((x, y) => x.statusCode - y.statusCode);
            expect(won!.statusCode, won!.body).toBe(204);
            expectProblem(lost!, 409, 'last_owner');
          } finally {
            await holder.end();
          }
          expect(await owners(org.id)).toHaveLength(1);
          expect(Object.keys(await roles(org.id)).length).toBe(race === 'demote each other' ? 2 : 1);
        },
      );
    });
  });
});
