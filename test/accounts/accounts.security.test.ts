/**
 * Abuse cases of the accounts module: forged and misused tokens, refresh-token replay, brute force,
 * account enumeration, secrets at rest and in logs, and CSRF on cookie sessions.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWTHeaderParameters, type JWTPayload, type KeyObject } from 'jose';
import { ACCESS_TOKEN_TYPE } from '../../src/platform/http/auth.js';
import { sha256 } from '../../src/platform/crypto/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, testClient, type Signed } from '../helpers/client.js';
import { uniqueEmail, type TokenBody, type UserBody } from '../helpers/outbox.js';
import { waitFor } from '../helpers/wait.js';

const WRONG_PASSWORD = `${PASSWORD}!`;

type Json = Record<string, unknown>;
type InjectReply = Awaited<ReturnType<TestApp['server']['inject']>>;

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

let app: TestApp;
const api = testClient(() => app);
const post = (url: string, payload: Json, options: { ip?: string; userAgent?: string } = {}): Promise<InjectReply> => api.call('POST', url, null, payload, options);
const me = (token: string): Promise<InjectReply> => api.call('GET', '/v1/me', token);

/** As if REFRESH_REUSE_GRACE_SECONDS had passed since the session's rotations. */
async function afterReuseGrace(sessionId: string): Promise<void> {
  await api.query(`UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE session_id = $1 AND used_at IS NOT NULL`, [sessionId]);
}

async function expectTokenRefused(token: string, what: string): Promise<void> {
  const res = await me(token);
  expect(res.statusCode, what).toBe(401);
  expect(res.json().code, what).toBe('invalid_token');
  expect(res.headers['www-authenticate'], what).toBe('Bearer error="invalid_token"');
}

/** The problem document without the members that differ per request. */
function problemShape(res: InjectReply): Json {
  const { request_id: _requestId, instance: _instance, ...rest } = res.json<Json>();
  return rest;
}

