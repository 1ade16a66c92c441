import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { bearer, expectProblem } from '../helpers/http.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { uniqueEmail } from '../helpers/outbox.js';

/*
 * JSON only (issue #12 §5): a body of any other type answers 415 problem+json before a schema sees
 * it. text/plain matters most: a browser sends it cross-site without a preflight (a form with
 * enctype="text/plain"), so accepting it would let another site post to the API. The routes that
 * document another type are listed below, and only they accept it. The refusal comes before any
 * storage, so one engine is enough here.
 */

const JSON_BODY = '{"email":"someone@example.com","password":"correct horse battery staple","name":"Acme"}';

/** Not JSON, each with a body a client could send. */
const OTHER_TYPES: { name: string; headers: Record<string, string>; payload: string }[] = [
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, payload: JSON_BODY },
  { name: 'text/plain; charset=UTF-8', headers: { 'content-type': 'text/plain; charset=UTF-8' }, payload: JSON_BODY },
  { name: 'application/x-www-form-urlencoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=someone%40example.com&password=x&name=Acme' },
  {
    name: 'multipart/form-data',
    headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    payload: '--XyZ\r\nContent-Disposition: form-data; name="email"\r\n\r\nsomeone@example.com\r\n--XyZ--\r\n',
  },
  { name: 'no content type', headers: {}, payload: JSON_BODY },
  { name: 'text/html', headers: { 'content-type': 'text/html' }, payload: '<p>hi</p>' },
  { name: 'application/json-patch+json', headers: { 'content-type': 'application/json-patch+json' }, payload: '[]' },
];

/**
 * The routes that take another type than JSON, and which: the one-click unsubscribe (RFC 8058: mail
 * providers post a form or nothing; the token in the URL is all that counts and the body is
 * ignored) and the Twilio delivery callback (application/x-www-form-urlencoded, signed; in a scope of
 * its own, so the Resend callback beside it takes JSON only).
 */
const OTHER_TYPES_TAKEN: Record<string, (type: string) => boolean> = {
  'POST /v1/unsubscribe': () => true,
  'POST /v1/hooks/twilio': (type) => type === 'application/x-www-form-urlencoded',
};

describe('request bodies are JSON only', () => {
  let app: TestApp;
  let token: string;
  let orgId: string;
  const api = testClient(() => app);
  beforeAll(async () => {
    app = await createTestApp({ env: { ALLOW_UNVERIFIED_LOGIN: 'true' }, build: { workers: false } });
    const owner = await api.signedIn('media');
    token = owner.token;
    orgId = (await api.createOrg(owner, { name: 'Media Types' })).id;
  });
  afterAll(async () => app?.destroy());

  const routes: { method: 'POST' | 'PATCH'; url: () => string; auth: boolean }[] = [
    { method: 'POST', url: () => '/v1/auth/login', auth: false },
    { method: 'POST', url: () => '/v1/auth/signup', auth: false },
    { method: 'POST', url: () => '/v1/orgs', auth: true },
    { method: 'PATCH', url: () => `/v1/orgs/${orgId}`, auth: true },
    { method: 'POST', url: () => `/v1/orgs/${orgId}/invitations`, auth: true },
    { method: 'PATCH', url: () => '/v1/me', auth: true },
  ];

  for (const type of OTHER_TYPES) {
    it(`answers 415 unsupported_media_type, not a 400 from the schema, to a ${type.name} body on login, sign-up and organization routes`, async () => {
      for (const route of routes) {
        const res = await app.server.inject({
          method: route.method,
          url: route.url(),
          headers: { ...type.headers, ...(route.auth ? bearer(token) : {}) },
          payload: type.payload,
        });
        const body = expectProblem(res, 415, 'unsupported_media_type');
        expect(body.detail, `${route.method} ${route.url()}`).toContain('application/json');
      }
    });
  }

  it('changes nothing when it refuses a text/plain body (no account, no organization)', async () => {
    const email = uniqueEmail('media-plain');
    const signup = await app.server.inject({ method: 'POST', url: '/v1/auth/signup', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify({ email, password: PASSWORD }) });
    expectProblem(signup, 415, 'unsupported_media_type');
    expect(await app.context.users.byEmail(email)).toBeNull();
    const before = await api.call('GET', '/v1/orgs', token);
    const org = await app.server.inject({ method: 'POST', url: '/v1/orgs', headers: { ...bearer(token), 'content-type': 'text/plain' }, payload: '{"name":"Cross Site"}' });
    expectProblem(org, 415, 'unsupported_media_type');
    const after = await api.call('GET', '/v1/orgs', token);
    expect(after.json()).toEqual(before.json());
  });

  it('still takes JSON, with or without a charset', async () => {
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      const res = await app.server.inject({ method: 'POST', url: '/v1/orgs', headers: { ...bearer(token), 'content-type': contentType }, payload: '{"name":"Json Co"}' });
      expect(res.statusCode, `${contentType}: ${res.body}`).toBe(201);
    }
    // A request without a body needs no content type.
    expect((await api.call('POST', '/v1/auth/logout', token)).statusCode).not.toBe(415);
  });

  it('answers 415 to a text/plain, form or multipart body on every route that takes a body, except the ones documented to take another type', async () => {
    const spec = (await app.server.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const checked: string[] = [];
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const method of Object.keys(operations).map((m) => m.toUpperCase())) {
        if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') continue;
        const url = path.replace(/\{[^}]+\}/g, 'x');
        const route = `${method} ${path}`;
        for (const type of OTHER_TYPES) {
          const res = await app.server.inject({ method: method as 'POST', url, headers: { ...type.headers, ...bearer(token) }, payload: type.payload });
          const taken = OTHER_TYPES_TAKEN[route]?.(type.headers['content-type'] ?? '') ?? false;
          if (taken) expect(res.statusCode, `${route} with ${type.name}`).not.toBe(415);
          else expect(res.statusCode, `${route} with ${type.name}: ${res.body}`).toBe(415);
        }
        checked.push(route);
      }
    }
    // The walk saw the routes it must have seen.
    expect(checked).toEqual(expect.arrayContaining(['POST /v1/auth/login', 'POST /v1/orgs/{org_id}/roles', 'PUT /v1/admin/communications/templates/{id}', 'POST /v1/hooks/twilio', 'POST /v1/unsubscribe']));
    expect(checked.length).toBeGreaterThan(50);
  });

  it('documents the one body type each route takes: application/json everywhere, a form for the Twilio callback (regression: its body was documented as JSON)', async () => {
    const spec = (await app.server.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> }>();
    const documented = Object.entries(spec.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody)
        .map(([method, operation]) => [`${method.toUpperCase()} ${path}`, Object.keys(operation.requestBody!.content).sort().join(',')] as const),
    );
    const notJson = documented.filter(([, types]) => types !== 'application/json');
    expect(notJson).toEqual([['POST /v1/hooks/twilio', 'application/x-www-form-urlencoded']]);
  });
});
