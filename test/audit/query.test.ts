import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { sleep } from '../helpers/wait.js';
import type { Page, Signed } from '../helpers/client.js';
import { appOn, expectShape, harness, parseCsv, runsOn, type Entry } from './harness.js';

/*
 * Reading the audit log, on each engine: every filter of GET /v1/orgs/{org_id}/audit-logs and
 * GET /v1/admin/audit-logs (actor, action prefix, target, result, ip, time range) returns exactly
 * the entries that match, compared with the table itself; cursor pages add up to the whole
 * selection; the CSV and JSON Lines exports of a selection hold the same rows in the same order
 * (the CSV parsed as RFC 4180); exporting is audited. Tenant isolation: an organization's admin (or
 * its API key with audit:read) sees that organization's entries and nothing else, whatever the
 * query says; members without audit:read and everyone but platform admins are refused.
 */

type Row = {
  id: string;
  created_at: Date;
  org_id: string | null;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  result: string;
  ip: string | null;
};

const IP = { roles: '198.51.100.40', members: '198.51.100.41', removal: '198.51.100.42', denied: '198.51.100.43', later: '198.51.100.44' };
/** A reason and a user agent a naive CSV writer would break (comma, quote, line break) or a spreadsheet would run (leading =). */
const AWKWARD_REASON = 'needs "owner", not admin\r\nsecond line; third, "quoted"';
const FORMULA_UA = '=HYPERLINK("http://evil.example","click")';