/** The key names of a JSON value, nested, sorted: its shape without its values. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shapeOf);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shapeOf((value as Json)[key])]));
  }
  return typeof value;
}

beforeAll(async () => {
  app = await createTestApp();
});
afterAll(async () => {
  await app?.destroy();
});

describe('access tokens: forged, altered and misused tokens are refused', () => {
  let victim: { email: string; user: UserBody };
  let tokens: Signed;
  let claims: JWTPayload;
  let appKey: { kid: string; key: CryptoKey | KeyObject | Uint8Array };

  /** Signs `payload` as the app would, with its own private key, unless told otherwise. */
  async function forge(
    payload: JWTPayload,
    header: Partial<JWTHeaderParameters> = {},
    key: CryptoKey | KeyObject | Uint8Array = appKey.key,
  ): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: appKey.kid, typ: ACCESS_TOKEN_TYPE, ...header }).sign(key);
  }

  beforeAll(async () => {
    victim = await api.signedUp('victim');
    tokens = await api.signedIn('attacker');
    claims = decodeJwt(tokens.token);
    // The app's own signing key, opened the way the key store opens it: lets a test change exactly one thing.
    const [row] = await api.query<{ id: string; private_jwk_sealed: string }>(`SELECT id, private_jwk_sealed FROM signing_keys WHERE status = 'active'`);
    appKey = { kid: row!.id, key: await importJWK(JSON.parse(app.context.box.open(row!.private_jwk_sealed, 'signing-key')), 'EdDSA') };
  });

  it('accepts the real token, and a token re-signed with the app key and the same claims (the control for what follows)', async () => {
    expect((await me(tokens.token)).statusCode).toBe(200);
    const same = await forge(claims);
    const res = await me(same);
    expect(res.statusCode).toBe(200);
    expect(res.json().id).toBe(tokens.user.id);
  });

  it('refuses alg "none" (unsigned) with the payload of a real token', async () => {
    const payload = tokens.token.split('.')[1]!;
    await expectTokenRefused(`${b64url({ alg: 'none', typ: ACCESS_TOKEN_TYPE })}.${payload}.`, 'alg none');
    await expectTokenRefused(`${b64url({ alg: 'none', typ: ACCESS_TOKEN_TYPE, kid: appKey.kid })}.${payload}.`, 'alg none with the real kid');
  });

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const jwks = (await app.server.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{ keys: { kid: string; x: string }[] }>();
    const publicKey = jwks.keys.find((key) => key.kid === appKey.kid)!;
    for (const secret of [Buffer.from(publicKey.x, 'base64url'), new TextEncoder().encode(JSON.stringify(publicKey))]) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: appKey.kid, typ: ACCESS_TOKEN_TYPE }).sign(secret);
      await expectTokenRefused(token, 'HS256 with the public key');
    }
  });

  it('refuses the same claims signed with a foreign Ed25519 key, under the real kid and under an unknown kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await expectTokenRefused(await forge(claims, {}, privateKey), 'foreign key, real kid');
    await expectTokenRefused(await forge(claims, { kid: 'jwk_attacker' }, privateKey), 'foreign key, unknown kid');
    await expectTokenRefused(await forge(claims, { kid: undefined }, privateKey), 'foreign key, no kid');
  });

  it('refuses a real token whose payload was altered (another sub) or whose signature was altered', async () => {
    const [header, payload, signature] = tokens.token.split('.') as [string, string, string];
    const altered = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: victim.user.id };
    await expectTokenRefused(`${header}.${b64url(altered)}.${signature}`, 'altered sub');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    await expectTokenRefused(`${header}.${payload}.${flipped}`, 'altered signature');
    // A token for the victim needs the app's key: the attacker's own token cannot be bent into one.
    expect((await me(tokens.token)).json().id).not.toBe(victim.user.id);
  });

  it('refuses an expired token: crafted with exp in the past, and a real one-second token once its second is over', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectTokenRefused(await forge({ ...claims, iat: now - 120, exp: now - 60 }), 'exp a minute ago');

    const short = await app.context.keys.sign(
      { sid: tokens.sessionId, jti: 'short-lived' },
      { subject: tokens.user.id, audience: app.config.auth.audience, expiresInSeconds: 1, type: ACCESS_TOKEN_TYPE },
    );
    expect((await me(short)).statusCode).toBe(200);
    await waitFor(async () => (await me(short)).statusCode === 401, 5_000, 'the one-second token to expire');
    await expectTokenRefused(short, 'one-second token once expired');
  });

  it('refuses a wrong issuer, a wrong or missing audience, and a typ other than at+jwt', async () => {
    const { audience } = app.config.auth;
    await expectTokenRefused(await forge({ ...claims, iss: 'https://evil.example' }), 'wrong issuer');
    await expectTokenRefused(await forge({ ...claims, iss: undefined }), 'no issuer');

    const base = { sid: tokens.sessionId };
    const options = { subject: tokens.user.id, expiresInSeconds: 300 };
    const keys = app.context.keys;
    await expectTokenRefused(await keys.sign(base, { ...options, audience: 'https://other.example', type: ACCESS_TOKEN_TYPE }), 'wrong audience');
    await expectTokenRefused(await keys.sign(base, { ...options, type: ACCESS_TOKEN_TYPE }), 'no audience');
    await expectTokenRefused(await keys.sign(base, { ...options, audience }), 'typ JWT (the default of other tokens)');
    await expectTokenRefused(await forge(claims, { typ: undefined }), 'no typ');
    // And the same key with everything right passes: the refusals above are about the one field each.
    expect((await me(await keys.sign(base, { ...options, audience, type: ACCESS_TOKEN_TYPE }))).statusCode).toBe(200);
  });

  it('refuses a token without a session id', async () => {
    const { sid: _sid, ...withoutSid } = claims;
    await expectTokenRefused(await forge(withoutSid), 'no sid');
  });

  it("refuses the access token of a session that was ended (logout), while the user's other session still works", async () => {
    const other = await api.signIn(victim.email);
    const ended = await api.signIn(victim.email);
    expect((await me(ended.token)).statusCode).toBe(200);
    const logout = await api.call('POST', '/v1/auth/logout', ended.token);
    expect(logout.statusCode).toBe(204);
    await expectTokenRefused(ended.token, 'after logout');
    expect((await me(other.token)).statusCode).toBe(200);
  });

  it('refuses a refresh token used as an access token, and an access token used as a refresh token', async () => {
    const fresh = await api.signIn(victim.email);
    await expectTokenRefused(fresh.refreshToken, 'refresh token as bearer');
    const res = await post('/v1/auth/refresh', { refresh_token: fresh.token });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('invalid_refresh_token');
    // Neither misuse consumed anything: the pair still works as meant.
    expect((await me(fresh.token)).statusCode).toBe(200);
    expect((await post('/v1/auth/refresh', { refresh_token: fresh.refreshToken })).statusCode).toBe(200);
  });
});

