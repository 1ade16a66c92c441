import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ACCESS_TOKEN_TYPE } from '../../src/platform/http/auth.js';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { authenticator, PERIOD_MS, recoveryToken, type Authenticator } from '../helpers/authenticator.js';
import { PASSWORD, testClient, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, findMails, uniqueEmail, waitForMail, type TokenBody } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';

/*
 * Abuse cases of second factors, on each engine: wrong, replayed and cross-account codes, the five
 * attempts of an mfa_token, used, expired and forged mfa_tokens, reused backup codes, the step-up
 * (recent sign-in) rule of sensitive operations, and refusals of the recovery link.
 */

const MFA_AUDIENCE = 'urn:tessera:mfa';
const MFA_TOKEN_TYPE = 'mfa+jwt';
const { redisUrl } = inject('services');

describe.each(engineCases())('MFA abuse cases on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call, query } = api;
    const verify = (mfaToken: string, factor: Record<string, string>) => call('POST', '/v1/auth/mfa/verify', null, { mfa_token: mfaToken, ...factor });
    const remaining = async (accessToken: string) => (await call('GET', '/v1/me/mfa', accessToken)).json<{ backup_codes_remaining: number }>().backup_codes_remaining;

    async function passwordLogin(email: string, password = PASSWORD): Promise<Record<string, unknown>> {
      const res = await call('POST', '/v1/auth/login', null, { email, password });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Record<string, unknown>>();
    }

    /** Signs in with the password; expects an MFA challenge and answers its mfa_token. */
    const mfaToken = async (email: string): Promise<string> => (await api.challenge(email)).mfa_token;

    /** A new account with TOTP enrolled (confirmed with one code), signed in once before enrolling. */
    async function enrolled(label: string): Promise<{ email: string; userId: string; tokens: Signed; device: Authenticator; backupCodes: string[]; secret: string }> {
      const tokens = await api.signedIn(label);
      const { email, user } = tokens;
      const started = (await call('POST', '/v1/me/mfa/totp', tokens.token)).json<{ secret: string; otpauth_uri: string }>();
      const device = authenticator(started.otpauth_uri);
      const confirmed = await call('POST', '/v1/me/mfa/totp/confirm', tokens.token, { code: await device.next() });
      expect(confirmed.statusCode, confirmed.body).toBe(200);
      return { email, userId: user.id, tokens, device, backupCodes: confirmed.json<{ backup_codes: string[] }>().backup_codes, secret: started.secret };
    }

    /** Signs in through both steps with a fresh TOTP code. */
    async function signedInWithMfa(email: string, device: Authenticator): Promise<TokenBody> {
      const res = await verify(await mfaToken(email), { code: await device.next() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<TokenBody>();
    }

    /** Makes the session's last proof of its user 10 minutes old (past the 5-minute step-up window). */
    const ageSession = (sessionId: string) => query(`UPDATE sessions SET reauthenticated_at = now() - interval '10 minutes' WHERE id = $1`, [sessionId]);

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    describe('codes', () => {
      it('wrong codes count per account across mfa_tokens: past ten, even a right code is refused (429)', async () => {
        const { email, device } = await enrolled('per-account');
        for (let round = 0; round < 2; round++) {
          const token = await mfaToken(email);
          for (let i = 0; i < 4; i++) expectProblem(await verify(token, { code: device.wrong() }), 401, 'invalid_mfa_code');
        }
        const last = await mfaToken(email);
        expectProblem(await verify(last, { code: device.wrong() }), 401, 'invalid_mfa_code');
        expectProblem(await verify(last, { code: device.wrong() }), 401, 'invalid_mfa_code');
        const refused = await verify(await mfaToken(email), { code: await device.next() });
        const body = expectProblem(refused, 429, 'too_many_attempts');
        // The time left in the 15-minute window, in the header and in the body (regression: the whole window, and only the header).
        const retryAfter = Number(refused.headers['retry-after']);
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(900);
        expect(body.retry_after).toBe(retryAfter);
        // Later, less is left.
        await app.context.cache.set(`mfa:failures:${(await app.context.users.byEmail(email))!.id}`, '10', { ttlSeconds: 120 });
        const later = await verify(await mfaToken(email), { code: await device.next() });
        expectProblem(later, 429, 'too_many_attempts');
        expect(Number(later.headers['retry-after'])).toBeLessThanOrEqual(120);
        expect(later.json<{ retry_after: number }>().retry_after).toBe(Number(later.headers['retry-after']));
      });

      it('a wrong code answers 401 invalid_mfa_code, is audited, and leaves the mfa_token usable', async () => {
        const { email, userId, device } = await enrolled('wrong');
        const token = await mfaToken(email);
        expectProblem(await verify(token, { code: device.wrong() }), 401, 'invalid_mfa_code');
        const failures = await query<{ result: string; reason: string }>(`SELECT result, reason FROM audit_events WHERE action = 'mfa.verification_failed' AND target_id = $1`, [userId]);
        expect(failures).toEqual([{ result: 'failure', reason: 'attempt 1 of 5' }]);
        expect((await verify(token, { code: await device.next() })).statusCode).toBe(200);
      });

      it('a code that signed in once is refused at the next sign-in (replay), while a later code works', async () => {
        const { email, device } = await enrolled('replay');
        const code = await device.next();
        expect((await verify(await mfaToken(email), { code })).statusCode).toBe(200);
        const second = await mfaToken(email);
        expectProblem(await verify(second, { code }), 401, 'invalid_mfa_code');
        expect((await verify(second, { code: await device.next() })).statusCode).toBe(200);
      });

      it('the code that confirmed the enrolment does not sign in', async () => {
        const tokens = await api.signedIn('confirm-replay');
        const { email } = tokens;
        const device = authenticator((await call('POST', '/v1/me/mfa/totp', tokens.token)).json<{ otpauth_uri: string }>().otpauth_uri);
        const code = await device.next();
        expect((await call('POST', '/v1/me/mfa/totp/confirm', tokens.token, { code })).statusCode).toBe(200);
        expectProblem(await verify(await mfaToken(email), { code }), 401, 'invalid_mfa_code');
      });

      it('of two sign-ins racing with one code, exactly one gets in', async () => {
        const { email, device } = await enrolled('race-code');
        const [a, b] = [await mfaToken(email), await mfaToken(email)];
        const code = await device.next();
        const results = await Promise.all([verify(a, { code }), verify(b, { code })]);
        expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
      });

      it("another account's code and backup code do not work", async () => {
        const victim = await enrolled('victim');
        const attacker = await enrolled('attacker');
        const token = await mfaToken(victim.email);
        const theirs = await attacker.device.next();
        const victimNow = new Set([-1, 0, 1].map((o) => victim.device.totp.generate({ timestamp: Date.now() + o * PERIOD_MS })));
        if (!victimNow.has(theirs)) expectProblem(await verify(token, { code: theirs }), 401, 'invalid_mfa_code');
        expectProblem(await verify(token, { backup_code: attacker.backupCodes[0]! }), 401, 'invalid_mfa_code');
        expect(await remaining(attacker.tokens.token)).toBe(10);
      });

      it('malformed bodies answer 400: five digits, letters, two factors at once, no factor', async () => {
        const { email } = await enrolled('malformed');
        const token = await mfaToken(email);
        for (const body of [{ code: '12345' }, { code: 'abcdef' }, { code: '123456', backup_code: 'abcde-fghjk' }, {}, { backup_code: 'short' }]) {
          const res = await verify(token, body as Record<string, string>);
          expect(res.statusCode, JSON.stringify(body)).toBe(400);
        }
      });
    });

    describe('the mfa_token', () => {
      it('five wrong codes end it: the fifth answers invalid_mfa_token, and then even the right code does', async () => {
        const { email, device } = await enrolled('five');
        const token = await mfaToken(email);
        for (let attempt = 1; attempt <= 4; attempt++) expectProblem(await verify(token, { code: device.wrong() }), 401, 'invalid_mfa_code');
        expectProblem(await verify(token, { code: device.wrong() }), 401, 'invalid_mfa_token');
        expectProblem(await verify(token, { code: await device.next() }), 401, 'invalid_mfa_token');
        // The account is not locked: a new sign-in gets a new token with new attempts.
        expect((await verify(await mfaToken(email), { code: await device.next() })).statusCode).toBe(200);
      });

      it('works once: used again (with a new code or a backup code) it answers invalid_mfa_token, and the backup code is not spent', async () => {
        const { email, device, backupCodes, tokens } = await enrolled('once');
        const token = await mfaToken(email);
        expect((await verify(token, { code: await device.next() })).statusCode).toBe(200);
        expectProblem(await verify(token, { code: await device.next() }), 401, 'invalid_mfa_token');
        expectProblem(await verify(token, { backup_code: backupCodes[0]! }), 401, 'invalid_mfa_token');
        expect(await remaining(tokens.token)).toBe(10);
      });

      it('of two requests racing with one mfa_token (a code and a backup code), exactly one signs in', async () => {
        const { email, device, backupCodes } = await enrolled('race-token');
        const token = await mfaToken(email);
        const code = await device.next();
        const results = await Promise.all([verify(token, { code }), verify(token, { backup_code: backupCodes[0]! })]);
        expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
      });

      it('regression: of two concurrent verifications of one mfa_token with two backup codes exactly one succeeds and exactly one backup code is spent', async () => {
        const { email, backupCodes, tokens } = await enrolled('race-backup');
        const token = await mfaToken(email);
        const results = await Promise.all([verify(token, { backup_code: backupCodes[0]! }), verify(token, { backup_code: backupCodes[1]! })]);
        expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
        expect(results.find((r) => r.statusCode === 401)!.json<{ code: string }>().code).toBe('invalid_mfa_token');
        expect(await remaining(tokens.token)).toBe(9);
        // The loser's code is still good for a later sign-in.
        const loser = results[0]!.statusCode === 401 ? backupCodes[0]! : backupCodes[1]!;
        expect((await verify(await mfaToken(email), { backup_code: loser })).statusCode).toBe(200);
      });

      it('an expired one answers invalid_mfa_token', async () => {
        const { email, userId, device } = await enrolled('expired');
        // Expired a minute ago (no waiting for a real one to run out).
        const expired = await app.context.keys.sign({ jti: 'x', amr: ['pwd'] }, { subject: userId, audience: MFA_AUDIENCE, expiresInSeconds: -60, type: MFA_TOKEN_TYPE });
        expectProblem(await verify(expired, { code: await device.next() }), 401, 'invalid_mfa_token');
        expect((await verify(await mfaToken(email), { code: await device.next() })).statusCode).toBe(200);
      });

      it('an access token, a token of another type or audience, and garbage are no mfa_token', async () => {
        const { email, userId, device } = await enrolled('confusion');
        const tokens = await signedInWithMfa(email, device);
        const sid = decodeJwt(tokens.access_token).sid as string;
        // The token is checked before the code: any code shows it.
        expectProblem(await verify(tokens.access_token, { code: device.wrong() }), 401, 'invalid_mfa_token');
        const wrongType = await app.context.keys.sign({ jti: 'y', amr: ['pwd'] }, { subject: userId, audience: MFA_AUDIENCE, expiresInSeconds: 300, type: ACCESS_TOKEN_TYPE });
        expectProblem(await verify(wrongType, { code: device.wrong() }), 401, 'invalid_mfa_token');
        const wrongAudience = await app.context.keys.sign({ jti: 'z', amr: ['pwd'], sid }, { subject: userId, audience: app.config.auth.audience, expiresInSeconds: 300, type: MFA_TOKEN_TYPE });
        expectProblem(await verify(wrongAudience, { code: device.wrong() }), 401, 'invalid_mfa_token');
        expectProblem(await verify('x'.repeat(40), { code: device.wrong() }), 401, 'invalid_mfa_token');
        // The other way round: an mfa_token is no access token.
        expectProblem(await call('GET', '/v1/me', await mfaToken(email)), 401, 'invalid_token');
        expectProblem(await call('POST', '/v1/auth/mfa/recovery', null, { mfa_token: tokens.access_token }), 401, 'invalid_mfa_token');
      });
    });

    describe('backup codes', () => {
      it('a used backup code is refused the second time; the others still work', async () => {
        const { email, backupCodes, tokens } = await enrolled('backup-reuse');
        expect((await verify(await mfaToken(email), { backup_code: backupCodes[0]! })).statusCode).toBe(200);
        expectProblem(await verify(await mfaToken(email), { backup_code: backupCodes[0]! }), 401, 'invalid_mfa_code');
        expectProblem(await verify(await mfaToken(email), { backup_code: backupCodes[0]!.toUpperCase() }), 401, 'invalid_mfa_code');
        expect((await verify(await mfaToken(email), { backup_code: backupCodes[1]! })).statusCode).toBe(200);
        expect(await remaining(tokens.token)).toBe(8);
      });

      it('regenerating them (a recent sign-in) kills the old set', async () => {
        const { email, backupCodes, tokens } = await enrolled('backup-regen');
        const res = await call('POST', '/v1/me/mfa/backup-codes', tokens.token);
        expect(res.statusCode, res.body).toBe(200);
        const fresh = res.json<{ backup_codes: string[] }>().backup_codes;
        expect(fresh).toHaveLength(10);
        expect(fresh.filter((code) => backupCodes.includes(code))).toEqual([]);
        expectProblem(await verify(await mfaToken(email), { backup_code: backupCodes[0]! }), 401, 'invalid_mfa_code');
        expect((await verify(await mfaToken(email), { backup_code: fresh[0]! })).statusCode).toBe(200);
      });
    });

    describe('step-up (a recent sign-in) for sensitive operations', () => {
      it('an old session gets 403 reauthentication_required until it reauthenticates with the password', async () => {
        const { email, device, tokens: enrolment } = await enrolled('stepup');
        const tokens = await signedInWithMfa(email, device);
        const access = tokens.access_token;
        await ageSession(tokens.session_id);

        expectProblem(await call('DELETE', '/v1/me/mfa/totp', access), 403, 'reauthentication_required');
        expectProblem(await call('POST', '/v1/me/mfa/backup-codes', access), 403, 'reauthentication_required');
        expectProblem(await call('POST', '/v1/me/password', access, { current_password: PASSWORD, new_password: 'another long passphrase 7' }), 403, 'reauthentication_required');
        expectProblem(await call('POST', '/v1/me/email', access, { new_email: uniqueEmail('new'), password: PASSWORD }), 403, 'reauthentication_required');
        // Still enrolled, still asked at sign-in.
        expect((await call('GET', '/v1/me/mfa', access)).json()).toMatchObject({ totp: true, backup_codes_remaining: 10 });

        expectProblem(await call('POST', '/v1/auth/reauthenticate', access, { password: 'not the password' }), 401, 'invalid_credentials');
        expectProblem(await call('DELETE', '/v1/me/mfa/totp', access), 403, 'reauthentication_required');
        const before = Date.now();
        const res = await call('POST', '/v1/auth/reauthenticate', access, { password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        const until = new Date(res.json<{ reauthenticated_until: string }>().reauthenticated_until).getTime();
        expect(until).toBeGreaterThanOrEqual(before + 299_000);
        expect(until).toBeLessThanOrEqual(Date.now() + 301_000);

        const removed = await call('DELETE', '/v1/me/mfa/totp', access);
        expect(removed.statusCode, removed.body).toBe(204);
        expect((await call('GET', '/v1/me/mfa', access)).json()).toMatchObject({ totp: false, backup_codes_remaining: 0 });
        const login = await passwordLogin(email);
        expect(login.mfa_required).toBeUndefined();
        expect(login.access_token).toEqual(expect.any(String));
        const events = await query<{ payload: Record<string, unknown> }>(`SELECT payload FROM events WHERE type = 'mfa.disabled' AND payload->>'user_id' = $1`, [enrolment.user.id]);
        expect(events).toEqual([{ payload: { user_id: enrolment.user.id, factor: 'totp' } }]);
        // Nothing to regenerate backup codes for now; removing again finds nothing.
        expectProblem(await call('POST', '/v1/me/mfa/backup-codes', access), 409, 'no_second_factor');
        expectProblem(await call('DELETE', '/v1/me/mfa/totp', access), 404, 'totp_not_enabled');
      });

      it('reauthenticates with a TOTP code or a backup code too; a wrong code answers 401 reauthentication_failed', async () => {
        const { email, device, backupCodes } = await enrolled('stepup-code');
        const tokens = await signedInWithMfa(email, device);
        await ageSession(tokens.session_id);
        expectProblem(await call('POST', '/v1/auth/reauthenticate', tokens.access_token, { code: device.wrong() }), 401, 'reauthentication_failed');
        const res = await call('POST', '/v1/auth/reauthenticate', tokens.access_token, { code: await device.next() });
        expect(res.statusCode, res.body).toBe(200);
        const regenerated = await call('POST', '/v1/me/mfa/backup-codes', tokens.access_token);
        expect(regenerated.statusCode, regenerated.body).toBe(200);
        const set = regenerated.json<{ backup_codes: string[] }>().backup_codes;

        await ageSession(tokens.session_id);
        // The new set replaced the first: an old code fails, a new one works.
        expectProblem(await call('POST', '/v1/auth/reauthenticate', tokens.access_token, { backup_code: backupCodes[0]! }), 401, 'reauthentication_failed');
        expect((await call('POST', '/v1/auth/reauthenticate', tokens.access_token, { backup_code: set[0]! })).statusCode).toBe(200);
        expect((await call('DELETE', '/v1/me/mfa/totp', tokens.access_token)).statusCode).toBe(204);
      });

      it('reauthentication needs an access token', async () => {
        expectProblem(await call('POST', '/v1/auth/reauthenticate', null, { password: PASSWORD }), 401, 'unauthorized');
      });
    });

    describe('recovery', () => {
      async function recoveryLink(email: string): Promise<string> {
        const before = new Date();
        expect((await call('POST', '/v1/auth/mfa/recovery', null, { email })).statusCode).toBe(202);
        return recoveryToken(await waitForMail(app, { to: email, template: 'mfa.recovery', after: before }));
      }

      it('a wrong password answers 401, counts toward the lockout, removes nothing, and leaves the link usable', async () => {
        const { email, userId, tokens } = await enrolled('recover-wrong');
        const token = await recoveryLink(email);
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: 'not the password' }), 401, 'invalid_credentials');
        const [user] = await query<{ failed_login_count: number }>('SELECT failed_login_count FROM users WHERE id = $1', [userId]);
        expect(user!.failed_login_count).toBe(1);
        expect((await call('GET', '/v1/me/mfa', tokens.token)).json()).toMatchObject({ totp: true, backup_codes_remaining: 10, enrollment_required: false });
        const res = await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD }), 400, 'recovery_invalid');
      });

      it('of two completions racing with one link, exactly one signs in', async () => {
        const { email } = await enrolled('recover-race');
        const token = await recoveryLink(email);
        const results = await Promise.all([0, 1].map(() => call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD })));
        expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400]);
      });

      it('an expired link, an unknown token and a password-reset token answer 400 recovery_invalid', async () => {
        const { email, userId, tokens } = await enrolled('recover-expired');
        const token = await recoveryLink(email);
        await query(`UPDATE one_time_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = $1 AND purpose = 'mfa_recovery'`, [userId]);
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD }), 400, 'recovery_invalid');
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token: randomBytes(32).toString('base64url'), password: PASSWORD }), 400, 'recovery_invalid');

        const before = new Date();
        expect((await call('POST', '/v1/auth/password/forgot', null, { email })).statusCode).toBe(202);
        const reset = await waitForMail(app, { to: email, template: 'accounts.password_reset', after: before });
        const resetToken = decodeURIComponent(/\/reset-password\?token=([^\s"'<>&]+)/.exec(reset.text)![1]!);
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token: resetToken, password: PASSWORD }), 400, 'recovery_invalid');
        expect((await call('GET', '/v1/me/mfa', tokens.token)).json()).toMatchObject({ totp: true });
      });

      it('asking twice within a minute mails one link', async () => {
        const { email } = await enrolled('recover-throttle');
        await recoveryLink(email);
        expect((await call('POST', '/v1/auth/mfa/recovery', null, { email })).statusCode).toBe(202);
        await drainMail(app);
        expect(await findMails(app, { to: email, template: 'mfa.recovery' })).toHaveLength(1);
      });
    });

    it('logs carry no TOTP secret, code, backup code, mfa_token or recovery token', async () => {
      const { email, device, backupCodes, secret } = await enrolled('logs');
      const token = await mfaToken(email);
      const code = await device.next();
      expect((await verify(token, { code })).statusCode).toBe(200);
      const other = await mfaToken(email);
      expect((await verify(other, { backup_code: backupCodes[0]! })).statusCode).toBe(200);
      const before = new Date();
      await call('POST', '/v1/auth/mfa/recovery', null, { email });
      const recovery = recoveryToken(await waitForMail(app, { to: email, template: 'mfa.recovery', after: before }));
      const logs = app.logs.text();
      expect(logs.length).toBeGreaterThan(0);
      // The code as a JSON string: six bare digits turn up by chance in response times.
      for (const value of [secret, `"${code}"`, backupCodes[0]!, backupCodes[0]!.replace('-', ''), token, other, recovery]) expect(logs).not.toContain(value);
    });
  });
});

