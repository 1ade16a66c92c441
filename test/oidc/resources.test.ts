import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { columns, testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';

/*
 * API resources (RFC 8707) and the resource scopes granted to applications, on each engine: CRUD of
 * resources with their scopes, every refusal (indicator, taken indicator, duplicate or reserved scope
 * names) with nothing written, grants replaced whole (an unknown resource or scope refused, naming
 * it, with nothing written), what removing scopes or resources does to grants, the audit entries and
 * events, and what the provider reads (resourceScopes, findResource).
 */

const { redisUrl } = inject('services');

interface ResourceBody {
  id: string;
  indicator: string;
  name: string;
  scopes: { name: string; description: string }[];
  created_at: string;
  updated_at: string;
}

describe.each(engineCases())('API resources and grants on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    let admin: string;
    const api = testClient(() => app, { accounts: 'seeded' });
    const { call, query } = api;

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = (await api.platformAdmin()).token;
    });
    afterAll(async () => app?.destroy());

    let serial = 0;
    const indicator = (label: string) => `https://api.example.com/${label}-${++serial}`;
    async function createResource(body: Record<string, unknown>): Promise<ResourceBody> {
      const res = await call('POST', '/v1/admin/resources', admin, body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json<ResourceBody>();
    }
    async function createApp(name: string, type = 'm2m'): Promise<{ id: string }> {
      const res = await call('POST', '/v1/admin/applications', admin, { name, type, ...(type === 'web' ? { redirect_uris: ['https://app.example.com/cb'] } : {}) });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>();
    }
    const count = async (table: string) => (await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
    const registry = () => app.context.clientRegistry;

    it('POST defines a resource with its scopes (201); GET, the list, PATCH (name, scopes replaced) and DELETE (204, then 404); audited and announced as resource.* with no organization', async () => {
      const reports = indicator('reports');
      const created = await createResource({ indicator: reports, name: 'Reports API', scopes: [{ name: 'write:reports', description: 'Change reports' }, { name: 'read:reports', description: 'Read reports' }, { name: 'admin' }] });
      expect(created).toEqual({
        id: expect.stringMatching(/^res_[0-9a-z]{26}$/), indicator: reports, name: 'Reports API',
        scopes: [{ name: 'admin', description: '' }, { name: 'read:reports', description: 'Read reports' }, { name: 'write:reports', description: 'Change reports' }],
        created_at: expect.any(String), updated_at: expect.any(String),
      });
      const got = await call('GET', `/v1/admin/resources/${created.id}`, admin);
      expect(got.statusCode, got.body).toBe(200);
      expect(got.json()).toEqual(created);
      expect((await api.allPages<ResourceBody>('/v1/admin/resources', admin)).find((item) => item.id === created.id)).toEqual(created);
      expect(await registry().findResource(reports)).toMatchObject({ id: created.id, indicator: reports, name: 'Reports API', scopes: created.scopes });
      expect(await registry().findResource('https://api.example.com/nothing')).toBeNull();

      const patched = await call('PATCH', `/v1/admin/resources/${created.id}`, admin, { name: 'Reports', scopes: [{ name: 'read:reports', description: 'Read every report' }, { name: 'export:reports' }] });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({ name: 'Reports', indicator: reports, scopes: [{ name: 'export:reports', description: '' }, { name: 'read:reports', description: 'Read every report' }] });
      expect((await call('PATCH', `/v1/admin/resources/${created.id}`, admin, { name: 'Reports again' })).json()).toMatchObject({ scopes: [{ name: 'export:reports' }, { name: 'read:reports' }] });
      // The indicator never changes (resource servers check it as their audience).
      expectProblem(await call('PATCH', `/v1/admin/resources/${created.id}`, admin, { indicator: indicator('moved') }), 400, 'validation_failed');
      expectProblem(await call('PATCH', `/v1/admin/resources/${created.id}`, admin, {}), 400, 'validation_failed');

      const deleted = await call('DELETE', `/v1/admin/resources/${created.id}`, admin);
      expect(deleted.statusCode, deleted.body).toBe(204);
      for (const [method, body] of [['GET', undefined], ['PATCH', { name: 'x' }], ['DELETE', undefined]] as const) {
        expectProblem(await call(method, `/v1/admin/resources/${created.id}`, admin, body), 404, 'resource_not_found');
      }
      expect(await query('SELECT * FROM oidc_resource_scopes WHERE resource_id = $1', [created.id])).toEqual([]);
      expect(await registry().findResource(reports)).toBeNull();

      expect(columns(await api.auditRows({ targetId: created.id }), 'org_id', 'actor_type', 'action', 'target_type', 'changes')).toEqual([
        { org_id: null, actor_type: 'user', action: 'resource.created', target_type: 'oidc_resource', changes: { indicator: { after: reports }, name: { after: 'Reports API' }, scopes: { after: ['admin', 'read:reports', 'write:reports'] } } },
        {
          org_id: null, actor_type: 'user', action: 'resource.updated', target_type: 'oidc_resource',
          changes: { name: { before: 'Reports API', after: 'Reports' }, scopes: { before: ['admin', 'read:reports', 'write:reports'], after: ['export:reports', 'read:reports'] } },
        },
        { org_id: null, actor_type: 'user', action: 'resource.updated', target_type: 'oidc_resource', changes: { name: { before: 'Reports', after: 'Reports again' } } },
        { org_id: null, actor_type: 'user', action: 'resource.deleted', target_type: 'oidc_resource', changes: null },
      ]);
      const events = (await api.eventRows({ orgId: null })).filter((event) => event.payload.resource_id === created.id);
      expect(events).toEqual([
        { type: 'resource.created', org_id: null, payload: { resource_id: created.id, indicator: reports, name: 'Reports API', scopes: ['admin', 'read:reports', 'write:reports'] } },
        { type: 'resource.updated', org_id: null, payload: { resource_id: created.id, indicator: reports, changes: ['name', 'scopes'] } },
        { type: 'resource.updated', org_id: null, payload: { resource_id: created.id, indicator: reports, changes: ['name'] } },
        { type: 'resource.deleted', org_id: null, payload: { resource_id: created.id, indicator: reports } },
      ]);
    });

    it('refuses a bad or taken indicator, duplicate, reserved or malformed scope names and bad bodies, writing nothing', async () => {
      const taken = await createResource({ indicator: indicator('taken'), name: 'Taken', scopes: [] });
      const before = { resources: await count('oidc_resources'), scopes: await count('oidc_resource_scopes'), audit: await count('audit_events'), events: await count('events') };
      const cases: [Record<string, unknown>, number, string, string?][] = [
        [{ indicator: 'api.example.com', name: 'R' }, 422, 'invalid_resource_indicator', 'body.indicator'],
        [{ indicator: '/reports', name: 'R' }, 422, 'invalid_resource_indicator', 'body.indicator'],
        [{ indicator: 'https://api.example.com/reports#v1', name: 'R' }, 422, 'invalid_resource_indicator', 'body.indicator'],
        [{ indicator: 'https:/api.example.com', name: 'R' }, 422, 'invalid_resource_indicator', 'body.indicator'],
        [{ indicator: taken.indicator, name: 'R' }, 409, 'resource_indicator_taken'],
        [{ indicator: indicator('dup'), name: 'R', scopes: [{ name: 'read:reports' }, { name: 'read:reports', description: 'again' }] }, 422, 'duplicate_scope', 'body.scopes.1.name'],
        [{ indicator: indicator('oidc'), name: 'R', scopes: [{ name: 'read:reports' }, { name: 'openid' }] }, 422, 'reserved_scope', 'body.scopes.1.name'],
        [{ indicator: indicator('offline'), name: 'R', scopes: [{ name: 'offline_access' }] }, 422, 'reserved_scope', 'body.scopes.0.name'],
        [{ indicator: indicator('space'), name: 'R', scopes: [{ name: 'read reports' }] }, 400, 'validation_failed', 'body.scopes.0.name'],
        [{ indicator: indicator('empty'), name: 'R', scopes: [{ name: '' }] }, 400, 'validation_failed', 'body.scopes.0.name'],
        [{ indicator: indicator('noname'), name: '' }, 400, 'validation_failed', 'body.name'],
        [{ name: 'R' }, 400, 'validation_failed', 'body.indicator'],
        [{ indicator: indicator('extra'), name: 'R', audience: 'x' }, 400, 'validation_failed'],
      ];
      for (const [body, status, code, path] of cases) {
        const problem = expectProblem(await call('POST', '/v1/admin/resources', admin, body), status, code);
        if (path) expect(problem.errors, JSON.stringify(body)).toContainEqual({ path, message: expect.any(String) });
      }
      // A PATCH with a bad scope list changes nothing either.
      expectProblem(await call('PATCH', `/v1/admin/resources/${taken.id}`, admin, { name: 'Renamed', scopes: [{ name: 'a' }, { name: 'a' }] }), 422, 'duplicate_scope');
      expectProblem(await call('PATCH', `/v1/admin/resources/${taken.id}`, admin, { scopes: [{ name: 'profile' }] }), 422, 'reserved_scope');
      expectProblem(await call('GET', '/v1/admin/resources/reports', admin), 400, 'validation_failed');
      expect({ resources: await count('oidc_resources'), scopes: await count('oidc_resource_scopes'), audit: await count('audit_events'), events: await count('events') }).toEqual(before);
      expect((await call('GET', `/v1/admin/resources/${taken.id}`, admin)).json()).toMatchObject({ name: 'Taken', scopes: [] });
    });

    it('PUT …/grants replaces the application\'s resource scopes; GET and the application body show them; resourceScopes answers them; audited, announced as application.updated', async () => {
      const reports = await createResource({ indicator: indicator('reports'), name: 'Reports', scopes: [{ name: 'read:reports' }, { name: 'write:reports' }] });
      const billing = await createResource({ indicator: indicator('billing'), name: 'Billing', scopes: [{ name: 'read:invoices' }] });
      const client = await createApp('Granted');
      const url = `/v1/admin/applications/${client.id}/grants`;

      expect((await call('GET', url, admin)).json()).toEqual({ data: [] });
      const res = await call('PUT', url, admin, {
        grants: [{ resource: reports.indicator, scopes: ['write:reports', 'read:reports'] }, { resource: billing.indicator, scopes: ['read:invoices'] }, { resource: reports.indicator, scopes: ['read:reports'] }],
      });
      expect(res.statusCode, res.body).toBe(200);
      const expected = [{ resource: reports.indicator, scopes: ['read:reports', 'write:reports'] }, { resource: billing.indicator, scopes: ['read:invoices'] }].sort((a, b) => (a.resource < b.resource ? -1 : 1));
      expect(res.json()).toEqual({ data: expected });
      expect((await call('GET', url, admin)).json()).toEqual({ data: expected });
      expect((await call('GET', `/v1/admin/applications/${client.id}`, admin)).json()).toMatchObject({ grants: expected });
      expect(await registry().resourceScopes(client.id)).toEqual(expected);
      expect(await registry().resourceScopes('nobody')).toEqual([]);

      // Replaced whole: what is not named goes.
      const replaced = await call('PUT', url, admin, { grants: [{ resource: billing.indicator, scopes: ['read:invoices'] }] });
      expect(replaced.json()).toEqual({ data: [{ resource: billing.indicator, scopes: ['read:invoices'] }] });

      expect(columns(await api.auditRows({ targetId: client.id, action: 'application.grants_changed' }), 'org_id', 'changes')).toEqual([
        { org_id: null, changes: { grants: { before: [], after: expected } } },
        { org_id: null, changes: { grants: { before: expected, after: [{ resource: billing.indicator, scopes: ['read:invoices'] }] } } },
      ]);
      const events = (await api.eventRows({ type: 'application.updated' })).filter((event) => event.payload.application_id === client.id);
      expect(events.map((event) => event.payload.changes)).toEqual([['grants'], ['grants']]);

      // Removing a scope from the resource, or the resource, takes the grants with it.
      await call('PUT', url, admin, { grants: [{ resource: reports.indicator, scopes: ['read:reports', 'write:reports'] }, { resource: billing.indicator, scopes: ['read:invoices'] }] });
      expect((await call('PATCH', `/v1/admin/resources/${reports.id}`, admin, { scopes: [{ name: 'read:reports' }] })).statusCode).toBe(200);
      expect(await registry().resourceScopes(client.id)).toEqual(
        [{ resource: reports.indicator, scopes: ['read:reports'] }, { resource: billing.indicator, scopes: ['read:invoices'] }].sort((a, b) => (a.resource < b.resource ? -1 : 1)),
      );
      expect((await call('DELETE', `/v1/admin/resources/${billing.id}`, admin)).statusCode).toBe(204);
      expect(await registry().resourceScopes(client.id)).toEqual([{ resource: reports.indicator, scopes: ['read:reports'] }]);
      // Deleting the application takes its grants.
      expect((await call('DELETE', `/v1/admin/applications/${client.id}`, admin)).statusCode).toBe(204);
      expect(await query('SELECT * FROM oidc_application_grants WHERE application_id = $1', [client.id])).toEqual([]);
    });

    it('refuses grants of an unknown resource or scope with a 422 naming it, and writes nothing', async () => {
      const reports = await createResource({ indicator: indicator('reports'), name: 'Reports', scopes: [{ name: 'read:reports' }] });
      const other = await createResource({ indicator: indicator('other'), name: 'Other', scopes: [{ name: 'read:other' }] });
      const client = await createApp('Refused grants', 'web');
      const url = `/v1/admin/applications/${client.id}/grants`;
      const granted = [{ resource: reports.indicator, scopes: ['read:reports'] }];
      expect((await call('PUT', url, admin, { grants: granted })).statusCode).toBe(200);
      const before = { grants: await count('oidc_application_grants'), audit: await count('audit_events'), events: await count('events') };

      const unknownResource = expectProblem(await call('PUT', url, admin, { grants: [{ resource: reports.indicator, scopes: [] }, { resource: 'https://api.example.com/ghost', scopes: ['read:reports'] }] }), 422, 'unknown_resource');
      expect(unknownResource.detail).toContain('https://api.example.com/ghost');
      expect(unknownResource.errors).toEqual([{ path: 'body.grants.1.resource', message: expect.stringContaining('https://api.example.com/ghost') }]);
      const unknownScope = expectProblem(await call('PUT', url, admin, { grants: [{ resource: reports.indicator, scopes: ['read:reports', 'delete:reports'] }] }), 422, 'unknown_scope');
      expect(unknownScope.detail).toContain('delete:reports');
      expect(unknownScope.errors).toEqual([{ path: 'body.grants.0.scopes.1', message: expect.stringContaining('delete:reports') }]);
      // A scope of another resource is not this resource's.
      expectProblem(await call('PUT', url, admin, { grants: [{ resource: reports.indicator, scopes: ['read:other'] }, { resource: other.indicator, scopes: ['read:other'] }] }), 422, 'unknown_scope');
      expectProblem(await call('PUT', url, admin, { grants: [{ resource: reports.indicator }] }), 400, 'validation_failed');
      expectProblem(await call('PUT', url, admin, {}), 400, 'validation_failed');
      expectProblem(await call('PUT', '/v1/admin/applications/app_01jd8x7k2m3n4p5q6r7s8t9v0w/grants', admin, { grants: [] }), 404, 'application_not_found');

      expect({ grants: await count('oidc_application_grants'), audit: await count('audit_events'), events: await count('events') }).toEqual(before);
      expect((await call('GET', url, admin)).json()).toEqual({ data: granted });
    });
  });
});