describe('refresh tokens: replay and races', () => {
  it('a refresh token replayed after the reuse grace answers refresh_token_reused, revokes the session and leaves an audit row', async () => {
    const first = await api.signedIn('replay');
    const rotated = await post('/v1/auth/refresh', { refresh_token: first.refreshToken });
    expect(rotated.statusCode).toBe(200);
    const second = rotated.json<TokenBody>();
    await afterReuseGrace(first.sessionId);

    const replay = await post('/v1/auth/refresh', { refresh_token: first.refreshToken });
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'refresh_token_reused', status: 401 });

    const [session] = await api.query<{ revoked_at: Date | null; revoked_reason: string | null }>('SELECT revoked_at, revoked_reason FROM sessions WHERE id = $1', [first.sessionId]);
    expect(session!.revoked_at).not.toBeNull();
    expect(session!.revoked_reason).toBe('refresh_token_reused');
    const audit = await api.query<{ actor_type: string; result: string; target_type: string }>(
      `SELECT actor_type, result, target_type FROM audit_events WHERE action = 'session.refresh_token_reused' AND target_id = $1`,
      [first.sessionId],
    );
    expect(audit).toEqual([{ actor_type: 'system', result: 'failure', target_type: 'session' }]);

    const next = await post('/v1/auth/refresh', { refresh_token: second.refresh_token });
    expect(next.statusCode).toBe(401);
    await expectTokenRefused(second.access_token, 'the rotated access token');
    await expectTokenRefused(first.token, 'the first access token');
  });

  it('of two concurrent refreshes of one token from two different clients exactly one succeeds, and only one new refresh token is stored', async () => {
    const tokens = await api.signedIn('race');
    const results = await Promise.all([
      post('/v1/auth/refresh', { refresh_token: tokens.refreshToken }, { userAgent: 'client-a' }),
      post('/v1/auth/refresh', { refresh_token: tokens.refreshToken }, { userAgent: 'client-b' }),
    ]);
    const statuses = results.map((res) => res.statusCode).sort();
    expect(statuses).toEqual([200, 401]);
    expect(results.find((res) => res.statusCode === 401)!.json().code).toBe('refresh_token_reused');
    const stored = await api.query<{ n: number }>('SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1', [tokens.sessionId]);
    expect(stored[0]!.n).toBe(2);
  });
});

