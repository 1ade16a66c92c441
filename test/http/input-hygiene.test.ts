import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { login, uniqueEmail } from '../helpers/outbox.js';

/*
 * Strings and dates no route can store (issue #12 §5): U+0000 and unpaired surrogates anywhere in
 * a JSON body, a query parameter (decoded, or percent-encoded bytes that are not UTF-8) or a path
 * parameter, and timestamps outside years 0001..9999, are refused at validation for every route
 * (one hook, one format) with 400 validation_failed and the path of the value; nothing answers 500.
 * Every route of the OpenAPI description is exercised, on each engine (the failures these used to
 * cause came from the database: PGlite and PostgreSQL each refused them their own way).
 */

const ADMIN = { email: 'hygiene-admin@example.com', password: 'admin password for hygiene' };

interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  pathParams: string[];
  queryParams: { name: string; schema: Schema }[];
  hasBody: boolean;
  body?: Schema;
}

type OpenApi = {
  paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema?: Schema }[]; requestBody?: { content?: Record<string, { schema?: Schema }> } }>>;
};

/**
 * Routes whose body is a form, not JSON (the OpenAPI document says JSON for them; see
 * test/http/media-types.test.ts): a JSON body answers 415 there before any validation, so the JSON
 * properties below leave them out, and a test of their own sends them a form.
 */
const FORM_BODIES = new Set(['POST /v1/hooks/twilio']);
const takesJson = (op: Operation): boolean => !FORM_BODIES.has(`${op.method} ${op.path}`);

function operationsOf(spec: OpenApi): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const upper = method.toUpperCase() as Operation['method'];
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(upper)) continue;
      const parameters = operation.parameters ?? [];
      operations.push({
        method: upper,
        path,
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        hasBody: operation.requestBody !== undefined,
        ...(operation.requestBody?.content?.['application/json']?.schema ? { body: operation.requestBody.content['application/json'].schema } : {}),
      });
    }
  }
  return operations;
}

/** The characters no stored string may hold, as a JS string and as percent-encoded query bytes. */
const DEFECTS = [
  { char: '\u0000', encoded: '%00', message: /NUL/ },
  { char: '\ud800', encoded: '%ED%A0%80', message: /unpaired surrogate|percent-encoded UTF-8/ },
  { char: '\udbff', encoded: '%ED%AF%BF', message: /unpaired surrogate|percent-encoded UTF-8/ },
  { char: '\udc00', encoded: '%ED%B0%80', message: /unpaired surrogate|percent-encoded UTF-8/ },
  { char: '\udfff', encoded: '%ED%BF%BF', message: /unpaired surrogate|percent-encoded UTF-8/ },
] as const;

/** Any text without U+0000 (fast-check's `binary` unit never makes a lone surrogate). */
const clean = fc.string({ unit: 'binary', maxLength: 12 }).map((text) => text.replace(/\u0000/g, ''));
const defect = fc.constantFrom(...DEFECTS);
const defective = fc.tuple(clean, defect, clean).map(([before, d, after]) => ({ value: before + d.char + after, defect: d }));
/** Short enough that, percent-encoded, a path parameter stays under the router's 100 characters. */
const shortClean = fc.string({ unit: 'binary', maxLength: 5 }).map((text) => text.replace(/\u0000/g, ''));
const key = fc.stringMatching(/^[a-z_]{1,8}$/);
// Without "__proto__" and "constructor" keys (fast-check makes them on purpose): a body naming them is
// refused whole as malformed JSON (prototype poisoning; its own test below), not by the schema.
const cleanJson = fc
  .jsonValue({ maxDepth: 2 })
  .map((value) => JSON.stringify(value).replace(/\\u0000/g, ''))
  .filter((text) => !/"(__proto__|constructor)":/.test(text))
  .map((text) => JSON.parse(text) as unknown);

/** Where in the body the defective string goes: a chain of property names and array indexes. */
const location = fc.array(fc.oneof(key, fc.nat(2)), { maxLength: 3 });