describe.each(engineCases())('reading the audit log on $engine', ({ engine, available }) => {
  describe.skipIf(!runsOn(engine, available))(engine, () => {
    let app: TestApp;
    const h = harness(() => app);
    const { call, query } = h;

    let orgA: string;
    let orgB: string;
    let ownerA: Signed;
    let adminA: Signed;
    let memberA: Signed;
    let viewerA: Signed;
    let ownerB: Signed;
    /** A moment between the first entries of organization A and the later ones. */
    let middle: Date;

    beforeAll(async () => {
      app = await appOn(engine);
      ownerA = await h.signedIn('owner-a');
      orgA = (await h.createOrg(ownerA)).id;
      adminA = await h.joined(orgA, 'admin');
      memberA = await h.joined(orgA, 'member');
      viewerA = await h.joined(orgA, 'viewer');
      ownerB = await h.signedIn('owner-b');
      orgB = (await h.createOrg(ownerB)).id;
      const memberB = await h.joined(orgB, 'member');

      // Organization A: a role by the owner, a role change by the owner, a removal by the admin, a refused change.
      expect((await call('POST', `/v1/orgs/${orgA}/roles`, ownerA.token, { name: 'Readers', permissions: ['org:read'] }, { ip: IP.roles })).statusCode).toBe(201);
      expect((await call('PATCH', `/v1/orgs/${orgA}/members/${memberA.user.id}`, ownerA.token, { role: 'viewer' }, { ip: IP.members })).statusCode).toBe(204);
      const leaving = await h.joined(orgA, 'member', 'leaving');
      expect((await call('DELETE', `/v1/orgs/${orgA}/members/${leaving.user.id}`, adminA.token, undefined, { ip: IP.removal })).statusCode).toBe(204);
      await app.context.db.transaction((tx) =>
        app.context.audit.record(tx, {
          actor: { type: 'user', id: adminA.user.id }, orgId: orgA, action: 'member.role_changed', target: { type: 'user', id: ownerA.user.id }, result: 'failure',
          reason: AWKWARD_REASON, context: { ip: IP.denied, userAgent: FORMULA_UA, requestId: 'req-denied' }, changes: { role: { before: 'owner', after: 'member' } },
        }),
      );
      // Organization B, from the same addresses: none of it may show in A's log.
      expect((await call('PATCH', `/v1/orgs/${orgB}/members/${memberB.user.id}`, ownerB.token, { role: 'viewer' }, { ip: IP.members })).statusCode).toBe(204);
      expect((await call('POST', `/v1/orgs/${orgB}/roles`, ownerB.token, { name: 'Readers', permissions: ['org:read'] }, { ip: IP.roles })).statusCode).toBe(201);

      await sleep(50);
      middle = new Date();
      await sleep(50);
      expect((await call('PATCH', `/v1/orgs/${orgA}`, ownerA.token, { name: 'Renamed A' }, { ip: IP.later })).statusCode).toBe(200);
      expect((await call('PATCH', `/v1/orgs/${orgB}`, ownerB.token, { name: 'Renamed B' }, { ip: IP.later })).statusCode).toBe(200);
    });
    afterAll(async () => app?.destroy());

    /** Organization A's entries as stored, newest first (ids are time-ordered). */
    const stored = (orgId: string) =>
      query<Row>('SELECT id, created_at, org_id, actor_id, action, target_type, target_id, result, ip FROM audit_events WHERE org_id = $1 ORDER BY id DESC', [orgId]);
    const ids = (entries: { id: string }[]) => entries.map((entry) => entry.id);
    const orgList = (orgId: string, filter: Record<string, string>, token: string) => h.allPages<Entry>(`/v1/orgs/${orgId}/audit-logs?${new URLSearchParams(filter).toString()}`, token);

    describe('filters', () => {
      const cases: [string, (ctx: { middle: Date; adminId: string; ownerId: string }) => Record<string, string>, (row: Row, ctx: { middle: Date; adminId: string; ownerId: string }) => boolean][] = [
        ['actor', (c) => ({ actor: c.adminId }), (row, c) => row.actor_id === c.adminId],
        ['action prefix member.', () => ({ action: 'member.' }), (row) => row.action.startsWith('member.')],
        ['action prefix member.role (a prefix inside a word)', () => ({ action: 'member.role' }), (row) => row.action.startsWith('member.role')],
        ['target type:id', (c) => ({ target: `user:${c.ownerId}` }), (row, c) => row.target_type === 'user' && row.target_id === c.ownerId],
        ['target by id alone', (c) => ({ target: c.ownerId }), (row, c) => row.target_id === c.ownerId],
        ['result failure', () => ({ result: 'failure' }), (row) => row.result === 'failure'],
        ['result success', () => ({ result: 'success' }), (row) => row.result === 'success'],
        ['ip', () => ({ ip: IP.members }), (row) => row.ip === IP.members],
        ['from', (c) => ({ from: c.middle.toISOString() }), (row, c) => row.created_at >= c.middle],
        ['to', (c) => ({ to: c.middle.toISOString() }), (row, c) => row.created_at <= c.middle],
        ['action and ip together', () => ({ action: 'member.', ip: IP.removal }), (row) => row.action.startsWith('member.') && row.ip === IP.removal],
      ];

      it.each(cases)('%s: exactly the matching entries of the organization, newest first (org route and admin route alike)', async (_name, filterOf, matches) => {
        const ctx = { middle, adminId: adminA.user.id, ownerId: ownerA.user.id };
        const rows = await stored(orgA);
        const expected = rows.filter((row) => matches(row, ctx)).map((row) => row.id);
        // Each filter filters: something matches, and not everything.
        expect(expected.length).toBeGreaterThan(0);
        expect(expected.length).toBeLessThan(rows.length);
        const viaOrg = await orgList(orgA, filterOf(ctx), ownerA.token);
        expect(ids(viaOrg)).toEqual(expected);
        for (const entry of viaOrg) expectShape(entry);
        const admin = await h.platformAdmin();
        const viaAdmin = await h.allPages<Entry>(`/v1/admin/audit-logs?${new URLSearchParams({ ...filterOf(ctx), org_id: orgA }).toString()}`, admin.token);
        expect(ids(viaAdmin)).toEqual(expected);
      });

      it('an action prefix is a prefix, not a LIKE pattern: `_` matches itself (`%` is refused by the schema, see below)', async () => {
        expect(await orgList(orgA, { action: 'role_' }, ownerA.token)).toEqual([]);
        expect((await orgList(orgA, { action: 'role.' }, ownerA.token)).length).toBeGreaterThan(0);
        expect(await orgList(orgA, { action: '_' }, ownerA.token)).toEqual([]);
      });

      it('a time range with from after to, or an actor or address with no entries, is an empty page (200)', async () => {
        expect(await orgList(orgA, { from: middle.toISOString(), to: new Date(middle.getTime() - 1).toISOString() }, ownerA.token)).toEqual([]);
        expect(await orgList(orgA, { ip: '192.0.2.99' }, ownerA.token)).toEqual([]);
        expect(await orgList(orgA, { actor: 'usr_00000000000000000000000000' }, ownerA.token)).toEqual([]);
      });

      it('the entry refused by the rules reads back whole: failure, reason with commas, quotes and a line break, the request context', async () => {
        const [entry] = await orgList(orgA, { result: 'failure' }, ownerA.token);
        expect(entry).toMatchObject({
          org_id: orgA, actor: { type: 'user', id: adminA.user.id, display: adminA.email }, action: 'member.role_changed', target: { type: 'user', id: ownerA.user.id },
          result: 'failure', reason: AWKWARD_REASON, ip: IP.denied, user_agent: FORMULA_UA, request_id: 'req-denied', changes: { role: { before: 'owner', after: 'member' } },
        });
      });
    });

    describe('cursor pagination', () => {
      it('pages of 2 follow next_cursor to the end: together exactly the whole list, in order, no entry twice; the last page has no cursor', async () => {
        const whole = ids(await stored(orgA));
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res = await call('GET', `/v1/orgs/${orgA}/audit-logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, ownerA.token);
          expect(res.statusCode, res.body).toBe(200);
          const page = res.json<Page<Entry>>();
          expect(page.data.length).toBeLessThanOrEqual(2);
          seen.push(...ids(page.data));
          cursor = page.next_cursor;
          if (cursor) expect(cursor).toBe(page.data[page.data.length - 1]!.id);
          pages++;
        } while (cursor && pages < 100);
        expect(seen).toEqual(whole);
        expect(new Set(seen).size).toBe(seen.length);
        expect(pages).toBe(Math.ceil(whole.length / 2));
      });

      it('a filtered selection pages the same way (limit=1, action=member.)', async () => {
        const expected = (await stored(orgA)).filter((row) => row.action.startsWith('member.')).map((row) => row.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const res = await call('GET', `/v1/orgs/${orgA}/audit-logs?limit=1&action=member.${cursor ? `&cursor=${cursor}` : ''}`, ownerA.token);
          expect(res.statusCode, res.body).toBe(200);
          const page = res.json<Page<Entry>>();
          seen.push(...ids(page.data));
          cursor = page.next_cursor;
        } while (cursor);
        expect(seen).toEqual(expected);
      });

      it('refusals: a malformed cursor, a limit out of range, a bad date, an action with capitals, an unknown result: 400 with the field', async () => {
        for (const qs of ['cursor=aud_x', 'cursor=evt_01m82bwrpj2mjwqq5jpyy7xb66', 'limit=0', 'limit=201', 'from=yesterday', 'to=2025-13-01T00:00:00Z', 'action=Member.', 'action=member%25', 'result=maybe', 'ip=']) {
          const res = await call('GET', `/v1/orgs/${orgA}/audit-logs?${qs}`, ownerA.token);
          expectProblem(res, 400, 'validation_failed');
        }
      });
    });

    describe('export', () => {
      /** The whole selection through the list route, then the same selection exported. */
      async function listAndExport(filter: Record<string, string>, format: 'csv' | 'jsonl') {
        const listed = await orgList(orgA, filter, ownerA.token);
        const res = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?${new URLSearchParams({ ...filter, format }).toString()}`, ownerA.token);
        expect(res.statusCode, res.body).toBe(200);
        return { listed, res };
      }

      it('JSON Lines: the same entries as the list, in the same order, each line an entry as the API shows it; attachment, no-store', async () => {
        const { listed, res } = await listAndExport({ action: 'member.' }, 'jsonl');
        expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
        expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-\d{4}-\d{2}-\d{2}\.jsonl"$/);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.body.endsWith('\n')).toBe(true);
        const exported = res.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
        expect(exported.length).toBeGreaterThan(1);
        // Sealing may have filled in seq and hash between the two reads; everything else is identical.
        const content = ({ seq: _s, hash: _h, ...rest }: Entry) => rest;
        expect(exported.map(content)).toEqual(listed.map(content));
      });

      it('CSV: a header, then the same rows in the same order; quoted fields keep commas, quotes and line breaks; a leading = is defused', async () => {
        const { listed, res } = await listAndExport({ action: 'member.' }, 'csv');
        expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8/);
        expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-\d{4}-\d{2}-\d{2}\.csv"$/);
        const [header, ...rows] = parseCsv(res.body);
        expect(header).toEqual(['id', 'created_at', 'org_id', 'actor_type', 'actor_id', 'actor_display', 'action', 'target_type', 'target_id', 'result', 'reason', 'ip', 'user_agent', 'request_id', 'changes', 'seq', 'hash']);
        const records = rows.map((row) => Object.fromEntries(header!.map((column, i) => [column, row[i]])));
        expect(records.map((record) => record.id)).toEqual(ids(listed));
        for (const [i, entry] of listed.entries()) {
          const record = records[i]!;
          expect(rows[i]).toHaveLength(header!.length);
          expect(record).toMatchObject({
            created_at: entry.created_at, org_id: orgA, actor_type: entry.actor.type, actor_id: entry.actor.id ?? '', actor_display: entry.actor.display ?? '',
            action: entry.action, target_type: entry.target?.type ?? '', target_id: entry.target?.id ?? '', result: entry.result, reason: entry.reason ?? '', ip: entry.ip ?? '',
            request_id: entry.request_id ?? '',
          });
          expect(record.changes === '' ? null : JSON.parse(record.changes!)).toEqual(entry.changes);
          expect(record.user_agent).toBe(entry.user_agent?.startsWith('=') ? `'${entry.user_agent}` : (entry.user_agent ?? ''));
        }
        const denied = records.find((record) => record.result === 'failure')!;
        expect(denied.reason).toBe(AWKWARD_REASON);
        expect(denied.user_agent).toBe(`'${FORMULA_UA}`);
      });

      it('an unfiltered export is the whole log of the organization, headed by the audit.exported entry it wrote itself', async () => {
        const listed = await orgList(orgA, {}, adminA.token);
        const res = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=jsonl`, adminA.token, undefined, { ip: '198.51.100.45' });
        expect(res.statusCode, res.body).toBe(200);
        const exported = res.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
        expect(exported[0]).toMatchObject({ org_id: orgA, action: 'audit.exported', actor: { type: 'user', id: adminA.user.id, display: adminA.email }, target: { type: 'org', id: orgA }, ip: '198.51.100.45', changes: { format: { after: 'jsonl' } } });
        expect(ids(exported.slice(1))).toEqual(ids(listed));
        expect(exported.every((entry) => entry.org_id === orgA)).toBe(true);
      });

      it('an export that matches nothing: CSV is the header alone, JSON Lines is empty', async () => {
        const csv = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=csv&ip=192.0.2.98`, ownerA.token);
        expect(csv.statusCode).toBe(200);
        expect(parseCsv(csv.body)).toHaveLength(1);
        const jsonl = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=jsonl&ip=192.0.2.98`, ownerA.token);
        expect(jsonl.statusCode).toBe(200);
        expect(jsonl.body).toBe('');
      });

      it('refusals: an unknown format, limit or cursor (exports take no paging): 400, and no audit.exported is written', async () => {
        const before = (await stored(orgA)).length;
        for (const qs of ['format=xml', 'format=jsonl&limit=5', 'format=csv&cursor=aud_01m82bwrpj2mjwqq5jpyy7xb66', 'format=csv&org_id=' + 'org_01m82bwrpj2mjwqq5jpyy7xb66']) {
          expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs/export?${qs}`, ownerA.token), 400, 'validation_failed');
        }
        expect((await stored(orgA)).length).toBe(before);
      });
    });

    describe('tenant isolation', () => {
      it("an organization's admin sees its entries only: never another organization's, never platform-wide ones", async () => {
        const seen = await orgList(orgA, {}, adminA.token);
        expect(seen.every((entry) => entry.org_id === orgA)).toBe(true);
        expect(ids(seen)).toEqual(ids(await stored(orgA)));
        const others = new Set(ids(await stored(orgB)));
        expect(seen.some((entry) => others.has(entry.id))).toBe(false);
        // The admin's own sign-up and sign-in (org_id null) exist, and are not shown.
        const platform = await query<{ id: string }>('SELECT id FROM audit_events WHERE org_id IS NULL AND actor_id = $1', [adminA.user.id]);
        expect(platform.length).toBeGreaterThan(0);
        expect(await orgList(orgA, { actor: adminA.user.id }, adminA.token)).toEqual(expect.not.arrayContaining([expect.objectContaining({ id: platform[0]!.id })]));
        expect((await orgList(orgA, { actor: adminA.user.id }, adminA.token)).every((entry) => entry.org_id === orgA)).toBe(true);
      });

      it('org_id in the query is refused (400: the organization is the path\'s), and filters naming the other organization find nothing', async () => {
        expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs?org_id=${orgB}`, adminA.token), 400, 'validation_failed');
        expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs/export?org_id=${orgB}`, adminA.token), 400, 'validation_failed');
        expect(await orgList(orgA, { target: `org:${orgB}` }, adminA.token)).toEqual([]);
        expect(await orgList(orgA, { actor: ownerB.user.id }, adminA.token)).toEqual([]);
        // The X-Organization-Id header does not move a path-scoped route.
        const viaHeader = await h.allPages<Entry>(`/v1/orgs/${orgA}/audit-logs`, adminA.token, { headers: { 'x-organization-id': orgB } });
        expect(viaHeader.every((entry) => entry.org_id === orgA)).toBe(true);
        const exported = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=jsonl&ip=${IP.members}`, adminA.token, undefined, { headers: { 'x-organization-id': orgB } });
        const lines = exported.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
        expect(lines.length).toBeGreaterThan(0);
        expect(lines.every((entry) => entry.org_id === orgA)).toBe(true);
        // B's entries from the same address exist.
        expect((await stored(orgB)).some((row) => row.ip === IP.members)).toBe(true);
      });

      it("another organization's log: 404 (it reveals nothing), for the list and the export", async () => {
        expectProblem(await call('GET', `/v1/orgs/${orgB}/audit-logs`, adminA.token), 404, 'org_not_found');
        expectProblem(await call('GET', `/v1/orgs/${orgB}/audit-logs/export?format=csv`, adminA.token), 404, 'org_not_found');
      });

      it('members without audit:read (member, viewer): 403 permission_denied for the list and the export; a custom role holding audit:read may read', async () => {
        for (const who of [memberA, viewerA]) {
          expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs`, who.token), 403, 'permission_denied');
          expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=csv`, who.token), 403, 'permission_denied');
        }
        const created = await call('POST', `/v1/orgs/${orgA}/roles`, ownerA.token, { name: 'Auditor', permissions: ['org:read', 'audit:read'] });
        expect(created.statusCode, created.body).toBe(201);
        const auditor = await h.joined(orgA, created.json<{ id: string }>().id, 'auditor');
        const seen = await orgList(orgA, {}, auditor.token);
        expect(seen.length).toBeGreaterThan(0);
        expect(seen.every((entry) => entry.org_id === orgA)).toBe(true);
      });

      it('an API key with audit:read reads and exports its organization only (as actor api_key); without the scope 403; on the other organization 404; never the admin routes', async () => {
        const key = await h.apiKey(orgA, ownerA, ['audit:read'], 'SIEM');
        const headers = { 'x-api-key': key.secret };
        const listed = await h.allPages<Entry>(`/v1/orgs/${orgA}/audit-logs`, '', { headers });
        expect(listed.length).toBeGreaterThan(0);
        expect(listed.every((entry) => entry.org_id === orgA)).toBe(true);
        const exported = await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=jsonl&action=audit.`, null, undefined, { headers, ip: '198.51.100.46' });
        expect(exported.statusCode, exported.body).toBe(200);
        const [own] = exported.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
        expect(own).toMatchObject({ action: 'audit.exported', org_id: orgA, actor: { type: 'api_key', id: key.id, display: 'SIEM' }, ip: '198.51.100.46' });

        expectProblem(await call('GET', `/v1/orgs/${orgB}/audit-logs`, null, undefined, { headers }), 404, 'org_not_found');
        expectProblem(await call('GET', `/v1/orgs/${orgB}/audit-logs/export?format=csv`, null, undefined, { headers }), 404, 'org_not_found');
        const plain = await h.apiKey(orgA, ownerA, ['org:read'], 'no audit');
        expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs`, null, undefined, { headers: { 'x-api-key': plain.secret } }), 403, 'scope_missing');
        expectProblem(await call('GET', `/v1/orgs/${orgA}/audit-logs/export?format=csv`, null, undefined, { headers: { 'x-api-key': plain.secret } }), 403, 'scope_missing');
        for (const url of ['/v1/admin/audit-logs', '/v1/admin/audit-logs/export', '/v1/admin/audit-logs/verify']) {
          const res = await call('GET', url, key.secret);
          expect([401, 403], `${url}: ${res.body}`).toContain(res.statusCode);
        }
      });

      it('the admin routes: platform admins only (an organization owner 403, anonymous 401); the admin sees every organization and platform-wide entries', async () => {
        for (const url of ['/v1/admin/audit-logs', '/v1/admin/audit-logs/export?format=csv', '/v1/admin/audit-logs/verify']) {
          expectProblem(await call('GET', url, ownerA.token), 403, 'forbidden');
          expectProblem(await call('GET', url, null), 401, 'unauthorized');
        }
        const admin = await h.platformAdmin();
        const all = await h.allPages<Entry>('/v1/admin/audit-logs', admin.token);
        const orgsSeen = new Set(all.map((entry) => entry.org_id));
        expect(orgsSeen).toEqual(new Set([orgA, orgB, null]));
        const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events')) as [{ n: number }];
        expect(all.length).toBe(n);
      });
    });
  });
});
