import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { createTestApp, type TestApp } from '../helpers/app.js';

const PROBLEM = 'application/problem+json';

describe('HTTP edge: problems, request ids, headers, logs', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({
      env: { CORS_ORIGINS: 'https://app.example.com', BODY_LIMIT_BYTES: '1024', NODE_ENV: 'production' },
      build: {
        workers: false,
        extraRoutes(server) {
          server.post(
            '/test/echo',
            {
              schema: {
                body: Type.Object(
                  { email: Type.String({ format: 'email' }), password: Type.String({ minLength: 8 }), age: Type.Optional(Type.Integer({ minimum: 0 })) },
                  { additionalProperties: false },
                ),
              },
            },
            async (request) => ({ ok: true, email: request.body.email }),
          );
          server.get('/test/boom', async () => {
            throw new Error('database password is hunter2 at db.internal:5432');
          });
        },
      },
    });
  });
  afterAll(async () => app?.destroy());

  it('answers malformed JSON with a 400 problem, not a 500', async () => {
    const res = await app.server.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"email": "a@b.co",' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.json()).toMatchObject({ status: 400, code: 'malformed_json', type: 'urn:tessera:problem:malformed_json', title: expect.any(String), detail: expect.any(String) });
  });

  it('answers an empty JSON body with a 400 problem', async () => {
    const res = await app.server.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('malformed_json');
  });

  it('answers a wrong content type with 415', async () => {
    const res = await app.server.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'text/xml' }, payload: '<a/>' });
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it('answers an oversize body with 413', async () => {
    const res = await app.server.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(2000) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('lists every schema violation with its path', async () => {
    const res = await app.server.inject({ method: 'POST', url: '/test/echo', payload: { email: 'not-an-email', age: -1, extra: 1 } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('validation_failed');
    const paths = body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.email', 'body.password', 'body.age', 'body.extra']));
    for (const error of body.errors) expect(error.message).toEqual(expect.any(String));
  });

  it('accepts a valid body', async () => {
    const res = await app.server.inject({ method: 'POST', url: '/test/echo', payload: { email: 'a@b.co', password: 'long enough' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, email: 'a@b.co' });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/v1/nothing-here?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.json()).toMatchObject({ code: 'not_found', status: 404, instance: '/v1/nothing-here' });
  });

  it('answers a path that is not percent-encoded UTF-8 with a 400 problem, not the router\'s own JSON', async () => {
    for (const url of ['/v1/orgs/%ED%A0%80/members', '/test/%E0', '/nowhere/%C0%80']) {
      const res = await app.server.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toContain(PROBLEM);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [{ path: 'params', message: expect.any(String) }], request_id: res.headers['x-request-id'] });
    }
  });

  it('answers a wrong method on a known route with 405 and Allow', async () => {
    const res = await app.server.inject({ method: 'DELETE', url: '/health/live' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(res.json().code).toBe('method_not_allowed');
  });

  it('hides internals of a 500 outside development and logs the error with the request id', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/test/boom', headers: { 'x-request-id': 'req-boom-1' } });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body.code).toBe('internal_error');
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain('stack');
    expect(body.request_id).toBe(res.headers['x-request-id']);
    const logged = app.logs.lines.find((line) => line.reqId === body.request_id && line.level === 50);
    expect(logged).toMatchObject({ client_request_id: 'req-boom-1' });
  });

  it('uses its own request id, keeping a sane client X-Request-Id beside it and dropping an insane one', async () => {
    const kept = await app.server.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123.def' } });
    expect(kept.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(kept.headers['x-client-request-id']).toBe('abc-123.def');
    const logged = app.logs.lines.filter((line) => line.reqId === kept.headers['x-request-id']);
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) expect(line.client_request_id).toBe('abc-123.def');
    expect(app.logs.lines.some((line) => line.reqId === 'abc-123.def')).toBe(false);
    const replaced = await app.server.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id\u0000<script>' } });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(replaced.headers['x-client-request-id']).toBeUndefined();
    const generated = await app.server.inject({ method: 'GET', url: '/health/live' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated.headers['x-request-id']).not.toBe(kept.headers['x-request-id']);
    expect(generated.headers['x-client-request-id']).toBeUndefined();
  });

  it('sets security headers', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/health/live' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['x-frame-options']).toBeDefined();
  });

  it('allows CORS for configured origins only', async () => {
    const allowed = await app.server.inject({ method: 'OPTIONS', url: '/health/live', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const refused = await app.server.inject({ method: 'GET', url: '/health/live', headers: { origin: 'https://evil.example.net' } });
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('never logs passwords, tokens or authorization headers', async () => {
    await app.server.inject({
      method: 'POST',
      url: '/test/echo?token=query-secret-123',
      headers: { authorization: 'Bearer header-secret-456', cookie: 'session=cookie-secret-789' },
      payload: { email: 'a@b.co', password: 'body-secret-password' },
    });
    await app.server.inject({ method: 'GET', url: '/nowhere?code=123456&refresh_token=rt-secret-000' });
    const text = app.logs.text();
    for (const secret of ['query-secret-123', 'header-secret-456', 'cookie-secret-789', 'body-secret-password', 'rt-secret-000', 'code=123456']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('token=%5Bredacted%5D');
  });

  it('publishes an OpenAPI 3.1 description generated from the route schemas, and the docs page', async () => {
    const spec = (await app.server.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.paths['/health/ready'].get.responses['200']).toBeDefined();
    expect(spec.paths['/v1/admin/outbox'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['limit', 'cursor']));
    const docs = await app.server.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });
});

describe('rate limiting', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({
      env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMITS: JSON.stringify({ default: { max: 3, window_seconds: 60 } }) },
      build: { workers: false },
    });
  });
  afterAll(async () => app?.destroy());

  it('counts per IP, sets RateLimit headers and refuses with a 429 problem and Retry-After', async () => {
    const from = (ip: string) => app.server.inject({ method: 'GET', url: '/v1/unknown', remoteAddress: ip });
    const first = await from('198.51.100.7');
    expect(first.headers['ratelimit-limit']).toBe('3');
    expect(first.headers['ratelimit-remaining']).toBe('2');
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0);
    await from('198.51.100.7');
    await from('198.51.100.7');
    const refused = await from('198.51.100.7');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toContain(PROBLEM);
    expect(refused.json().code).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another address has its own budget.
    expect((await from('198.51.100.8')).statusCode).toBe(404);
  });

  it('does not limit health checks', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await app.server.inject({ method: 'GET', url: '/health/live', remoteAddress: '198.51.100.9' })).statusCode).toBe(200);
    }
  });

  it('documents a 429 with retry_after and Retry-After on every limited route, those that did not declare one too, and none on unlimited ones; 423 likewise', async () => {
    type Answer = { description: string; headers?: Record<string, { schema: { type: string } }>; content?: Record<string, { schema: { properties?: Record<string, unknown> } }> };
    const spec = (await app.server.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, Answer> }>> }>();
    const timed = (answer: Answer | undefined) => ({
      header: answer?.headers?.['retry-after']?.schema.type,
      body: Object.keys(answer?.content?.['application/json']?.schema.properties ?? {}).includes('retry_after'),
    });
    // Declared by the route (login: 423 and 429) and added by the limiter (GET /v1/me declares no 429).
    expect(timed(spec.paths['/v1/auth/login']!.post!.responses['429'])).toEqual({ header: 'integer', body: true });
    expect(timed(spec.paths['/v1/auth/login']!.post!.responses['423'])).toEqual({ header: 'integer', body: true });
    expect(timed(spec.paths['/v1/me']!.get!.responses['429'])).toEqual({ header: 'integer', body: true });
    expect(timed(spec.paths['/v1/me/invitations']!.get!.responses['429'])).toEqual({ header: 'integer', body: true });
    // Every operation of a limited route documents its 429; the unlimited ones (health, JWKS, the
    // pages' experience: public, the same for everyone, cacheable) none.
    const unlimited = ['/health/live', '/health/ready', '/.well-known/jwks.json', '/v1/experience'];
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (unlimited.includes(path)) expect(operation.responses['429'], `${method} ${path}`).toBeUndefined();
        else expect(timed(operation.responses['429']), `${method} ${path}`).toEqual({ header: 'integer', body: true });
      }
    }
    // Other refusals are plain problems.
    expect(timed(spec.paths['/v1/auth/login']!.post!.responses['401'])).toEqual({ header: undefined, body: false });
  });
});