function plant(base: Record<string, unknown>, first: string, rest: (string | number)[], value: unknown): Record<string, unknown> {
  const build = (segments: (string | number)[]): unknown => {
    if (segments.length === 0) return value;
    const [head, ...tail] = segments;
    if (typeof head === 'number') return Array.from({ length: head + 1 }, (_, i) => (i === head ? build(tail) : 'ok'));
    return { [head!]: build(tail) };
  };
  return { ...base, [first]: build(rest) };
}

const encode = (text: string): string => encodeURIComponent(text);

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
}

/** A timestamp as a client might send one: in range, out of range, with odd offsets or a leap second. */
const dateLike = fc.oneof(
  fc.date({ min: new Date(-8_640_000_000_000_000), max: new Date(8_640_000_000_000_000), noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(fc.integer({ min: 0, max: 10_999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.constantFrom('Z', '+14:00', '-12:00', '+00:01', '-00:01', ''))
    .map(([y, mo, d, h, sec, tz]) => `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:${String(sec).padStart(2, '0')}${tz}`),
);
const dayLike = fc
  .tuple(fc.integer({ min: 0, max: 10_999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
  .map(([y, mo, d]) => `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`);

/** A string for `schema`: mostly one that passes it, often with a NUL or a lone surrogate inside. */
function stringFor(schema: Schema): fc.Arbitrary<string> {
  const fit = (text: string): string => {
    let fitted = text;
    while ([...fitted].length < (schema.minLength ?? 0)) fitted += 'x';
    return fitted.slice(0, schema.maxLength ?? 200);
  };
  const withDefect = (valid: fc.Arbitrary<string>) => fc.tuple(valid, defect, fc.nat()).map(([text, d, at]) => { const i = at % (text.length + 1); return text.slice(0, i) + d.char + text.slice(i); });
  let valid: fc.Arbitrary<string>;
  switch (schema.format) {
    case 'date-time': return dateLike;
    case 'date': return dayLike;
    case 'email': valid = fc.stringMatching(/^[a-z]{1,8}@example\.com$/); break;
    case 'uri': case 'url': valid = fc.stringMatching(/^[a-z]{1,8}$/).map((path) => `https://example.com/${path}`); break;
    default: valid = schema.pattern ? fc.stringMatching(new RegExp(schema.pattern)) : clean;
  }
  return fc.oneof(valid.map(fit), withDefect(valid.map(fit)), clean.map(fit));
}

/** Values shaped by a JSON schema of the OpenAPI description (the keywords the routes use). */
function arbitraryFor(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((inner) => arbitraryFor(inner, depth)));
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const type = types.find((t) => t !== 'null');
  switch (type) {
    case 'string': return stringFor(schema);
    case 'integer': return fc.integer({ min: schema.minimum ?? -5, max: Math.min(schema.maximum ?? 1_000, 1_000_000) });
    case 'number': return fc.double({ min: schema.minimum ?? -5, max: schema.maximum ?? 1_000, noNaN: true });
    case 'boolean': return fc.boolean();
    case 'array': {
      if (depth > 3) return fc.constant([]);
      const options = { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)) };
      const item = arbitraryFor(schema.items ?? {}, depth + 1);
      return schema.uniqueItems ? fc.uniqueArray(item, { ...options, selector: (value) => JSON.stringify(value) }) : fc.array(item, options);
    }
    case 'object': {
      if (depth > 3 || !schema.properties) return fc.dictionary(key, fc.oneof(clean, defective.map((d) => d.value)), { maxKeys: 2 });
      const properties = schema.properties;
      const required = schema.minProperties ? Object.keys(properties) : (schema.required ?? []).filter((name) => name in properties);
      return fc.record(Object.fromEntries(Object.entries(properties).map(([name, inner]) => [name, arbitraryFor(inner, depth + 1)])), { requiredKeys: required });
    }
    default: return fc.oneof(clean, defective.map((d) => d.value), fc.integer());
  }
}

/** A value percent-encoded for a query; a lone surrogate becomes the (invalid) UTF-8 bytes of its code. */
function encodeQueryValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  return text.replace(/[\s\S]/gu, (c) => (c.length === 1 && c >= '\ud800' && c <= '\udfff' ? '%ED%A0%80' : encodeURIComponent(c)));
}

/** A query string for the declared query parameters of `op` (each present or not). */
function queryFor(op: Operation): fc.Arbitrary<string> {
  if (op.queryParams.length === 0) return fc.constant('');
  return fc
    .tuple(...op.queryParams.map((p) => fc.option(arbitraryFor(p.schema), { nil: undefined, freq: 2 })))
    .map((values) => values.flatMap((value, i) => (value === undefined ? [] : [`${encodeURIComponent(op.queryParams[i]!.name)}=${encodeQueryValue(value)}`])).join('&'));
}


describe.each(engineCases())('input hygiene on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let token: string;
    let orgId: string;
    let operations: Operation[];
    const api = testClient(() => app);

    /** A URL for `op`: its path parameters filled (`overrides` first, then real ids where they exist). */
    function urlOf(op: Operation, overrides: Record<string, string> = {}, query = ''): string {
      const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => overrides[name] ?? (name === 'org_id' && op.method !== 'DELETE' ? orgId : 'x'));
      return query ? `${path}?${query}` : path;
    }

    beforeAll(async () => {
      app = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true', BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password });
      // The platform admin owns the organization: one token reaches every route.
      token = (await login(app, ADMIN.email, ADMIN.password)).access_token;
      const org = await call('POST', '/v1/orgs', { name: 'Hygiene' });
      expect(org.statusCode, org.body).toBe(201);
      orgId = org.json<{ id: string }>().id;
      const member = await api.call('POST', '/v1/auth/signup', null, { email: uniqueEmail('hygiene-member'), password: PASSWORD, name: 'Member' });
      expect(member.statusCode).toBe(201);
      operations = operationsOf((await call('GET', '/openapi.json')).json<OpenApi>());
      expect(operations.length).toBeGreaterThan(80);
    });
    afterAll(async () => app?.destroy());

    /** A call as the platform admin who owns the organization. */
    const call = (method: Operation['method'], url: string, payload?: unknown) => api.call(method, url, token, payload);

    it('refuses NUL and lone surrogates in the JSON strings of login, sign-up, profile, organizations, roles, invitations and API keys, naming the field', async () => {
      const cases: { method: Operation['method']; url: () => string; body: Record<string, unknown>; field: string }[] = [
        { method: 'POST', url: () => '/v1/auth/login', body: { email: 'a\u0000@example.com', password: PASSWORD }, field: 'email' },
        { method: 'POST', url: () => '/v1/auth/login', body: { email: ADMIN.email, password: 'pass\u0000word' }, field: 'password' },
        { method: 'POST', url: () => '/v1/auth/signup', body: { email: uniqueEmail('nul'), password: PASSWORD, name: 'a\u0000b' }, field: 'name' },
        { method: 'POST', url: () => '/v1/auth/signup', body: { email: uniqueEmail('sur'), password: PASSWORD, name: 'a\ud800b' }, field: 'name' },
        { method: 'PATCH', url: () => '/v1/me', body: { name: 'x\udfff' }, field: 'name' },
        { method: 'POST', url: () => '/v1/orgs', body: { name: 'Acme\u0000' }, field: 'name' },
        { method: 'PATCH', url: () => `/v1/orgs/${orgId}`, body: { name: '\ud800' }, field: 'name' },
        { method: 'POST', url: () => `/v1/orgs/${orgId}/roles`, body: { name: 'role\u0000', permissions: ['org:read'] }, field: 'name' },
        { method: 'POST', url: () => `/v1/orgs/${orgId}/invitations`, body: { email: 'in\u0000vitee@example.com', role: 'member' }, field: 'email' },
        { method: 'POST', url: () => `/v1/orgs/${orgId}/api-keys`, body: { name: 'key\ud800', scopes: ['org:read'] }, field: 'name' },
      ];
      for (const c of cases) {
        const res = await call(c.method, c.url(), c.body);
        const body = expectProblem(res, 400, 'validation_failed');
        expect(body.errors, `${c.method} ${c.url()}`).toEqual([{ path: `body.${c.field}`, message: expect.any(String) }]);
      }
      // Nothing was written: no user with a NUL or a replacement character in the name.
      const rows = await app.context.db.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE name LIKE '%' || chr(65533) || '%'");
      expect(rows.rows[0]!.n).toBe(0);
    });

    it('refuses a body that names __proto__ or constructor.prototype at any depth, as malformed JSON, and writes nothing', async () => {
      const email = uniqueEmail('proto');
      for (const text of [
        `{"email":"${email}","password":"${PASSWORD}","__proto__":{"admin":true}}`,
        `{"email":"${email}","password":"${PASSWORD}","name":"x","nested":{"constructor":{"prototype":{"admin":true}}}}`,
      ]) {
        const res = await app.server.inject({ method: 'POST', url: '/v1/auth/signup', headers: { 'content-type': 'application/json' }, payload: text });
        expectProblem(res, 400, 'malformed_json');
      }
      expect((await app.context.db.sql.query('SELECT 1 FROM users WHERE email = $1', [email])).rows).toHaveLength(0);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });

    it('refuses a defective string anywhere in any JSON body (values and property names, at any depth) with its path, on every route', async () => {
      const withBody = operations.filter((op) => op.hasBody && takesJson(op) && op.path !== '/v1/unsubscribe');
      expect(withBody.length).toBeGreaterThan(40);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...withBody), fc.dictionary(key, cleanJson, { maxKeys: 3 }), key, location, defective, fc.boolean(), async (op, base, first, rest, bad, inKey) => {
          const body = inKey ? plant(base, first, rest, { [`k${bad.value}`]: 1 }) : plant(base, first, rest, bad.value);
          const res = await call(op.method, urlOf(op), body);
          const problem = expectProblem(res, 400, 'validation_failed');
          const path = ['body', first, ...rest.map(String)].join('.');
          const errors = problem.errors as { path: string; message: string }[];
          if (inKey) {
            expect(errors.some((e) => e.path.startsWith(`${path}.k`) && /^names a property that /.test(e.message) && bad.defect.message.test(e.message)), JSON.stringify(errors)).toBe(true);
          } else {
            expect(errors).toContainEqual({ path, message: expect.stringMatching(bad.defect.message) });
          }
        }),
        { numRuns: 120 },
      );
    });

    it('refuses a NUL or a non-UTF-8 percent-encoding in any query parameter (declared or not) with its path, on every route', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...operations), fc.option(fc.constantFrom('q', 'from', 'cursor', 'zz'), { nil: undefined }), clean, defect, async (op, extra, prefix, bad) => {
          const names = op.queryParams.map((p) => p.name);
          const name = extra ?? names[0] ?? 'q';
          const res = await call(op.method, urlOf(op, {}, `${encode(name)}=${encode(prefix)}${bad.encoded}`), op.hasBody && takesJson(op) ? {} : undefined);
          const problem = expectProblem(res, 400, 'validation_failed');
          expect(problem.errors).toContainEqual({ path: `querystring.${name}`, message: expect.stringMatching(bad.message) });
        }),
        { numRuns: 80 },
      );
      // The examples of the issue.
      expectProblem(await call('GET', `/v1/orgs/${orgId}/members?q=a%00b`), 400, 'validation_failed');
      expectProblem(await call('GET', `/v1/orgs/${orgId}/members?q=a%ED%A0%80b`), 400, 'validation_failed');
    });

    it('refuses a NUL in a field of a form body (the routes that take a form), naming the field', async () => {
      for (const route of FORM_BODIES) {
        const [method, url] = route.split(' ') as [Operation['method'], string];
        const res = await api.call(method, url, null, 'MessageSid=SM%002&MessageStatus=delivered', { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        expect(expectProblem(res, 400, 'validation_failed').errors, route).toEqual([{ path: 'body.MessageSid', message: expect.stringMatching(/NUL/) }]);
      }
    });

    it('refuses a NUL or a non-UTF-8 percent-encoding in any path parameter, on every route', async () => {
      const withParams = operations.filter((op) => op.pathParams.length > 0);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...withParams), shortClean, defect, async (op, prefix, bad) => {
          const name = op.pathParams[op.pathParams.length - 1]!;
          const res = await call(op.method, urlOf(op, { [name]: `${encode(prefix)}${bad.encoded}` }), op.hasBody && takesJson(op) ? {} : undefined);
          const problem = expectProblem(res, 400, 'validation_failed');
          // A decoded NUL names its parameter; bytes that are not UTF-8 stop the router before it knows parameters.
          expect(problem.errors).toContainEqual({ path: bad.char === '\u0000' ? `params.${name}` : 'params', message: expect.any(String) });
        }),
        { numRuns: 60 },
      );
    });

    it('walks a deeply nested body in linear time and names a deep defect by a shortened path', async () => {
      const depth = 20_000;
      const open = `{"key_${'k'.repeat(40)}":`.repeat(depth);
      const res = await api.call('POST', '/v1/orgs', token, `${open}"bottom\\u0000"${'}'.repeat(depth)}`, { headers: { 'content-type': 'application/json' } });
      const problem = expectProblem(res, 400, 'validation_failed');
      const [error] = problem.errors as { path: string; message: string }[];
      expect(error!.path).toMatch(/^body\.…\.(key_k{40}\.){29}key_k{40}$/);
      expect(res.body.length).toBeLessThan(10_000);
    });

    it('refuses timestamps outside years 0001..9999 UTC and leap seconds in queries and bodies, and takes the edges of the range', async () => {
      const refused = ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59Z', '0001-01-01T00:00:00+00:01', '9999-12-31T23:59:59-00:01', '2020-06-30T23:59:60Z', '2020-02-30T00:00:00Z', '2020-01-01T00:00:00'];
      const accepted = ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2024-02-29T12:00:00+14:00', '2030-01-01T00:00:00.123456Z'];
      for (const from of refused) {
        const res = await call('GET', `/v1/orgs/${orgId}/audit-logs?from=${encode(from)}`);
        const problem = expectProblem(res, 400, 'validation_failed');
        expect(problem.errors, from).toEqual([{ path: 'querystring.from', message: expect.stringContaining('0001 to 9999') }]);
        expectProblem(await call('GET', `/v1/admin/audit-logs?to=${encode(from)}`), 400, 'validation_failed');
        expectProblem(await call('GET', `/v1/admin/communications/logs?from=${encode(from)}`), 400, 'validation_failed');
        const key = await call('POST', `/v1/orgs/${orgId}/api-keys`, { name: 'dated', scopes: ['org:read'], expires_at: from });
        expect(expectProblem(key, 400, 'validation_failed').errors).toContainEqual({ path: 'body.expires_at', message: expect.any(String) });
      }
      for (const from of accepted) {
        const res = await call('GET', `/v1/orgs/${orgId}/audit-logs?from=${encode(from)}`);
        expect(res.statusCode, `${from}: ${res.body}`).toBe(200);
        expect((await call('GET', `/v1/admin/audit-logs?to=${encode(from)}`)).statusCode, from).toBe(200);
      }
      for (const day of ['0000-01-01', '10000-01-01', '2021-02-29']) {
        expectProblem(await call('GET', `/v1/admin/communications/stats?from=${day}`), 400, 'validation_failed');
      }
      expect((await call('GET', '/v1/admin/communications/stats?from=0001-01-01&to=9999-12-31')).statusCode).toBeLessThan(500);
    });

    it('never answers 500 to any route with schema-shaped queries, bodies and dates, with or without NUL and lone surrogates', async () => {
      // Not the sign-out (it would end the session the run uses) nor the event stream (it stays open).
      const safe = operations.filter((op) => op.path !== '/v1/auth/logout' && op.path !== '/v1/me/notifications/stream');
      const seen = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...safe).chain((op) => fc.tuple(fc.constant(op), queryFor(op), op.body ? arbitraryFor(op.body) : fc.constant(undefined))),
          async ([op, query, body]) => {
            const res = await call(op.method, urlOf(op, {}, query), op.hasBody ? body ?? {} : undefined);
            seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
            expect(res.statusCode, `${op.method} ${op.path}?${query} ${JSON.stringify(body)}: ${res.body}`).toBeLessThan(500);
            expect(res.body).not.toMatch(/Failed query|params:/);
          },
        ),
        { numRuns: 400 },
      );
      // The run reached handlers, not only the validator.
      expect([...seen].filter(([status]) => status < 300).reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThan(40);
    });
  });
});
