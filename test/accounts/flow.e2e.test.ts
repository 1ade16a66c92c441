/**
 * The accounts issue's end-to-end requirement, over real HTTP: sign up, read the verification mail
 * from a real SMTP server, verify, sign in, verify the access token with jose against the JWKS the
 * server publishes, refresh, replay the old refresh token and see the session revoked, and see a
 * revoked session's access token refused at once by a second instance sharing the database and Redis.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { loadConfig, type Config } from '../../src/config/index.js';
import { buildApp, type App } from '../../src/app/app.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase, type Database } from '../../src/platform/db/database.js';
import { createTestApp, logCollector, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { PASSWORD } from '../helpers/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { uniqueEmail } from '../helpers/outbox.js';
import { freePort } from '../helpers/process.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp.js';

const MAIL_FROM = 'Tessera <no-reply@tessera.test>';
const { redisUrl } = inject('services');
const postgresAvailable = inject('postgresTemplate') !== null;

interface UserJson {
  id: string;
  email: string;
  email_verified: boolean;
}
interface TokensJson {
  token_type: string;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  session_id: string;
  user: UserJson;
}
interface ProblemJson {
  status: number;
  code: string;
  detail: string;
}
interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** One request over real HTTP (this suite's servers listen; the shared test client injects): the body is parsed as JSON when there is one. */
async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; userAgent?: string } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

/** The link token and the 6-digit code of a verification mail. */
function verificationOf(message: SinkMessage, publicUrl: string): { token: string; code: string } {
  const link = new RegExp(`${publicUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/verify-email\\?token=([^\\s"<>&]+)`).exec(message.text);
  const code = /^\s+(\d{6})\s*$/m.exec(message.text);
  if (!link || !code) throw new Error(`no verification link or code in the mail:\n${message.text}`);
  return { token: decodeURIComponent(link[1]!), code: code[1]! };
}

/** Signs up over HTTP, reads the verification mail from the SMTP sink, and verifies with its link. */
async function signUpAndVerify(base: string, publicUrl: string, smtp: SmtpSink, email: string): Promise<UserJson> {
  const signup = await call<{ user: UserJson }>(base, 'POST', '/v1/auth/signup', { json: { email, password: PASSWORD, name: 'Ada' } });
  expect(signup.status).toBe(201);
  expect(signup.body.user).toMatchObject({ email, email_verified: false });

  // ALLOW_UNVERIFIED_LOGIN=false: the verification below is what opens the door.
  const early = await call<ProblemJson>(base, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD } });
  expect(early.status).toBe(403);
  expect(early.body.code).toBe('email_not_verified');

  const mail = await smtp.waitFor(
    (message) => message.rcptTo.includes(email) && message.subject.startsWith('Verify your email address'),
    15_000,
    `the verification mail to ${email}`,
  );
  expect(mail.envelopeFrom).toBe('no-reply@tessera.test');
  const { token, code } = verificationOf(mail, publicUrl);
  expect(code).toMatch(/^\d{6}$/);
  expect(mail.html).toContain(`${publicUrl}/verify-email?token=`);

  // With the password: the one chosen at sign-up stays (without it, it would go: see POST /v1/auth/verify-email).
  const verified = await call<{ user: UserJson; password_cleared: boolean }>(base, 'POST', '/v1/auth/verify-email', { json: { token, password: PASSWORD } });
  expect(verified.status).toBe(200);
  expect(verified.body.user).toMatchObject({ id: signup.body.user.id, email, email_verified: true });
  expect(verified.body.password_cleared).toBe(false);
  // The link works once.
  const again = await call<ProblemJson>(base, 'POST', '/v1/auth/verify-email', { json: { token } });
  expect(again.status).toBe(400);
  expect(again.body.code).toBe('invalid_link');
  return verified.body.user;
}

async function login(base: string, email: string, userAgent: string): Promise<TokensJson> {
  const res = await call<TokensJson>(base, 'POST', '/v1/auth/login', { json: { email, password: PASSWORD }, userAgent });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.token_type).toBe('Bearer');
  expect(res.body.refresh_token).toMatch(/^rt_/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return res.body;
}

/** Verifies an access token as a resource server would: the JWKS fetched over HTTP, issuer, audience, typ. */
async function verifyWithJwks(jwksBase: string, token: string, publicUrl: string): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${jwksBase}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: publicUrl,
    audience: publicUrl,
    typ: 'at+jwt',
    algorithms: ['EdDSA'],
  });
  expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.stringMatching(/^jwk_/) });
  return payload;
}

