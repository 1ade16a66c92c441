import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { uniqueEmail } from '../helpers/outbox.js';

/*
 * POST /v1/auth/password/check, for the strength meter of the hosted pages: `acceptable` is the very
 * policy sign-up, reset and change apply (so it agrees with what sign-up does with the same
 * password, complexity rules included), `score` and `feedback` are zxcvbn's, and the password is
 * neither stored nor logged.
 */

interface CheckBody {
  acceptable: boolean;
  score: number;
  min_length: number;
  feedback: { warning: string | null; suggestions: string[] };
  problems: { rule: string; message: string }[];
}

/** Passwords at the edges of every rule of the policy (PASSWORD below is acceptable everywhere). */
const EDGES = [
  'correct horse battery staple',
  'password',
  '  password  ',
  'Xk9#qLm',
  'Xk9#qLm8',
  '       ',
  '   Xk9#qLm   ',
  'Tr0ub4dor&3 is mine',
  'a'.repeat(129),
  `${'long passphrase '.repeat(8)}`.slice(0, 128),
  '🔐🔑🗝️🔒🔓🛡️⚔️🏰',
  'ALLUPPERCASE-2024',
] as const;

describe.each(engineCases())('POST /v1/auth/password/check on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const { call } = testClient(() => app);
    const check = (body: Record<string, unknown>) => call('POST', '/v1/auth/password/check', null, body);
    const ok = async (body: Record<string, unknown>): Promise<CheckBody> => {
      const res = await check(body);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<CheckBody>();
    };

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    it('judges a password without signing in: acceptable by the policy, zxcvbn\'s score and feedback, not cached', async () => {
      const res = await check({ password: 'correct horse battery staple' });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({ acceptable: true, score: 4, min_length: 8, feedback: { warning: null, suggestions: [] }, problems: [] });

      // A common password: refused by the policy (the rule in the warning), score 0.
      expect(await ok({ password: 'password' })).toEqual({
        acceptable: false, score: 0, min_length: 8,
        feedback: { warning: 'The password is one of the most commonly used passwords.', suggestions: [expect.any(String)] },
        problems: [{ rule: 'too_common', message: 'is one of the most commonly used passwords' }],
      });
      // Too short: zxcvbn alone would give it a 2; a refused password never shows above 1.
      expect(await ok({ password: 'Xk9#qLm' })).toMatchObject({
        acceptable: false, score: 1, feedback: { warning: 'The password must be at least 8 characters.' }, problems: [{ rule: 'too_short', message: 'must be at least 8 characters' }],
      });
      // Every broken rule is listed, in the policy's order.
      expect((await ok({ password: '       ' })).problems.map((p) => p.rule)).toEqual(['whitespace_only', 'too_short']);
      expect((await ok({ password: 'a'.repeat(129) })).problems.map((p) => p.rule)).toEqual(['too_long']);
      // Empty: nothing typed yet.
      expect(await ok({ password: '' })).toMatchObject({ acceptable: false, score: 0, problems: [{ rule: 'too_short' }] });
    });

    it('refuses the address as the password when the email is given, and scores lower a password made of the person\'s name or address', async () => {
      const email = 'zebulon.quist@example.com';
      expect(await ok({ password: email.toUpperCase() })).toMatchObject({ acceptable: true });
      expect(await ok({ password: email.toUpperCase(), email })).toMatchObject({
        acceptable: false, score: expect.any(Number), problems: [{ rule: 'same_as_email', message: 'must not be your email address' }], feedback: { warning: 'The password must not be your email address.' },
      });
      const alone = (await ok({ password: 'zebulonquist1984' })).score;
      expect(alone).toBe(4);
      expect((await ok({ password: 'zebulonquist1984', email })).score).toBeLessThan(alone);
      expect((await ok({ password: 'zebulonquist1984', name: 'Zebulon Quist' })).score).toBeLessThan(alone);
      const named = await ok({ password: 'margaretthatcher', name: 'Margaret Thatcher' });
      expect(named).toMatchObject({ acceptable: true, score: 1, feedback: { warning: 'There should not be any personal or page related data.' } });
    });

    it('says acceptable exactly when sign-up takes the password (the same policy), for passwords at the edge of every rule', async () => {
      for (const password of EDGES) {
        const email = uniqueEmail('edge');
        const checked = await ok({ password, email });
        const signup = await call('POST', '/v1/auth/signup', null, { email, password });
        if (checked.acceptable) {
          expect(signup.statusCode, `${JSON.stringify(password)}: ${signup.body}`).toBe(201);
        } else {
          const refused = expectProblem(signup, 422, 'weak_password');
          // The same rules, in the same order.
          expect((refused.errors as { rule: string }[]).map((e) => e.rule), JSON.stringify(password)).toEqual(checked.problems.map((p) => p.rule));
        }
      }
      // The address as the password, given as the check's email: refused by both.
      const email = uniqueEmail('same');
      expect((await ok({ password: email, email })).acceptable).toBe(false);
      expectProblem(await call('POST', '/v1/auth/signup', null, { email, password: email }), 422, 'weak_password');
    });

    it('refuses a body that is not {password, email?, name?}: 400 validation_failed', async () => {
      for (const body of [{}, { email: 'a@b.co' }, { password: 'x'.repeat(1025) }, { password: 'fine password', extra: 1 }, { password: 'fine password', name: 'n'.repeat(201) }]) {
        expectProblem(await check(body), 400, 'validation_failed');
      }
    });

    it('never writes the password, the email or the name to a log line (regression guard of the log serializer)', async () => {
      const password = 'Pw-check-must-not-be-logged-7Q';
      const name = 'Nolog Namesake';
      const email = 'nolog-address@example.test';
      const requests = [
        await check({ password, email, name }),
        // Refused ones too: the validation error names the field, not its value.
        await check({ password, email, name, extra: true }),
        await check({ password: `${password}${'x'.repeat(1100)}` }),
      ];
      expect(requests.map((res) => res.statusCode)).toEqual([200, 400, 400]);
      const lines = app.logs.lines;
      for (const res of requests) {
        // The requests were logged (so the search below saw them).
        expect(lines.filter((line) => line.reqId === res.headers['x-request-id']).length, res.body).toBeGreaterThanOrEqual(2);
        expect(res.body).not.toContain(password);
      }
      const text = app.logs.text();
      for (const secret of [password, name, email]) expect(text).not.toContain(secret);
    });

    it('documents the route in the OpenAPI description', async () => {
      const spec = (await call('GET', '/openapi.json', null)).json<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> }; responses: Record<string, { content: Record<string, { schema: { properties: Record<string, unknown> } }> }> }>> }>();
      const op = spec.paths['/v1/auth/password/check']!.post!;
      expect(Object.keys(op.requestBody!.content['application/json']!.schema.properties).sort()).toEqual(['email', 'name', 'password']);
      expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '429']);
      expect(Object.keys(op.responses['200']!.content['application/json']!.schema.properties).sort()).toEqual(['acceptable', 'feedback', 'min_length', 'problems', 'score']);
    });
  });
});