describe.each(engineCases())('MFA recovery requests on $engine (job workers off)', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const post = (url: string, payload: Record<string, unknown>, token?: string) => api.call('POST', url, token ?? null, payload);
    const { query } = api;

    beforeAll(async () => {
      app = await createTestApp({ engine, build: { workers: false } });
    });
    afterAll(async () => app?.destroy());

    it('regression (timing): an account with TOTP and an unknown address get the same request work: one queued job each, no link, mail or audit made before the 202', async () => {
      const { email, user, token: access } = await api.signedIn('recovery-structure');
      const started = await post('/v1/me/mfa/totp', {}, access);
      const device = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
      expect((await post('/v1/me/mfa/totp/confirm', { code: await device.next() }, access)).statusCode).toBe(200);
      const unknown = uniqueEmail('recovery-nobody');

      const known = await post('/v1/auth/mfa/recovery', { email });
      const nobody = await post('/v1/auth/mfa/recovery', { email: unknown });
      expect([known.statusCode, nobody.statusCode]).toEqual([202, 202]);
      expect(known.json()).toEqual(nobody.json());

      const jobs = await query<{ data: { email?: string; client: Record<string, unknown> } }>(`SELECT data FROM pgboss.job WHERE name = 'mfa.recovery' ORDER BY created_on`);
      expect(jobs.map((job) => job.data.email)).toEqual([email, unknown]);
      expect(jobs.map((job) => Object.keys(job.data).sort())).toEqual([['client', 'email'], ['client', 'email']]);
      // Nothing of the per-account work happened in the request.
      expect(await query(`SELECT id FROM one_time_tokens WHERE user_id = $1 AND purpose = 'mfa_recovery'`, [user.id])).toEqual([]);
      expect(await query(`SELECT id FROM audit_events WHERE action = 'mfa.recovery_requested'`)).toEqual([]);
      expect(await query(`SELECT id FROM communication_logs WHERE template = 'mfa.recovery'`)).toEqual([]);
    });
  });
});