describe('brute force: lockout', () => {
  it('locks on the 5th wrong password (423 + Retry-After), refuses the right one while locked, mails once, audits', async () => {
    const { email, user } = await api.signedUp('brute');
    for (let attempt = 1; attempt <= 4; attempt++) {
      const res = await post('/v1/auth/login', { email, password: WRONG_PASSWORD });
      expect(res.statusCode, `attempt ${attempt}`).toBe(401);
      expect(res.json().code).toBe('invalid_credentials');
    }
    const fifth = await post('/v1/auth/login', { email, password: WRONG_PASSWORD });
    expect(fifth.statusCode).toBe(423);
    expect(fifth.json()).toMatchObject({ code: 'account_locked', retry_after: 1800 });
    expect(fifth.headers['retry-after']).toBe('1800');

    const right = await post('/v1/auth/login', { email, password: PASSWORD });
    expect(right.statusCode).toBe(423);
    expect(right.json().code).toBe('account_locked');
    const retryAfter = Number(right.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(1800);
    expect(right.body).not.toContain('access_token');
    // More wrong attempts while locked: still 423, no second mail, the lock is not extended.
    const sixth = await post('/v1/auth/login', { email, password: WRONG_PASSWORD });
    expect(sixth.statusCode).toBe(423);
    expect(Number(sixth.headers['retry-after'])).toBeLessThanOrEqual(1800);

    const jobs = await api.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM communication_logs WHERE template = 'accounts.account_locked' AND recipient = $1`,
      [email],
    );
    expect(jobs[0]!.n).toBe(1);
    const delivered = await waitFor(async () => {
      const found = await api.query<{ subject: string }>(`SELECT subject FROM mail_outbox WHERE "to" = $1 AND template = 'accounts.account_locked'`, [email]);
      return found.length > 0 && found;
    }, 10_000, 'the lockout mail');
    expect(delivered).toHaveLength(1);

    const audit = await api.query<{ action: string; result: string; reason: string }>(
      `SELECT action, result, reason FROM audit_events WHERE target_id = $1 AND action IN ('auth.login', 'auth.lockout') ORDER BY created_at, id`,
      [user.id],
    );
    expect(audit.filter((row) => row.action === 'auth.login' && row.result === 'failure' && row.reason === 'wrong_password')).toHaveLength(5);
    expect(audit.filter((row) => row.action === 'auth.login' && row.result === 'failure' && row.reason === 'locked')).toHaveLength(2);
    expect(audit.filter((row) => row.action === 'auth.lockout')).toHaveLength(1);
    expect(audit.filter((row) => row.action === 'auth.login' && row.result === 'success')).toHaveLength(0);
    const [row] = await api.query<{ failed_login_count: number; locked_until: Date | null }>('SELECT failed_login_count, locked_until FROM users WHERE id = $1', [user.id]);
    expect(row!.failed_login_count).toBe(5);
    expect(row!.locked_until).not.toBeNull();
  });

  describe('with LOCKOUT_DURATION_SECONDS=1', () => {
    let shortLock: TestApp;
    const shortLockApi = testClient(() => shortLock);
    beforeAll(async () => {
      shortLock = await createTestApp({ env: { LOCKOUT_DURATION_SECONDS: '1' }, build: { workers: false } });
    });
    afterAll(async () => shortLock?.destroy());

    it('unlocks after the duration, and the right password then signs in and clears the count', async () => {
      const { email, user } = await shortLockApi.signedUp('unlock');
      let last: InjectReply | undefined;
      for (let attempt = 1; attempt <= 5; attempt++) last = await shortLockApi.call('POST', '/v1/auth/login', null, { email, password: WRONG_PASSWORD });
      expect(last!.statusCode).toBe(423);
      expect(last!.headers['retry-after']).toBe('1');
      // The right password is refused (423, not counted) until the lock runs out.
      const res = await waitFor(async () => {
        const attempt = await shortLockApi.call('POST', '/v1/auth/login', null, { email, password: PASSWORD });
        return attempt.statusCode === 200 && attempt;
      }, 5_000, 'the lock to run out');
      expect(res.json<TokenBody>().user.id).toBe(user.id);
      const [row] = await shortLockApi.query<{ failed_login_count: number; locked_until: Date | null }>('SELECT failed_login_count, locked_until FROM users WHERE id = $1', [user.id]);
      expect(row).toEqual({ failed_login_count: 0, locked_until: null });
    });
  });

  describe('per-IP rate limit (RATE_LIMITS auth max 3 / 60 s)', () => {
    let limited: TestApp;
    const limitedApi = testClient(() => limited);
    /** The one client address of this test's requests (the limit is per address). */
    const HOME = '198.51.100.30';
    const fromHome = (url: string, payload?: Json) => limitedApi.call(payload === undefined ? 'GET' : 'POST', url, null, payload, { ip: HOME });
    beforeAll(async () => {
      limited = await createTestApp({
        env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMITS: '{"auth":{"max":3,"window_seconds":60}}' },
        build: { workers: false },
      });
    });
    afterAll(async () => limited?.destroy());

    it('answers the 4th /v1/auth request from one IP with 429 and Retry-After; another IP is not affected', async () => {
      const body = { email: uniqueEmail('nobody'), password: WRONG_PASSWORD };
      for (let n = 1; n <= 3; n++) {
        const res = await fromHome('/v1/auth/login', body);
        expect(res.statusCode, `request ${n}`).toBe(401);
        expect(res.headers['ratelimit-limit']).toBe('3');
        expect(res.headers['ratelimit-remaining']).toBe(String(3 - n));
      }
      // The 4th, on another route of the same group: the limit is per group and IP, not per route.
      const fourth = await fromHome('/v1/auth/password/forgot', { email: body.email });
      expect(fourth.statusCode).toBe(429);
      expect(fourth.json().code).toBe('rate_limited');
      const retryAfter = Number(fourth.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect((await fromHome('/v1/auth/login', body)).statusCode).toBe(429);

      const elsewhere = await limitedApi.call('POST', '/v1/auth/login', null, body, { ip: '203.0.113.9' });
      expect(elsewhere.statusCode).toBe(401);
      // Other groups keep their own budget.
      expect((await fromHome('/v1/me')).statusCode).toBe(401);
    });
  });
});

describe('enumeration: answers do not tell which addresses have accounts', () => {
  let known: string;
  beforeAll(async () => {
    known = (await api.signedUp('known')).email;
  });

  it('sign-up with a taken address answers like a new one (status, shape) and does not reveal the account id', async () => {
    const taken = await post('/v1/auth/signup', { email: known, password: PASSWORD });
    const fresh = await post('/v1/auth/signup', { email: uniqueEmail('new'), password: PASSWORD });
    expect(taken.statusCode).toBe(201);
    expect(fresh.statusCode).toBe(201);
    expect(shapeOf(taken.json())).toEqual(shapeOf(fresh.json()));
    expect(taken.headers['content-type']).toBe(fresh.headers['content-type']);
    const takenUser = taken.json<{ user: { id: string; email: string; email_verified: boolean } }>().user;
    expect(takenUser.email_verified).toBe(false);
    const [real] = await api.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [known]);
    expect(takenUser.id).not.toBe(real!.id);
    expect(takenUser.id).toMatch(/^usr_/);
  });

  it("regression: sign-up with a taken address does not answer the owner's phone number", async () => {
    const { email: owner, user } = await api.signedUp('phone-owner');
    await api.query(`UPDATE users SET phone = '+15550001234', phone_verified = true WHERE id = $1`, [user.id]);
    const taken = await post('/v1/auth/signup', { email: owner, password: PASSWORD });
    expect(taken.statusCode).toBe(201);
    expect(taken.json<{ user: Json }>().user).toMatchObject({ phone: null, phone_verified: false });
    expect(taken.body).not.toContain('15550001234');
  });

  it.each([
    ['/v1/auth/password/forgot'],
    ['/v1/auth/magic-link'],
    ['/v1/auth/verify-email/resend'],
  ])('%s answers the same for a known and an unknown address', async (url) => {
    const forKnown = await post(url, { email: known });
    const forUnknown = await post(url, { email: uniqueEmail('unknown') });
    expect(forKnown.statusCode).toBe(202);
    expect(forUnknown.statusCode).toBe(forKnown.statusCode);
    expect(forUnknown.json()).toEqual(forKnown.json());
    expect(forUnknown.headers['content-type']).toBe(forKnown.headers['content-type']);
  });

  it('login with a wrong password and with an unknown address give the same problem', async () => {
    const wrongPassword = await post('/v1/auth/login', { email: known, password: WRONG_PASSWORD });
    const unknownEmail = await post('/v1/auth/login', { email: uniqueEmail('unknown'), password: WRONG_PASSWORD });
    expect(wrongPassword.statusCode).toBe(401);
    expect(unknownEmail.statusCode).toBe(401);
    expect(problemShape(unknownEmail)).toEqual(problemShape(wrongPassword));
    expect(problemShape(wrongPassword)).toMatchObject({ code: 'invalid_credentials' });
    expect(unknownEmail.headers['content-type']).toBe(wrongPassword.headers['content-type']);
  });

  it('a verification code for a known and an unknown address gives the same problem', async () => {
    const forKnown = await post('/v1/auth/verify-email', { email: known, code: '000000' });
    const forUnknown = await post('/v1/auth/verify-email', { email: uniqueEmail('unknown'), code: '000000' });
    expect(forKnown.statusCode).toBe(400);
    expect(forUnknown.statusCode).toBe(400);
    expect(problemShape(forUnknown)).toEqual(problemShape(forKnown));
  });
});

describe('secrets never leak', () => {
  it('logs hold no password or token, the database holds only hashes, and responses no password hash', async () => {
    const email = uniqueEmail('secret');
    const password = `Unique-${randomBytes(6).toString('hex')}-pass`;
    const signupRes = await post('/v1/auth/signup', { email, password });
    expect(signupRes.statusCode).toBe(201);
    const userId = signupRes.json<{ user: { id: string } }>().user.id;

    // The verification token, as mailed (development outbox): the only place it exists in clear.
    const mailText = await waitFor(async () => {
      const found = await api.query<{ text: string }>(`SELECT text FROM mail_outbox WHERE "to" = $1 AND template = 'accounts.verify_email'`, [email]);
      return found[0]?.text;
    }, 10_000, 'the verification mail');
    const verifyToken = decodeURIComponent(/\/verify-email\?token=(\S+)/.exec(mailText)![1]!);
    // Through the query string too, the way a mailed link opens the hosted page (200; 503 when the pages are not built).
    expect([200, 503]).toContain((await app.server.inject({ method: 'GET', url: `/verify-email?token=${encodeURIComponent(verifyToken)}` })).statusCode);
    // With the password, which keeps it (a password set before the proof goes otherwise).
    expect((await post('/v1/auth/verify-email', { token: verifyToken, password })).statusCode).toBe(200);

    const first = await api.signIn(email, { password });
    const refreshed = await post('/v1/auth/refresh', { refresh_token: first.refreshToken });
    expect(refreshed.statusCode).toBe(200);
    const second = refreshed.json<TokenBody>();
    const meRes = await me(second.access_token);
    expect(meRes.statusCode).toBe(200);
    // A failed attempt with the password in the body, and a replay from another client: error paths log too.
    await post('/v1/auth/login', { email, password: `${password}x` });
    expect((await post('/v1/auth/refresh', { refresh_token: first.refreshToken }, { userAgent: 'elsewhere' })).statusCode).toBe(401);

    const secrets = { password, verifyToken, refresh1: first.refreshToken, refresh2: second.refresh_token, access1: first.token, access2: second.access_token };
    const logs = app.logs.text();
    expect(logs).toContain(userId); // the logs do cover this flow
    for (const [name, secret] of Object.entries(secrets)) expect(logs.includes(secret), `${name} in the logs`).toBe(false);

    // Responses: no hash, no password.
    for (const res of [signupRes, meRes, refreshed]) {
      expect(res.body).not.toContain('password_hash');
      expect(res.body).not.toContain('$argon2');
      expect(res.body).not.toContain(password);
    }

    // At rest: hashes only.
    const [user] = await api.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [userId]);
    expect(user!.password_hash.startsWith('$argon2id$')).toBe(true);
    expect(user!.password_hash).not.toContain(password);

    const stored = await api.query<{ token_hash: string }>('SELECT token_hash FROM refresh_tokens WHERE session_id = $1', [first.sessionId]);
    expect(stored.map((row) => row.token_hash).sort()).toEqual([sha256(first.refreshToken), sha256(second.refresh_token)].sort());
    for (const row of stored) {
      expect(row.token_hash).not.toBe(first.refreshToken);
      expect(row.token_hash).not.toBe(second.refresh_token);
    }

    const oneTime = await api.query<{ token_hash: string; row: string }>('SELECT token_hash, row_to_json(t)::text AS row FROM one_time_tokens t WHERE user_id = $1', [userId]);
    expect(oneTime.map((row) => row.token_hash)).toContain(sha256(verifyToken));
    for (const row of oneTime) expect(row.row).not.toContain(verifyToken);

    // Nothing else written along the way (audit, events, the mail queue) carries a secret either.
    const elsewhere = await api.query<{ row: string }>(`SELECT row_to_json(a)::text AS row FROM audit_events a
       UNION ALL SELECT row_to_json(e)::text FROM events e
       UNION ALL SELECT data::text FROM pgboss.job
       UNION ALL SELECT row_to_json(s)::text FROM sessions s`,
    );
    const dump = elsewhere.map((row) => row.row).join('\n');
    expect(dump).toContain(userId);
    for (const [name, secret] of Object.entries(secrets)) expect(dump.includes(secret), `${name} in audit/events/jobs/sessions`).toBe(false);
  });
});

describe('CSRF on cookie sessions', () => {
  interface CookieSession {
    access: string;
    refresh: string;
    csrf: string;
  }

  async function cookieLogin(email: string): Promise<CookieSession> {
    const res = await post('/v1/auth/login', { email, password: PASSWORD, use_cookie: true });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ token_type: string; csrf_token: string; access_token?: string }>();
    expect(body.token_type).toBe('cookie');
    expect(body.access_token).toBeUndefined();
    const jar = Object.fromEntries(res.cookies.map((cookie) => [cookie.name, cookie]));
    expect(jar.tessera_access?.httpOnly).toBe(true);
    expect(jar.tessera_refresh?.httpOnly).toBe(true);
    expect(jar.tessera_csrf?.value).toBe(body.csrf_token);
    return { access: jar.tessera_access!.value, refresh: jar.tessera_refresh!.value, csrf: jar.tessera_csrf!.value };
  }

  function patchMe(cookies: Record<string, string>, csrfHeader: string | undefined, name: string): Promise<InjectReply> {
    return app.server.inject({
      method: 'PATCH',
      url: '/v1/me',
      cookies,
      headers: csrfHeader === undefined ? {} : { 'x-csrf-token': csrfHeader },
      payload: { name },
    });
  }

  let mine: CookieSession;
  let other: CookieSession;
  beforeAll(async () => {
    const { email } = await api.signedUp('csrf');
    mine = await cookieLogin(email);
    other = await cookieLogin(email);
    expect(other.csrf).not.toBe(mine.csrf);
  });

  it("accepts the session's own CSRF token (control), and reads need none", async () => {
    const ok = await patchMe({ tessera_access: mine.access, tessera_csrf: mine.csrf }, mine.csrf, 'Allowed');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().name).toBe('Allowed');
    const read = await app.server.inject({ method: 'GET', url: '/v1/me', cookies: { tessera_access: mine.access } });
    expect(read.statusCode).toBe(200);
  });

  it("refuses a CSRF token of another session, in the header alone or in both header and cookie", async () => {
    const headerOnly = await patchMe({ tessera_access: mine.access, tessera_csrf: mine.csrf }, other.csrf, 'Forged-1');
    expect(headerOnly.statusCode).toBe(403);
    expect(headerOnly.json().code).toBe('csrf_failed');
    // A consistent double submit, but bound to the other session: the signature check refuses it.
    const both = await patchMe({ tessera_access: mine.access, tessera_csrf: other.csrf }, other.csrf, 'Forged-2');
    expect(both.statusCode).toBe(403);
    expect(both.json().code).toBe('csrf_failed');
  });

  it('refuses a header without the CSRF cookie, and a request without the header', async () => {
    const noCookie = await patchMe({ tessera_access: mine.access }, mine.csrf, 'Forged-3');
    expect(noCookie.statusCode).toBe(403);
    expect(noCookie.json().code).toBe('csrf_failed');
    const noHeader = await patchMe({ tessera_access: mine.access, tessera_csrf: mine.csrf }, undefined, 'Forged-4');
    expect(noHeader.statusCode).toBe(403);
    expect(noHeader.json().code).toBe('csrf_failed');
    // None of the refused requests changed anything.
    const read = await app.server.inject({ method: 'GET', url: '/v1/me', cookies: { tessera_access: mine.access } });
    expect(read.json().name).toBe('Allowed');
  });

  it('a cookie refresh needs the CSRF token too, and a refused one consumes nothing', async () => {
    const refused = await app.server.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      cookies: { tessera_refresh: mine.refresh, tessera_csrf: other.csrf },
      headers: { 'x-csrf-token': other.csrf },
      payload: {},
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('csrf_failed');
    const ok = await app.server.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      cookies: { tessera_refresh: mine.refresh, tessera_csrf: mine.csrf },
      headers: { 'x-csrf-token': mine.csrf },
      payload: {},
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().token_type).toBe('cookie');
  });
});