describe('POST /v1/auth/password/check with PASSWORD_REQUIRE_COMPLEXITY', () => {
  let app: TestApp;
  const { call } = testClient(() => app);
  beforeAll(async () => {
    app = await createTestApp({ env: { PASSWORD_REQUIRE_COMPLEXITY: 'true' } });
  });
  afterAll(async () => app?.destroy());

  it('applies the complexity rules as sign-up does', async () => {
    const res = await call('POST', '/v1/auth/password/check', null, { password: 'correct horse battery staple' });
    expect(res.json()).toMatchObject({ acceptable: false, score: 1, problems: [{ rule: 'needs_uppercase' }, { rule: 'needs_digit' }] });
    for (const password of [...EDGES, 'Correct horse battery staple 9']) {
      const email = uniqueEmail('complex');
      const checked = (await call('POST', '/v1/auth/password/check', null, { password, email })).json<CheckBody>();
      const signup = await call('POST', '/v1/auth/signup', null, { email, password });
      expect(signup.statusCode, `${JSON.stringify(password)}: ${signup.body}`).toBe(checked.acceptable ? 201 : 422);
      if (!checked.acceptable) expect((signup.json<{ errors: { rule: string }[] }>().errors).map((e) => e.rule)).toEqual(checked.problems.map((p) => p.rule));
    }
  });
});

describe('POST /v1/auth/password/check rate limit', () => {
  let app: TestApp;
  const { call } = testClient(() => app);
  beforeAll(async () => {
    app = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMITS: JSON.stringify({ auth: { max: 2, window_seconds: 60 }, default: { max: 100, window_seconds: 60 } }) }, build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('counts in the auth group, with sign-in: past its limit, 429 rate_limited with Retry-After and retry_after', async () => {
    const ip = '198.51.100.61';
    for (let n = 0; n < 2; n++) expect((await call('POST', '/v1/auth/password/check', null, { password: `attempt ${n}` }, { ip })).statusCode).toBe(200);
    const refused = await call('POST', '/v1/auth/password/check', null, { password: 'one more' }, { ip });
    const body = expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(body.retry_after).toBe(Number(refused.headers['retry-after']));
    // Sign-in shares the budget.
    expectProblem(await call('POST', '/v1/auth/login', null, { email: 'a@example.test', password: 'whatever' }, { ip }), 429, 'rate_limited');
    expect((await call('POST', '/v1/auth/password/check', null, { password: 'elsewhere' }, { ip: '198.51.100.62' })).statusCode).toBe(200);
  });
});
