import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createApplicationsService } from '../../src/modules/oidc/index.js';
import { NO_CLIENT } from '../../src/platform/http/client.js';
import { createEngineApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { columns, testClient, type Method, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';

/*
 * The OpenID provider's applications, managed by platform admins on each engine: registration of
 * every type (the client secret once, sealed at rest, never again), every refusal of a redirect
 * URI, origin or back-channel URI (422 naming the field, nothing written), changes judged for the
 * type, secret rotation with its overlap, deletion, the audit entries and outbox events (never a
 * secret), and the client registry the provider reads (findClient, verifyClientSecret).
 */

const { redisUrl } = inject('services');

interface ApplicationBody {
  id: string;
  client_id: string;
  name: string;
  type: string;
  org_id: string | null;
  first_party: boolean;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  allowed_origins: string[];
  backchannel_logout_uri: string | null;
  token_endpoint_auth_method: string;
  grant_types: string[];
  response_types: string[];
  has_secret: boolean;
  previous_secret_expires_at: string | null;
  grants: { resource: string; scopes: string[] }[];
  created_at: string;
  updated_at: string;
  client_secret?: string;
}

interface ApplicationRow {
  id: string;
  org_id: string | null;
  type: string;
  secret: string | null;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  redirect_uris: string[];
}

const WEB = { name: 'Reports', type: 'web', redirect_uris: ['https://reports.example.com/callback'] };
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

describe('APPLICATION_SECRET_OVERLAP_SECONDS', () => {
  it('defaults to a day, takes 0 to 30 days, and refuses anything else naming the variable', () => {
    const base = { NODE_ENV: 'test', TESSERA_SECRET: TEST_SECRET };
    expect(loadConfig(base).applications.secretOverlapSeconds).toBe(86_400);
    expect(loadConfig({ ...base, APPLICATION_SECRET_OVERLAP_SECONDS: '0' }).applications.secretOverlapSeconds).toBe(0);
    expect(loadConfig({ ...base, APPLICATION_SECRET_OVERLAP_SECONDS: '2592000' }).applications.secretOverlapSeconds).toBe(2_592_000);
    for (const bad of ['-1', '2592001', 'a day', '1.5']) expect(() => loadConfig({ ...base, APPLICATION_SECRET_OVERLAP_SECONDS: bad }), bad).toThrow(/APPLICATION_SECRET_OVERLAP_SECONDS/);
  });
});

describe.each(engineCases())('applications on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    let admin: string;
    let person: Signed;
    const api = testClient(() => app, { accounts: 'seeded' });
    const { call, query } = api;

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = (await api.platformAdmin()).token;
      person = await api.seeded('not-admin');
    });
    afterAll(async () => app?.destroy());

    async function create(body: Record<string, unknown>): Promise<ApplicationBody> {
      const res = await call('POST', '/v1/admin/applications', admin, body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json<ApplicationBody>();
    }
    const row = async (id: string) => (await query<ApplicationRow & Record<string, unknown>>('SELECT * FROM oidc_applications WHERE id = $1', [id]))[0];
    const count = async (table: string) => (await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
    const registry = () => app.context.clientRegistry;

    /** Neither table of the audit log and the outbox, nor the logs, hold the secret anywhere. */
    async function expectNowhere(secret: string): Promise<void> {
      const [found] = await query<{ audit: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM audit_events WHERE row_to_json(audit_events)::text LIKE '%' || $1 || '%') AS audit,
                (SELECT count(*)::int FROM events WHERE row_to_json(events)::text LIKE '%' || $1 || '%') AS events`,
        [secret],
      );
      expect(found).toEqual({ audit: 0, events: 0 });
      expect(app.logs.text()).not.toContain(secret);
    }

    it('refuses anonymous callers (401 unauthorized) and people who are not platform admins (403 forbidden) on every route, writing nothing', async () => {
      const id = (await create({ ...WEB, name: 'Guarded' })).id;
      const before = { apps: await count('oidc_applications'), resources: await count('oidc_resources'), audit: await count('audit_events') };
      const routes: [Method, string, unknown?][] = [
        ['POST', '/v1/admin/applications', { ...WEB, name: 'Nope' }],
        ['GET', '/v1/admin/applications'],
        ['GET', `/v1/admin/applications/${id}`],
        ['PATCH', `/v1/admin/applications/${id}`, { name: 'Nope' }],
        ['DELETE', `/v1/admin/applications/${id}`],
        ['POST', `/v1/admin/applications/${id}/secret`],
        ['GET', `/v1/admin/applications/${id}/grants`],
        ['PUT', `/v1/admin/applications/${id}/grants`, { grants: [] }],
        ['POST', '/v1/admin/resources', { indicator: 'https://api.example.com/nope', name: 'Nope', scopes: [] }],
        ['GET', '/v1/admin/resources'],
        ['GET', '/v1/admin/resources/res_01jd8x7k2m3n4p5q6r7s8t9v0w'],
        ['PATCH', '/v1/admin/resources/res_01jd8x7k2m3n4p5q6r7s8t9v0w', { name: 'Nope' }],
        ['DELETE', '/v1/admin/resources/res_01jd8x7k2m3n4p5q6r7s8t9v0w'],
      ];
      for (const [method, url, body] of routes) {
        expectProblem(await call(method, url, null, body), 401, 'unauthorized');
        expectProblem(await call(method, url, person.token, body), 403, 'forbidden');
      }
      expect({ apps: await count('oidc_applications'), resources: await count('oidc_resources'), audit: await count('audit_events') }).toEqual(before);
      expect((await row(id))!.secret).not.toBeNull();
    });

    it('POST registers a web application (201): client_id is its app_ id, client_secret once (32 random bytes, base64url, no-store), client_secret_basic by default, sealed at rest', async () => {
      const res = await call('POST', '/v1/admin/applications', admin, { ...WEB, post_logout_redirect_uris: ['https://reports.example.com/'], allowed_origins: ['https://reports.example.com'] });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      const created = res.json<ApplicationBody>();
      expect(created).toEqual({
        id: expect.stringMatching(/^app_[0-9a-z]{26}$/), client_id: created.id, name: 'Reports', type: 'web', org_id: null, first_party: false,
        redirect_uris: WEB.redirect_uris, post_logout_redirect_uris: ['https://reports.example.com/'], allowed_origins: ['https://reports.example.com'],
        backchannel_logout_uri: null, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        has_secret: true, previous_secret_expires_at: null, grants: [], created_at: expect.any(String), updated_at: expect.any(String),
        client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      });
      const secret = created.client_secret!;
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);

      // Sealed with TESSERA_SECRET (the provider must compare it), never in clear.
      const stored = (await row(created.id))!;
      expect(stored.secret).toMatch(/^v1\./);
      expect(stored.secret).not.toContain(secret);
      expect(JSON.stringify(stored)).not.toContain(secret);
      expect(await registry().verifyClientSecret(created.id, secret)).toBe(true);
      expect(await registry().verifyClientSecret(created.id, `${secret}x`)).toBe(false);
      expect(await registry().verifyClientSecret(created.id, '')).toBe(false);

      // Never again: not by GET, the list or PATCH.
      const { client_secret: _, ...withoutSecret } = created;
      const got = await call('GET', `/v1/admin/applications/${created.id}`, admin);
      expect(got.statusCode, got.body).toBe(200);
      expect(got.json()).toEqual(withoutSecret);
      const listed = await api.allPages<ApplicationBody>('/v1/admin/applications', admin);
      expect(listed.find((item) => item.id === created.id)).toEqual(withoutSecret);
      const patched = await call('PATCH', `/v1/admin/applications/${created.id}`, admin, { first_party: true });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toEqual({ ...withoutSecret, first_party: true, updated_at: expect.any(String) });
      for (const body of [got.body, patched.body, JSON.stringify(listed)]) {
        expect(body).not.toContain(secret);
        expect(body).not.toContain('"client_secret"');
      }
      await expectNowhere(secret);
    });

    it('gives each type its grant types, response types and client authentication; only web and m2m get a secret; findClient answers the oidc-provider metadata', async () => {
      const web = await create({ ...WEB, token_endpoint_auth_method: 'client_secret_post', backchannel_logout_uri: 'https://reports.example.com/backchannel', first_party: true });
      const spa = await create({ name: 'Dashboard', type: 'spa', redirect_uris: ['https://dash.example.com/cb', 'http://localhost:5173/cb'], allowed_origins: ['https://dash.example.com', 'http://localhost:5173'] });
      const native = await create({ name: 'Phone', type: 'native', redirect_uris: ['com.example.phone:/callback', 'http://127.0.0.1/cb', 'http://[::1]:8080/cb'], post_logout_redirect_uris: ['com.example.phone:/logout'] });
      const m2m = await create({ name: 'Billing sync', type: 'm2m' });
      const device = await create({ name: 'TV', type: 'device' });

      expect(typeof web.client_secret).toBe('string');
      expect(typeof m2m.client_secret).toBe('string');
      for (const publicApp of [spa, native, device]) {
        expect(publicApp).not.toHaveProperty('client_secret');
        expect(publicApp).toMatchObject({ has_secret: false, token_endpoint_auth_method: 'none' });
        expect((await row(publicApp.id))!.secret).toBeNull();
        expect(await registry().verifyClientSecret(publicApp.id, '')).toBe(false);
      }
      expect(m2m).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
      expect(device).toMatchObject({ grant_types: [DEVICE_CODE, 'refresh_token'], response_types: [], redirect_uris: [] });

      const extras = { org_id: null, allowed_origins: [], first_party: false, post_logout_redirect_uris: [] };
      expect(await registry().findClient(web.id)).toEqual({
        ...extras, client_id: web.id, client_name: 'Reports', client_secret: web.client_secret, redirect_uris: WEB.redirect_uris, grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'], token_endpoint_auth_method: 'client_secret_post', application_type: 'web', backchannel_logout_uri: 'https://reports.example.com/backchannel',
        first_party: true, tessera_type: 'web',
      });
      expect(await registry().findClient(spa.id)).toEqual({
        ...extras, client_id: spa.id, client_name: 'Dashboard', redirect_uris: spa.redirect_uris, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        token_endpoint_auth_method: 'none', application_type: 'web', allowed_origins: ['https://dash.example.com', 'http://localhost:5173'], tessera_type: 'spa',
      });
      expect(await registry().findClient(native.id)).toEqual({
        ...extras, client_id: native.id, client_name: 'Phone', redirect_uris: native.redirect_uris, post_logout_redirect_uris: ['com.example.phone:/logout'],
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native', tessera_type: 'native',
      });
      expect(await registry().findClient(m2m.id)).toEqual({
        ...extras, client_id: m2m.id, client_name: 'Billing sync', client_secret: m2m.client_secret, redirect_uris: [], grant_types: ['client_credentials'], response_types: [],
        token_endpoint_auth_method: 'client_secret_basic', application_type: 'web', tessera_type: 'm2m',
      });
      expect(await registry().findClient(device.id)).toEqual({
        ...extras, client_id: device.id, client_name: 'TV', redirect_uris: [], grant_types: [DEVICE_CODE, 'refresh_token'], response_types: [],
        token_endpoint_auth_method: 'none', application_type: 'web', tessera_type: 'device',
      });
      expect(await registry().findClient('app_01jd8x7k2m3n4p5q6r7s8t9v0w')).toBeNull();
      expect(await registry().findClient('not-a-client')).toBeNull();
      expect(await registry().verifyClientSecret('not-a-client', web.client_secret!)).toBe(false);
      // One application's secret is not another's.
      expect(await registry().verifyClientSecret(m2m.id, web.client_secret!)).toBe(false);
    });

    it('refuses each invalid redirect URI, origin and back-channel URI with a 422 naming the field, bad bodies with a 400, an unknown org_id with a 404; nothing is written', async () => {
      const before = { apps: await count('oidc_applications'), audit: await count('audit_events'), events: await count('events') };
      const web = (over: Record<string, unknown>) => ({ ...WEB, name: 'Refused', ...over });
      const cases: [Record<string, unknown>, number, string, string?][] = [
        [{ name: 'Refused', type: 'web' }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [web({ redirect_uris: [] }), 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [{ name: 'Refused', type: 'spa' }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [{ name: 'Refused', type: 'native', redirect_uris: [] }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [web({ redirect_uris: ['/callback'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['reports.example.com/callback'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['https://reports.example.com/cb', 'https://reports.example.com/cb#top'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.1'],
        [web({ redirect_uris: ['https://reports.example.com/cb#'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['http://reports.example.com/cb'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['http://192.168.1.10/cb'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['https://user:pass@reports.example.com/cb'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['https://*.example.com/cb'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['https:/reports.example.com/cb'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['https://reports.example.com/c b'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ redirect_uris: ['com.example.app:/callback'] }), 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [{ name: 'Refused', type: 'spa', redirect_uris: ['com.example.app:/callback'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [{ name: 'Refused', type: 'native', redirect_uris: ['myapp:/callback'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [{ name: 'Refused', type: 'native', redirect_uris: ['javascript:alert(1)'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [{ name: 'Refused', type: 'native', redirect_uris: ['com.example.app:/cb#x'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [web({ post_logout_redirect_uris: ['http://reports.example.com/'] }), 422, 'invalid_redirect_uri', 'body.post_logout_redirect_uris.0'],
        [{ name: 'Refused', type: 'm2m', redirect_uris: ['https://reports.example.com/cb'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [{ name: 'Refused', type: 'device', redirect_uris: ['https://reports.example.com/cb'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [{ name: 'Refused', type: 'm2m', post_logout_redirect_uris: ['https://reports.example.com/'] }, 422, 'invalid_redirect_uri', 'body.post_logout_redirect_uris'],
        [{ name: 'Refused', type: 'm2m', allowed_origins: ['https://reports.example.com'] }, 422, 'invalid_client_metadata', 'body.allowed_origins'],
        [{ name: 'Refused', type: 'device', allowed_origins: ['https://reports.example.com'] }, 422, 'invalid_client_metadata', 'body.allowed_origins'],
        [web({ allowed_origins: ['https://reports.example.com/'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ allowed_origins: ['https://reports.example.com/app'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ allowed_origins: ['https://reports.example.com', 'https://Reports.example.com'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.1'],
        [web({ allowed_origins: ['https://reports.example.com:443'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ allowed_origins: ['http://reports.example.com'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ allowed_origins: ['reports.example.com'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ allowed_origins: ['ftp://reports.example.com'] }), 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [web({ backchannel_logout_uri: 'https://reports.example.com/bc#x' }), 422, 'invalid_client_metadata', 'body.backchannel_logout_uri'],
        [web({ backchannel_logout_uri: 'http://reports.example.com/bc' }), 422, 'invalid_client_metadata', 'body.backchannel_logout_uri'],
        [{ name: 'Refused', type: 'm2m', backchannel_logout_uri: 'https://reports.example.com/bc' }, 422, 'invalid_client_metadata', 'body.backchannel_logout_uri'],
        [{ name: 'Refused', type: 'spa', redirect_uris: ['https://dash.example.com/cb'], token_endpoint_auth_method: 'client_secret_basic' }, 422, 'invalid_client_metadata', 'body.token_endpoint_auth_method'],
        [{ name: 'Refused', type: 'device', token_endpoint_auth_method: 'client_secret_post' }, 422, 'invalid_client_metadata', 'body.token_endpoint_auth_method'],
        [web({ name: '' }), 400, 'validation_failed', 'body.name'],
        [web({ name: '   ' }), 400, 'validation_failed', 'body.name'],
        [web({ name: 'x'.repeat(201) }), 400, 'validation_failed', 'body.name'],
        [web({ type: 'hybrid' }), 400, 'validation_failed', 'body.type'],
        [web({ token_endpoint_auth_method: 'private_key_jwt' }), 400, 'validation_failed', 'body.token_endpoint_auth_method'],
        [web({ redirect_uris: ['https://a.example.com/cb', 'https://a.example.com/cb'] }), 400, 'validation_failed', 'body.redirect_uris'],
        [web({ client_secret: 'chosen-by-me' }), 400, 'validation_failed'],
        [web({ org_id: 'acme' }), 400, 'validation_failed', 'body.org_id'],
        [web({ org_id: 'org_01jd8x7k2m3n4p5q6r7s8t9v0w' }), 404, 'org_not_found', 'body.org_id'],
      ];
      for (const [body, status, code, path] of cases) {
        const res = await call('POST', '/v1/admin/applications', admin, body);
        const problem = expectProblem(res, status, code);
        if (path) expect(problem.errors, `${JSON.stringify(body)}: ${res.body}`).toContainEqual({ path, message: expect.any(String) });
      }
      expect({ apps: await count('oidc_applications'), audit: await count('audit_events'), events: await count('events') }).toEqual(before);
      expect(await query("SELECT id FROM oidc_applications WHERE name = 'Refused'")).toEqual([]);
      // What the rules allow: loopback http, a private-use scheme for native apps, an origin with a port.
      await create(web({ name: 'Allowed', redirect_uris: ['http://localhost/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]/cb', 'https://reports.example.com/cb?tenant=a'], allowed_origins: ['https://reports.example.com:8443'] }));
    });

    it('PATCH changes the settings, judged for the type after the change (422 and nothing changed when refused); type and org_id never change; audited as application.updated', async () => {
      const app1 = await create({ ...WEB, name: 'Patchable' });
      const spa = await create({ name: 'Patchable SPA', type: 'spa', redirect_uris: ['https://dash.example.com/cb'] });
      const m2m = await create({ name: 'Patchable m2m', type: 'm2m' });
      const url = `/v1/admin/applications/${app1.id}`;

      const res = await call('PATCH', url, admin, {
        name: 'Reports v2', redirect_uris: ['https://reports.example.com/v2/callback'], post_logout_redirect_uris: ['https://reports.example.com/bye'],
        allowed_origins: ['https://reports.example.com'], backchannel_logout_uri: 'https://reports.example.com/bc', token_endpoint_auth_method: 'client_secret_post',
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({
        name: 'Reports v2', type: 'web', redirect_uris: ['https://reports.example.com/v2/callback'], post_logout_redirect_uris: ['https://reports.example.com/bye'],
        allowed_origins: ['https://reports.example.com'], backchannel_logout_uri: 'https://reports.example.com/bc', token_endpoint_auth_method: 'client_secret_post',
      });
      expect(await registry().findClient(app1.id)).toMatchObject({ token_endpoint_auth_method: 'client_secret_post', redirect_uris: ['https://reports.example.com/v2/callback'] });
      const cleared = await call('PATCH', url, admin, { backchannel_logout_uri: null });
      expect(cleared.json()).toMatchObject({ backchannel_logout_uri: null });

      const refusals: [string, Record<string, unknown>, number, string, string?][] = [
        [url, { redirect_uris: [] }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [url, { redirect_uris: ['http://reports.example.com/cb'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris.0'],
        [url, { allowed_origins: ['https://reports.example.com/'] }, 422, 'invalid_client_metadata', 'body.allowed_origins.0'],
        [`/v1/admin/applications/${spa.id}`, { token_endpoint_auth_method: 'client_secret_basic' }, 422, 'invalid_client_metadata', 'body.token_endpoint_auth_method'],
        [`/v1/admin/applications/${m2m.id}`, { redirect_uris: ['https://m2m.example.com/cb'] }, 422, 'invalid_redirect_uri', 'body.redirect_uris'],
        [`/v1/admin/applications/${m2m.id}`, { allowed_origins: ['https://m2m.example.com'] }, 422, 'invalid_client_metadata', 'body.allowed_origins'],
        [url, { type: 'spa' }, 400, 'validation_failed'],
        [url, { org_id: 'org_01jd8x7k2m3n4p5q6r7s8t9v0w' }, 400, 'validation_failed'],
        [url, { client_secret: 'mine' }, 400, 'validation_failed'],
        [url, {}, 400, 'validation_failed'],
        [url, { name: '' }, 400, 'validation_failed', 'body.name'],
        ['/v1/admin/applications/app_01jd8x7k2m3n4p5q6r7s8t9v0w', { name: 'Ghost' }, 404, 'application_not_found'],
        ['/v1/admin/applications/reports', { name: 'Ghost' }, 400, 'validation_failed', 'params.app_id'],
      ];
      const stored = await row(app1.id);
      const updates = (await api.auditRows({ action: 'application.updated' })).length;
      for (const [target, body, status, code, path] of refusals) {
        const problem = expectProblem(await call('PATCH', target, admin, body), status, code);
        if (path) expect(problem.errors, JSON.stringify(body)).toContainEqual({ path, message: expect.any(String) });
      }
      expect(await row(app1.id)).toEqual(stored);
      expect((await api.auditRows({ action: 'application.updated' })).length).toBe(updates);

      expect(columns(await api.auditRows({ targetId: app1.id, action: 'application.updated' }), 'org_id', 'actor_type', 'actor_id', 'target_type', 'changes')).toEqual([
        {
          org_id: null, actor_type: 'user', actor_id: (await api.platformAdmin()).id, target_type: 'oidc_application',
          changes: {
            name: { before: 'Patchable', after: 'Reports v2' },
            redirect_uris: { before: WEB.redirect_uris, after: ['https://reports.example.com/v2/callback'] },
            post_logout_redirect_uris: { before: [], after: ['https://reports.example.com/bye'] },
            allowed_origins: { before: [], after: ['https://reports.example.com'] },
            backchannel_logout_uri: { before: null, after: 'https://reports.example.com/bc' },
          },
        },
        { org_id: null, actor_type: 'user', actor_id: (await api.platformAdmin()).id, target_type: 'oidc_application', changes: { backchannel_logout_uri: { before: 'https://reports.example.com/bc', after: null } } },
      ]);
      expect((await api.eventRows({ type: 'application.updated' })).filter((event) => event.payload.application_id === app1.id).map((event) => event.payload.changes)).toEqual([
        ['name', 'redirect_uris', 'post_logout_redirect_uris', 'allowed_origins', 'backchannel_logout_uri', 'token_endpoint_auth_method'],
        ['backchannel_logout_uri'],
      ]);
    });

    it('POST …/secret rotates: the new secret once; the previous one verifies until the overlap (a day by default) ends and not after; a public client has none (409)', async () => {
      const created = await create({ ...WEB, name: 'Rotating' });
      const first = created.client_secret!;
      const startedAt = Date.now();
      const res = await call('POST', `/v1/admin/applications/${created.id}/secret`, admin);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const rotated = res.json<ApplicationBody>();
      const second = rotated.client_secret!;
      expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(second).not.toBe(first);
      expect(rotated).toMatchObject({ id: created.id, has_secret: true, previous_secret_expires_at: expect.any(String) });

      const stored = (await row(created.id))!;
      const expiresAt = stored.previous_secret_expires_at!;
      expect(rotated.previous_secret_expires_at).toBe(expiresAt.toISOString());
      expect(expiresAt.getTime() - startedAt).toBeGreaterThanOrEqual(86_400_000 - 1_000);
      expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
      for (const sealed of [stored.secret!, stored.previous_secret!]) {
        expect(sealed).toMatch(/^v1\./);
        expect(sealed).not.toContain(first);
        expect(sealed).not.toContain(second);
      }

      // The previous secret: accepted now and until the overlap ends, refused from then on; the new one throughout.
      const check = (secret: string, at?: Date) => registry().verifyClientSecret(created.id, secret, at ? { at } : {});
      expect(await check(first)).toBe(true);
      expect(await check(second)).toBe(true);
      expect(await check(first, new Date(expiresAt.getTime() - 1_000))).toBe(true);
      expect(await check(first, expiresAt)).toBe(false);
      expect(await check(first, new Date(expiresAt.getTime() + 1))).toBe(false);
      expect(await check(second, new Date(expiresAt.getTime() + 1))).toBe(true);
      expect((await registry().findClient(created.id))!.client_secret).toBe(second);

      // Never again after the answer that made it.
      const got = await call('GET', `/v1/admin/applications/${created.id}`, admin);
      expect(got.json()).toMatchObject({ previous_secret_expires_at: expiresAt.toISOString(), has_secret: true });
      expect(got.body).not.toContain(second);
      expect(got.json()).not.toHaveProperty('client_secret');

      // A second rotation keeps only the secret it replaces.
      const third = (await call('POST', `/v1/admin/applications/${created.id}/secret`, admin)).json<ApplicationBody>().client_secret!;
      expect(await check(first)).toBe(false);
      expect(await check(second)).toBe(true);
      expect(await check(third)).toBe(true);

      // Audited and announced without the secret.
      expect(columns(await api.auditRows({ targetId: created.id, action: 'application.secret_rotated' }), 'org_id', 'target_type', 'changes')).toEqual([
        { org_id: null, target_type: 'oidc_application', changes: null },
        { org_id: null, target_type: 'oidc_application', changes: null },
      ]);
      const events = (await api.eventRows({ type: 'application.secret_rotated' })).filter((event) => event.payload.application_id === created.id);
      expect(events[0]).toEqual({ type: 'application.secret_rotated', org_id: null, payload: { application_id: created.id, client_id: created.id, org_id: null, previous_secret_expires_at: expiresAt.toISOString() } });
      for (const secret of [first, second, third]) await expectNowhere(secret);

      // Public clients have no secret to rotate; an unknown application is 404.
      for (const type of ['spa', 'native', 'device']) {
        const publicApp = await create({ name: `Public ${type}`, type, ...(type === 'device' ? {} : { redirect_uris: ['https://public.example.com/cb'] }) });
        expectProblem(await call('POST', `/v1/admin/applications/${publicApp.id}/secret`, admin), 409, 'public_client');
        expect((await row(publicApp.id))!.secret).toBeNull();
      }
      expectProblem(await call('POST', '/v1/admin/applications/app_01jd8x7k2m3n4p5q6r7s8t9v0w/secret', admin), 404, 'application_not_found');
    });

    it('the overlap is APPLICATION_SECRET_OVERLAP_SECONDS: with 0 the previous secret stops at the rotation', async () => {
      const { db, box, audit, events } = app.context;
      const service = createApplicationsService({ db, box, audit, events, orgExists: async () => true, settings: { secretOverlapSeconds: 0 } });
      const actor = { id: (await api.platformAdmin()).id };
      const { application, secret } = await service.create({ name: 'No overlap', type: 'm2m' }, actor, NO_CLIENT);
      const { secret: next } = await service.rotateSecret(application.id, actor, NO_CLIENT);
      expect(await registry().verifyClientSecret(application.id, secret!)).toBe(false);
      expect(await registry().verifyClientSecret(application.id, next)).toBe(true);
    });

    it('an organization deleted between the check and the insert is the same 404 org_not_found (its foreign key refuses the row), with nothing written', async () => {
      const { db, box, audit, events } = app.context;
      const service = createApplicationsService({ db, box, audit, events, orgExists: async () => true, settings: { secretOverlapSeconds: 60 } });
      const before = { apps: await count('oidc_applications'), audit: await count('audit_events') };
      await expect(service.create({ name: 'Orphan', type: 'm2m', orgId: 'org_01jd8x7k2m3n4p5q6r7s8t9v0w' }, { id: (await api.platformAdmin()).id }, NO_CLIENT)).rejects.toMatchObject({ code: 'org_not_found', status: 404 });
      expect({ apps: await count('oidc_applications'), audit: await count('audit_events') }).toEqual(before);
    });

    it("an organization's application: its audit entries and events carry the org_id (its webhook endpoints hear them); a platform-wide one's carry none; DELETE answers 204 and then 404", async () => {
      const owner = await api.seeded('owner');
      const org = await api.createOrg(owner);
      const owned = await create({ ...WEB, name: 'Owned', org_id: org.id });
      expect(owned.org_id).toBe(org.id);
      const platform = await create({ name: 'Platform CLI', type: 'device' });

      expect(columns(await api.auditRows({ targetId: owned.id }), 'org_id', 'action', 'actor_type', 'target_type', 'request_id')).toEqual([
        { org_id: org.id, action: 'application.created', actor_type: 'user', target_type: 'oidc_application', request_id: expect.any(String) },
      ]);
      expect(await api.eventRows({ orgId: org.id, type: 'application.created' })).toEqual([
        { type: 'application.created', org_id: org.id, payload: { application_id: owned.id, client_id: owned.id, org_id: org.id, name: 'Owned', type: 'web', first_party: false } },
      ]);
      expect((await api.eventRows({ orgId: null, type: 'application.created' })).find((event) => event.payload.application_id === platform.id)).toEqual({
        type: 'application.created', org_id: null, payload: { application_id: platform.id, client_id: platform.id, org_id: null, name: 'Platform CLI', type: 'device', first_party: false },
      });
      expect(await api.auditRows({ targetId: platform.id })).toEqual([expect.objectContaining({ org_id: null, action: 'application.created' })]);
      // The list can keep one organization's applications.
      expect((await api.allPages<ApplicationBody>(`/v1/admin/applications?org_id=${org.id}`, admin)).map((item) => item.id)).toEqual([owned.id]);

      for (const target of [owned, platform]) {
        const res = await call('DELETE', `/v1/admin/applications/${target.id}`, admin);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expectProblem(await call('GET', `/v1/admin/applications/${target.id}`, admin), 404, 'application_not_found');
        expectProblem(await call('PATCH', `/v1/admin/applications/${target.id}`, admin, { name: 'Back' }), 404, 'application_not_found');
        expectProblem(await call('DELETE', `/v1/admin/applications/${target.id}`, admin), 404, 'application_not_found');
        expectProblem(await call('GET', `/v1/admin/applications/${target.id}/grants`, admin), 404, 'application_not_found');
        expect(await registry().findClient(target.id)).toBeNull();
        expect(await row(target.id)).toBeUndefined();
      }
      expect(owned.client_secret && (await registry().verifyClientSecret(owned.id, owned.client_secret))).toBe(false);
      expect(await api.eventRows({ orgId: org.id, type: 'application.deleted' })).toEqual([
        { type: 'application.deleted', org_id: org.id, payload: { application_id: owned.id, client_id: owned.id, org_id: org.id, name: 'Owned' } },
      ]);
      expect(columns(await api.auditRows({ targetId: platform.id }), 'org_id', 'action')).toEqual([
        { org_id: null, action: 'application.created' },
        { org_id: null, action: 'application.deleted' },
      ]);
      await expectNowhere(owned.client_secret!);
    });

    it('lists newest first in pages of limit with next_cursor', async () => {
      const made = [];
      for (let i = 0; i < 3; i++) made.push((await create({ name: `Paged ${i}`, type: 'm2m' })).id);
      const first = await call('GET', '/v1/admin/applications?limit=2', admin);
      expect(first.statusCode, first.body).toBe(200);
      const page = first.json<{ data: ApplicationBody[]; next_cursor: string | null }>();
      expect(page.data.map((item) => item.id)).toEqual([made[2], made[1]]);
      expect(page.next_cursor).toBe(made[1]);
      const next = (await call('GET', `/v1/admin/applications?limit=2&cursor=${page.next_cursor}`, admin)).json<{ data: ApplicationBody[] }>();
      expect(next.data[0]!.id).toBe(made[0]);
      const all = await api.allPages<ApplicationBody>('/v1/admin/applications', admin);
      expect(all.map((item) => item.id)).toEqual([...all.map((item) => item.id)].sort().reverse());
      expect(JSON.stringify(all)).not.toContain('"client_secret"');
      expectProblem(await call('GET', '/v1/admin/applications?cursor=nope', admin), 400, 'validation_failed');
    });
  });
});
