import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newId } from '../../src/platform/crypto/ids.js';
import { withTenant } from '../../src/platform/db/tenant.js';
import { createHttpServer, type HttpServer } from '../../src/platform/http/server.js';
import { createLogger } from '../../src/platform/http/logger.js';
import { toAppError } from '../../src/platform/http/problem.js';
import { sha256 } from '../../src/platform/crypto/tokens.js';
import { createTestApp, logCollector, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { uniqueEmail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';
import { engineCases } from '../helpers/db.js';

/*
 * The PostgreSQL row-level-security policies behind tenant-scoped access (migrations/0008): inside a
 * transaction with `app.org_id` set (what withTenant does) the five org-scoped tables show, change
 * and accept only that organization's rows, whatever the SQL says; with it unset or empty,
 * platform-wide code sees every row. The test connection is a superuser, which PostgreSQL exempts
 * from RLS, so every check runs under a throw-away ordinary role (`SET LOCAL ROLE`). Also: the
 * start-up warning when the app itself connects as a superuser, and the problem handler's mapping of
 * an RLS refusal (SQLSTATE 42501) to 404.
 */

const postgresAvailable = inject('postgresTemplate') !== null;
const TABLES = ['organizations', 'org_members', 'org_invitations', 'org_roles', 'api_keys'] as const;
type Table = (typeof TABLES)[number];
/** The column naming a row's organization. */
const orgColumn = (table: Table): string => (table === 'organizations' ? 'id' : 'org_id');
/** A column an UPDATE can set to itself (a no-op change that still counts the rows it reaches). */
const touchColumn: Record<Table, string> = { organizations: 'name', org_members: 'role', org_invitations: 'role', org_roles: 'name', api_keys: 'name' };
const WARNING = 'the database role is a superuser or has BYPASSRLS: row-level tenant isolation is not enforced by PostgreSQL';

interface Tenant {
  orgId: string;
  ownerId: string;
  /** A user who belongs to this organization only. */
  memberId: string;
  roleId: string;
  keyId: string;
  invitationId: string;
}

interface PgError extends Error {
  code?: string;
}

describe.skipIf(!postgresAvailable)('row-level security on PostgreSQL', () => {
  let app: TestApp;
  /** Superuser connection to the app's database; tests switch to `role` inside their transactions. */
  let client: pg.Client;
  const role = `tessera_rls_${randomBytes(6).toString('hex')}`;
  let a: Tenant;
  let b: Tenant;

  const api = testClient(() => app);

  /** Seeds one organization through the API: owner, a member, a custom role, an API key and an invitation. */
  async function seedTenant(label: string): Promise<Tenant> {
    const created = async (url: string, token: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const res = await api.call('POST', url, token, payload);
      expect(res.statusCode, res.body).toBe(201);
      return res.json<Record<string, unknown>>();
    };
    const owner = await api.signedIn(`${label}-owner`);
    const member = await api.signedIn(`${label}-member`);
    const orgId = (await api.createOrg(owner, { name: `RLS ${label} ${randomBytes(3).toString('hex')}` })).id;
    await app.context.orgs.addMember(orgId, member.user.id, 'member', { id: owner.user.id }, { ip: null, userAgent: null });
    const customRole = await created(`/v1/orgs/${orgId}/roles`, owner.token, { name: `Reader ${label}`, permissions: ['org:read', 'members:read'] });
    const key = await api.apiKey(orgId, owner, ['org:read'], `Key ${label}`);
    const invitation = await created(`/v1/orgs/${orgId}/invitations`, owner.token, { email: uniqueEmail(`${label}-invitee`), role: 'viewer' });
    return { orgId, ownerId: owner.user.id, memberId: member.user.id, roleId: customRole.id as string, keyId: key.id, invitationId: invitation.id as string };
  }

  /**
   * Runs fn in a transaction as the ordinary role, with app.org_id set to `orgId` (undefined: left
   * as the connection has it). Always rolled back: nothing a test writes stays.
   */
  async function asRole<T>(orgId: string | undefined, fn: (db: pg.Client) => Promise<T>, on: pg.Client = client): Promise<T> {
    await on.query('BEGIN');
    try {
      await on.query(`SET LOCAL ROLE ${role}`);
      if (orgId !== undefined) await on.query(`SELECT set_config('app.org_id', $1, true)`, [orgId]);
      return await fn(on);
    } finally {
      await on.query('ROLLBACK');
    }
  }

  /** The distinct organizations of a table's rows, as this connection sees them now. */
  const orgsIn = async (db: pg.Client, table: Table): Promise<string[]> =>
    (await db.query<{ org: string }>(`SELECT DISTINCT ${orgColumn(table)} AS org FROM ${table} ORDER BY 1`)).rows.map((row) => row.org);
  /** How many rows of the organization a table holds, seen as the superuser (RLS exempt). */
  const countOf = async (table: Table, orgId: string): Promise<number> =>
    Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${orgColumn(table)} = $1`, [orgId])).rows[0]!.n);

  /** A new, valid row of the table for this organization (the INSERT statement and its parameters). */
  function newRow(table: Table, orgId: string, tenant: Tenant): { text: string; values: unknown[] } {
    const tag = randomBytes(4).toString('hex');
    switch (table) {
      case 'organizations':
        return { text: 'INSERT INTO organizations (id, slug, name) VALUES ($1, $2, $3)', values: [orgId, `rls-new-${tag}`, `New ${tag}`] };
      case 'org_members':
        return { text: 'INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)', values: [orgId, tenant.memberId, 'viewer'] };
      case 'org_invitations':
        return {
          text: "INSERT INTO org_invitations (org_id, id, email, role, token_hash, expires_at) VALUES ($1, $2, $3, 'viewer', $4, now() + interval '1 day')",
          values: [orgId, newId('inv'), uniqueEmail('rls-insert'), sha256(`rls-${tag}`)],
        };
      case 'org_roles':
        return { text: `INSERT INTO org_roles (org_id, id, name, permissions) VALUES ($1, $2, $3, '["org:read"]'::jsonb)`, values: [orgId, newId('rol'), `Injected ${tag}`] };
      case 'api_keys':
        return {
          text: `INSERT INTO api_keys (org_id, id, name, prefix, secret_hash, scopes) VALUES ($1, $2, $3, 'tsk_live_x', $4, '["org:read"]'::jsonb)`,
          values: [orgId, newId('key'), `Injected ${tag}`, sha256(`rls-key-${tag}`)],
        };
    }
  }

  /** The error a statement fails with (the test fails if it succeeds). */
  async function failureOf(db: pg.Client, text: string, values: unknown[]): Promise<PgError> {
    try {
      await db.query(text, values);
    } catch (error) {
      return error as PgError;
    }
    throw new Error(`expected "${text}" to fail`);
  }

  beforeAll(async () => {
    app = await createTestApp({ engine: 'postgres' });
    client = new pg.Client({ connectionString: app.database.url });
    await client.connect();
    await client.query(`CREATE ROLE ${role} NOLOGIN`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON organizations, org_members, org_invitations, org_roles, api_keys, users TO ${role}`);
    a = await seedTenant('a');
    b = await seedTenant('b');
  });

  afterAll(async () => {
    if (client) {
      await client.query(`REVOKE ALL ON organizations, org_members, org_invitations, org_roles, api_keys, users FROM ${role}`).catch(() => undefined);
      await client.query(`REVOKE USAGE ON SCHEMA public FROM ${role}`).catch(() => undefined);
      await client.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await client.query(`DROP ROLE IF EXISTS ${role}`);
      await client.end();
    }
    await app?.destroy();
  });

  it('runs its checks as an ordinary role (the test connection, a superuser, is exempt from RLS)', async () => {
    const me = await client.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
    expect(me.rows[0]!.rolsuper).toBe(true);
    const them = await asRole(a.orgId, async (db) => (await db.query<{ name: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    )).rows[0]);
    expect(them).toEqual({ name: role, rolsuper: false, rolbypassrls: false });
    // What the policies cannot stop: a superuser with app.org_id set still reads every organization's rows.
    await client.query('BEGIN');
    try {
      await client.query(`SELECT set_config('app.org_id', $1, true)`, [a.orgId]);
      expect(await orgsIn(client, 'org_members')).toEqual([a.orgId, b.orgId].sort());
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('has rows of both organizations in each of the five tables', async () => {
    for (const table of TABLES) {
      expect(await countOf(table, a.orgId), `${table} of A`).toBeGreaterThan(0);
      expect(await countOf(table, b.orgId), `${table} of B`).toBeGreaterThan(0);
    }
    // The seed: owner + member each, one custom role, one key, one invitation.
    expect(await countOf('org_members', a.orgId)).toBe(2);
    expect(await countOf('org_roles', b.orgId)).toBe(1);
    expect(await countOf('api_keys', b.orgId)).toBe(1);
    expect(await countOf('org_invitations', b.orgId)).toBe(1);
  });

  describe.each(TABLES)('%s, with app.org_id set to A', (table) => {
    it("shows only A's rows, without any WHERE on the organization", async () => {
      await asRole(a.orgId, async (db) => {
        expect(await orgsIn(db, table)).toEqual([a.orgId]);
        const total = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
        expect(total).toBe(await countOfInside(db, table, a.orgId));
        // Asking for B by name finds nothing.
        expect((await db.query(`SELECT 1 FROM ${table} WHERE ${orgColumn(table)} = $1`, [b.orgId])).rowCount).toBe(0);
      });
      // And the other way round.
      await asRole(b.orgId, async (db) => expect(await orgsIn(db, table)).toEqual([b.orgId]));
    });

    it("updates and deletes none of B's rows (0 rows), and only A's when unfiltered", async () => {
      const column = touchColumn[table];
      const bRows = await countOf(table, b.orgId);
      const aRows = await countOf(table, a.orgId);
      await asRole(a.orgId, async (db) => {
        expect((await db.query(`UPDATE ${table} SET ${column} = ${column} WHERE ${orgColumn(table)} = $1`, [b.orgId])).rowCount).toBe(0);
        expect((await db.query(`DELETE FROM ${table} WHERE ${orgColumn(table)} = $1`, [b.orgId])).rowCount).toBe(0);
        expect((await db.query(`UPDATE ${table} SET ${column} = ${column}`)).rowCount).toBe(aRows);
        if (table !== 'organizations') {
          // An unfiltered DELETE empties A's rows only: B's are all there within the same transaction.
          expect((await db.query(`DELETE FROM ${table}`)).rowCount).toBe(aRows);
          await db.query('RESET ROLE');
          expect(await countOfInside(db, table, b.orgId)).toBe(bRows);
          expect(await countOfInside(db, table, a.orgId)).toBe(0);
        }
      });
      expect(await countOf(table, b.orgId)).toBe(bRows);
    });

    it("refuses to insert a row of B (42501, new row violates row-level security policy), and accepts one of A", async () => {
      const intoB = table === 'organizations' ? newRow(table, newId('org'), b) : newRow(table, b.orgId, a);
      const error = await asRole(a.orgId, (db) => failureOf(db, intoB.text, intoB.values));
      expect(error.code).toBe('42501');
      expect(error.message).toBe(`new row violates row-level security policy for table "${table}"`);
      // The same statement for A's own organization passes: the refusal is the policy, not a missing grant.
      if (table !== 'organizations') {
        const intoA = newRow(table, a.orgId, b);
        await asRole(a.orgId, async (db) => expect((await db.query(intoA.text, intoA.values)).rowCount).toBe(1));
      }
    });
  });

  it.each(TABLES.filter((table) => table !== 'organizations'))("%s: refuses to move one of A's rows to B (42501)", async (table) => {
    const error = await asRole(a.orgId, (db) => failureOf(db, `UPDATE ${table} SET org_id = $1`, [b.orgId]));
    expect(error.code).toBe('42501');
    expect(error.message).toMatch(/new row violates row-level security policy/);
  });

  /** count(*) of one organization's rows through a connection inside a transaction (as whoever it is now). */
  async function countOfInside(db: pg.Client, table: Table, orgId: string): Promise<number> {
    return Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${orgColumn(table)} = $1`, [orgId])).rows[0]!.n);
  }

  it('shows every organization to platform-wide code: app.org_id never set on the connection', async () => {
    const fresh = new pg.Client({ connectionString: app.database.url });
    await fresh.connect();
    try {
      const setting = await fresh.query<{ value: string | null }>(`SELECT current_setting('app.org_id', true) AS value`);
      expect(setting.rows[0]!.value).toBeNull();
      await asRole(undefined, async (db) => {
        for (const table of TABLES) expect(await orgsIn(db, table), table).toEqual(expect.arrayContaining([a.orgId, b.orgId]));
        // Platform-wide code may write any organization's rows (sign-up of an organization, accepting an invitation).
        const row = newRow('org_roles', b.orgId, b);
        expect((await db.query(row.text, row.values)).rowCount).toBe(1);
        const org = newRow('organizations', newId('org'), a);
        expect((await db.query(org.text, org.values)).rowCount).toBe(1);
      }, fresh);
    } finally {
      await fresh.end();
    }
  });

  it("shows every organization with app.org_id set to '', and again once a tenant transaction has ended (the setting is transaction-local)", async () => {
    await asRole('', async (db) => {
      for (const table of TABLES) expect(await orgsIn(db, table), table).toEqual(expect.arrayContaining([a.orgId, b.orgId]));
    });
    await asRole(a.orgId, async (db) => expect(await orgsIn(db, 'api_keys')).toEqual([a.orgId]));
    // Same connection, next transaction: the tenant is gone (a pooled connection does not leak it).
    await asRole(undefined, async (db) => {
      expect((await db.query<{ value: string | null }>(`SELECT current_setting('app.org_id', true) AS value`)).rows[0]!.value).toBe('');
      expect(await orgsIn(db, 'api_keys')).toEqual(expect.arrayContaining([a.orgId, b.orgId]));
    });
  });

  it("withTenant's transaction is what the policies key on: as the ordinary role, only the tenant's rows", async () => {
    const seen = await withTenant(app.context.db, b.orgId, async (tenant) => {
      await tenant.sql.query(`SET LOCAL ROLE ${role}`);
      const result: Record<string, string[]> = {};
      for (const table of TABLES) {
        result[table] = (await tenant.sql.query<{ org: string }>(`SELECT DISTINCT ${orgColumn(table)} AS org FROM ${table}`)).rows.map((row) => row.org);
      }
      return result;
    });
    expect(seen).toEqual(Object.fromEntries(TABLES.map((table) => [table, [b.orgId]])));
    // The pool's connection is back to platform-wide (and to the app's own role) afterwards.
    const after = await app.context.db.sql.query<{ value: string | null; me: string }>(`SELECT current_setting('app.org_id', true) AS value, current_user AS me`);
    expect(after.rows[0]!.value ?? '').toBe('');
    expect(after.rows[0]!.me).not.toBe(role);
  });

  it('the app warns at start when it connects as a superuser (PostgreSQL), and not on PGlite', async () => {
    const warnings = app.logs.lines.filter((line) => line.level === 40 && typeof line.msg === 'string' && line.msg.startsWith(WARNING));
    expect(warnings).toHaveLength(1);
    const embedded = await createTestApp({ engine: 'pglite' });
    try {
      // Something is logged (the collector works), but not the warning.
      expect((await embedded.server.inject({ method: 'GET', url: '/v1/permissions' })).statusCode).toBe(401);
      expect(embedded.logs.lines.length).toBeGreaterThan(0);
      expect(embedded.logs.text()).not.toContain('row-level tenant isolation');
    } finally {
      await embedded.destroy();
    }
  });

  it('the problem handler answers an RLS refusal (SQLSTATE 42501) with 404, as if the row did not exist', async () => {
    const row = newRow('org_roles', b.orgId, a);
    const error = await asRole(a.orgId, (db) => failureOf(db, row.text, row.values));
    expect(error.code).toBe('42501');
    expect(toAppError(error, false)).toMatchObject({ status: 404, code: 'not_found' });

    // Through a real server: a handler that lets the database's refusal escape.
    const logs = logCollector();
    const server: HttpServer = await createHttpServer({
      logger: createLogger({ level: 'info', destination: logs.stream }),
      bodyLimitBytes: 1024,
      trustedProxies: [],
      corsOrigins: [],
      publicUrl: 'http://localhost:8080',
      version: 'test',
      exposeInternals: true,
    });
    try {
      server.post('/probe', async () => asRole(a.orgId, async (db) => db.query(row.text, row.values)));
      await server.ready();
      const res = await server.inject({ method: 'POST', url: '/probe' });
      const body = expectProblem(res, 404, 'not_found');
      expect(JSON.stringify(body)).not.toContain('row-level security');
      expect(logs.lines.some((line) => line.level === 50)).toBe(false);
    } finally {
      await server.close();
    }
    expect(await countOf('org_roles', b.orgId)).toBe(1);
  });
});

/*
 * The member list reads org_member_directory, a view joining org_members to users (the orgs module
 * never reads users itself). A view runs with its owner's rights unless it is security_invoker, and
 * its owner (whoever migrated) may be exempt from row-level security: the view must apply the
 * org_members policy as the querying role, on both engines.
 */
describe.each(engineCases())('the member directory view on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const role = `tessera_view_${randomBytes(6).toString('hex')}`;
    const orgs: { orgId: string; memberIds: string[] }[] = [];

    const api = testClient(() => app);

    /** An organization made through the API: its owner and one more member. */
    async function orgWithMembers(label: string): Promise<{ orgId: string; memberIds: string[] }> {
      const owner = await api.signedIn(`${label}-owner`);
      const member = await api.signedIn(`${label}-member`);
      const orgId = (await api.createOrg(owner, { name: `View ${label}` })).id;
      await app.context.orgs.addMember(orgId, member.user.id, 'member', { id: owner.user.id }, { ip: null, userAgent: null });
      return { orgId, memberIds: [owner.user.id, member.user.id].sort() };
    }

    /** The directory's rows as the ordinary role sees them inside withTenant's transaction for `orgId`. */
    const seenBy = (orgId: string) =>
      withTenant(app.context.db, orgId, async (tenant) => {
        await tenant.sql.query(`SET LOCAL ROLE ${role}`);
        return (await tenant.sql.query<{ org_id: string; user_id: string; email: string }>('SELECT org_id, user_id, email FROM org_member_directory ORDER BY user_id')).rows;
      });

    beforeAll(async () => {
      app = await createTestApp({ engine, env: { ALLOW_UNVERIFIED_LOGIN: 'true' } });
      const sql = app.context.db.sql;
      await sql.query(`CREATE ROLE ${role} NOLOGIN`);
      await sql.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await sql.query(`GRANT SELECT ON org_members, users, org_member_directory TO ${role}`);
      orgs.push(await orgWithMembers('a'), await orgWithMembers('b'));
    });
    afterAll(async () => {
      if (app) {
        const sql = app.context.db.sql;
        await sql.query(`REVOKE ALL ON org_members, users, org_member_directory FROM ${role}`).catch(() => undefined);
        await sql.query(`REVOKE USAGE ON SCHEMA public FROM ${role}`).catch(() => undefined);
        await sql.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      }
      await app?.destroy();
    });

    it("is declared security_invoker, so org_members' row-level-security policy applies through it", async () => {
      const { rows } = await app.context.db.sql.query<{ reloptions: string[] | null }>(`SELECT reloptions FROM pg_class WHERE relname = 'org_member_directory' AND relkind = 'v'`);
      expect(rows).toEqual([{ reloptions: ['security_invoker=true'] }]);
    });

    it("shows an ordinary role only the tenant's members, with their addresses, whatever the SQL says", async () => {
      const [a, b] = orgs as [(typeof orgs)[number], (typeof orgs)[number]];
      for (const org of [a, b]) {
        const rows = await seenBy(org.orgId);
        expect(rows.map((row) => row.org_id)).toEqual([org.orgId, org.orgId]);
        expect(rows.map((row) => row.user_id)).toEqual(org.memberIds);
        expect(rows.every((row) => row.email.endsWith('@example.test'))).toBe(true);
      }
      // Naming the other organization finds nothing.
      const named = await withTenant(app.context.db, a.orgId, async (tenant) => {
        await tenant.sql.query(`SET LOCAL ROLE ${role}`);
        return (await tenant.sql.query('SELECT 1 FROM org_member_directory WHERE org_id = $1', [b.orgId])).rows.length;
      });
      expect(named).toBe(0);
    });

    it('shows platform-wide code (no tenant) every organization', async () => {
      const orgIds = await app.context.db.transaction(async (tx) => {
        await tx.sql.query(`SET LOCAL ROLE ${role}`);
        return (await tx.sql.query<{ org_id: string }>('SELECT DISTINCT org_id FROM org_member_directory')).rows.map((row) => row.org_id);
      });
      expect(orgIds).toEqual(expect.arrayContaining(orgs.map((org) => org.orgId)));
    });
  });
});