async function expectRefused(base: string, token: string, what: string): Promise<void> {
  const res = await call<ProblemJson>(base, 'GET', '/v1/me', { token });
  expect(res.status, what).toBe(401);
  expect(res.body.code, what).toBe('invalid_token');
  expect(res.headers.get('www-authenticate'), what).toContain('invalid_token');
}

async function expectAccepted(base: string, token: string, userId: string, what: string): Promise<void> {
  const res = await call<UserJson>(base, 'GET', '/v1/me', { token });
  expect(res.status, what).toBe(200);
  expect(res.body.id, what).toBe(userId);
}

function testConfig(env: Record<string, string>): Config {
  return loadConfig({
    NODE_ENV: 'test',
    TESSERA_SECRET: TEST_SECRET,
    LOG_LEVEL: 'info',
    DATA_DIR: '/tmp/tessera-test-unused',
    RATE_LIMIT_ENABLED: 'false',
    ALLOW_UNVERIFIED_LOGIN: 'false',
    MAIL_FROM,
    ...env,
  });
}

describe.skipIf(!postgresAvailable || !redisUrl)('accounts end to end on PostgreSQL + Redis, two instances', () => {
  let smtp: SmtpSink | undefined;
  let database: TestDatabase | undefined;
  let dbB: Database | undefined;
  let appA: App | undefined;
  let appB: App | undefined;
  const logsA = logCollector();
  const logsB = logCollector();
  let publicUrl: string;
  let baseA: string;
  let baseB: string;

  // State carried from step to step.
  const email = uniqueEmail('e2e');
  let user: UserJson;
  let s1: TokensJson;
  let s2: TokensJson;
  let s1Rotated: TokensJson;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    database = await createTestDatabase('postgres');
    const portA = await freePort();
    let portB = await freePort();
    while (portB === portA) portB = await freePort();
    publicUrl = `http://localhost:${portA}`;
    baseA = publicUrl;
    baseB = `http://localhost:${portB}`;
    // One configuration for both instances: same secret, same PUBLIC_URL (issuer and audience), same relay.
    const config = testConfig({ PUBLIC_URL: publicUrl, SMTP_URL: smtp.url });
    const prefix = `test:e2e:${randomBytes(6).toString('hex')}:`;

    appA = await buildApp(config, { db: database.db, cache: await createRedisCache(redisUrl!, { prefix }), logDestination: logsA.stream });
    await appA.server.listen({ port: portA, host: '127.0.0.1' });

    // Instance B: its own pool on the same database, its own Redis connection on the same prefix.
    dbB = createPostgresDatabase({ url: database.url!, max: 5 });
    appB = await buildApp(config, { db: dbB, cache: await createRedisCache(redisUrl!, { prefix }), logDestination: logsB.stream });
    await appB.server.listen({ port: portB, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await appB?.close();
    await dbB?.close();
    await appA?.close();
    await database?.destroy();
    await smtp?.close();
  });

  it('both instances run on PostgreSQL and Redis and publish the same key set', async () => {
    const [readyA, readyB] = await Promise.all([call(baseA, 'GET', '/health/ready'), call(baseB, 'GET', '/health/ready')]);
    for (const ready of [readyA, readyB]) {
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ checks: { database: { kind: 'postgres' }, cache: { kind: 'redis' }, mail: { kind: 'smtp' } } });
    }
    const [jwksA, jwksB] = await Promise.all([
      call<{ keys: Record<string, unknown>[] }>(baseA, 'GET', '/.well-known/jwks.json'),
      call<{ keys: Record<string, unknown>[] }>(baseB, 'GET', '/.well-known/jwks.json'),
    ]);
    expect(jwksA.status).toBe(200);
    expect(jwksA.body.keys.length).toBeGreaterThan(0);
    expect(jwksB.body).toEqual(jwksA.body);
    for (const key of jwksA.body.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it('signs up on A, reads the verification mail from the SMTP server and verifies', async () => {
    user = await signUpAndVerify(baseA, publicUrl, smtp!, email);
  });

  it('signs in twice (two sessions) and the access token verifies with jose against the JWKS served over HTTP', async () => {
    s1 = await login(baseA, email, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0');
    s2 = await login(baseA, email, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15');
    expect(s1.session_id).not.toBe(s2.session_id);
    expect(s1.user).toMatchObject({ id: user.id, email_verified: true });

    const payload = await verifyWithJwks(baseA, s1.access_token, publicUrl);
    expect(payload).toMatchObject({ sub: user.id, sid: s1.session_id, iss: publicUrl, aud: publicUrl, email_verified: true, amr: ['pwd'] });
    expect(payload.exp! - payload.iat!).toBe(s1.expires_in);
    // B serves the same keys from the shared database: its JWKS verifies A's tokens too.
    await verifyWithJwks(baseB, s2.access_token, publicUrl);

    // Both tokens work on both instances.
    for (const base of [baseA, baseB]) {
      await expectAccepted(base, s1.access_token, user.id, `session 1 on ${base}`);
      await expectAccepted(base, s2.access_token, user.id, `session 2 on ${base}`);
    }
  });

  it("revoking session 2 on A makes B refuse its access token at once, while session 1's still works on B", async () => {
    const listed = await call<{ data: { id: string; current: boolean }[] }>(baseB, 'GET', '/v1/me/sessions', { token: s1.access_token });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((session) => session.id).sort()).toEqual([s1.session_id, s2.session_id].sort());

    const revoked = await call(baseA, 'DELETE', `/v1/me/sessions/${s2.session_id}`, { token: s1.access_token });
    expect(revoked.status).toBe(204);

    // No waiting: the very next request on the other instance is refused.
    await expectRefused(baseB, s2.access_token, 'session 2 on B after revocation');
    await expectRefused(baseA, s2.access_token, 'session 2 on A after revocation');
    await expectAccepted(baseB, s1.access_token, user.id, 'session 1 on B');
    // The signature is still valid: it is the revocation list that refuses it, not the token itself.
    await verifyWithJwks(baseA, s2.access_token, publicUrl);

    // Its refresh token died with it, on either instance.
    const refresh2 = await call<ProblemJson>(baseB, 'POST', '/v1/auth/refresh', { json: { refresh_token: s2.refresh_token } });
    expect(refresh2.status).toBe(401);
    expect(refresh2.body.code).toBe('invalid_refresh_token');

    const after = await call<{ data: { id: string }[] }>(baseB, 'GET', '/v1/me/sessions', { token: s1.access_token });
    expect(after.body.data.map((session) => session.id)).toEqual([s1.session_id]);
  });

  it('refreshes on A; the old refresh token replayed on B answers refresh_token_reused and ends the session everywhere', async () => {
    const rotated = await call<TokensJson>(baseA, 'POST', '/v1/auth/refresh', { json: { refresh_token: s1.refresh_token } });
    expect(rotated.status).toBe(200);
    s1Rotated = rotated.body;
    expect(s1Rotated.session_id).toBe(s1.session_id);
    expect(s1Rotated.refresh_token).not.toBe(s1.refresh_token);
    expect(s1Rotated.access_token).not.toBe(s1.access_token);
    const payload = await verifyWithJwks(baseA, s1Rotated.access_token, publicUrl);
    expect(payload).toMatchObject({ sub: user.id, sid: s1.session_id });
    await expectAccepted(baseB, s1Rotated.access_token, user.id, 'the rotated access token on B');

    // The theft: someone else (another client) presents the refresh token that was already used, to the other instance.
    const replay = await call<ProblemJson>(baseB, 'POST', '/v1/auth/refresh', { json: { refresh_token: s1.refresh_token }, userAgent: 'stolen-token-replayer/1.0' });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('refresh_token_reused');

    // The rotated (legitimate-looking) refresh token is refused too, on both instances.
    for (const base of [baseA, baseB]) {
      const next = await call<ProblemJson>(base, 'POST', '/v1/auth/refresh', { json: { refresh_token: s1Rotated.refresh_token } });
      expect(next.status, base).toBe(401);
      expect(next.body.code, base).toBe('invalid_refresh_token');
    }
    // And every access token of that session is refused on A and on B.
    for (const base of [baseA, baseB]) {
      await expectRefused(base, s1.access_token, `the first access token of session 1 on ${base}`);
      await expectRefused(base, s1Rotated.access_token, `the rotated access token of session 1 on ${base}`);
    }
    expect(logsB.text()).toContain('refresh token reuse: session revoked');
  });

  it('of two concurrent refreshes of one token on A and on B by two clients exactly one succeeds', async () => {
    const s3 = await login(baseB, email, 'curl/8.5.0');
    const results = await Promise.all([
      call<TokensJson | ProblemJson>(baseA, 'POST', '/v1/auth/refresh', { json: { refresh_token: s3.refresh_token }, userAgent: 'curl/8.5.0' }),
      call<TokensJson | ProblemJson>(baseB, 'POST', '/v1/auth/refresh', { json: { refresh_token: s3.refresh_token }, userAgent: 'another-client/2.0' }),
    ]);
    expect(results.map((res) => res.status).sort()).toEqual([200, 401]);
    expect((results.find((res) => res.status === 401)!.body as ProblemJson).code).toBe('refresh_token_reused');
  });

  it('of two concurrent refreshes of one token on A and on B by the same client (two tabs) both succeed within the reuse grace, and the session lives', async () => {
    const s4 = await login(baseA, email, 'curl/8.5.0');
    const results = await Promise.all([
      call<TokensJson>(baseA, 'POST', '/v1/auth/refresh', { json: { refresh_token: s4.refresh_token }, userAgent: 'curl/8.5.0' }),
      call<TokensJson>(baseB, 'POST', '/v1/auth/refresh', { json: { refresh_token: s4.refresh_token }, userAgent: 'curl/8.5.0' }),
    ]);
    expect(results.map((res) => res.status)).toEqual([200, 200]);
    const [one, two] = results.map((res) => res.body);
    expect(one!.session_id).toBe(s4.session_id);
    expect(two!.session_id).toBe(s4.session_id);
    expect(one!.refresh_token).not.toBe(two!.refresh_token);
    for (const [base, tokens] of [[baseA, two!], [baseB, one!]] as const) {
      await expectAccepted(base, tokens.access_token, user.id, `an access token of the two tabs on ${base}`);
      const next = await call<TokensJson>(base, 'POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token }, userAgent: 'curl/8.5.0' });
      expect(next.status, base).toBe(200);
    }
  });

  it('no instance logged the password or a token', () => {
    const logs = logsA.text() + logsB.text();
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [PASSWORD, s1.refresh_token, s1.access_token, s2.refresh_token, s2.access_token, s1Rotated.refresh_token, s1Rotated.access_token]) {
      expect(logs).not.toContain(secret);
    }
  });
});

describe('accounts end to end on PGlite, one instance over HTTP', () => {
  let smtp: SmtpSink | undefined;
  let app: TestApp | undefined;
  let base: string;

  beforeAll(async () => {
    smtp = await startSmtpSink();
    const port = await freePort();
    base = `http://localhost:${port}`;
    app = await createTestApp({ env: { PUBLIC_URL: base, SMTP_URL: smtp.url, MAIL_FROM, ALLOW_UNVERIFIED_LOGIN: 'false', LOG_LEVEL: 'info' } });
    await app.server.listen({ port, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.destroy();
    await smtp?.close();
  });

  it('sign up, verification mail over SMTP, verify, sign in, JWKS over HTTP, refresh, replay', async () => {
    const email = uniqueEmail('pglite');
    const user = await signUpAndVerify(base, base, smtp!, email);
    const tokens = await login(base, email, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0');
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const payload = await verifyWithJwks(base, tokens.access_token, base);
    expect(payload).toMatchObject({ sub: user.id, sid: tokens.session_id, email_verified: true });
    await expectAccepted(base, tokens.access_token, user.id, 'the first access token');

    const rotated = await call<TokensJson>(base, 'POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.session_id).toBe(tokens.session_id);
    expect(rotated.body.refresh_token).not.toBe(tokens.refresh_token);
    await verifyWithJwks(base, rotated.body.access_token, base);
    await expectAccepted(base, rotated.body.access_token, user.id, 'the rotated access token');

    const replay = await call<ProblemJson>(base, 'POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token }, userAgent: 'stolen-token-replayer/1.0' });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('refresh_token_reused');
    const next = await call<ProblemJson>(base, 'POST', '/v1/auth/refresh', { json: { refresh_token: rotated.body.refresh_token } });
    expect(next.status).toBe(401);
    expect(next.body.code).toBe('invalid_refresh_token');
    await expectRefused(base, tokens.access_token, 'the first access token after the replay');
    await expectRefused(base, rotated.body.access_token, 'the rotated access token after the replay');
  });
});
