import { decodeJwt } from 'jose';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { authenticator, PERIOD_MS, recoveryToken, type Authenticator } from '../helpers/authenticator.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, findMails, uniqueEmail, waitForMail, type TokenBody } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';

/*
 * Second factors end to end through HTTP on each engine (PGlite with the in-process cache,
 * PostgreSQL with Redis): enrolling an authenticator app, signing in with it or a backup code,
 * recovery by email, and the enrolment requirement (after a recovery, and by MFA_REQUIRED). Codes are
 * made by an independent library (otpauth) from the otpauth:// URI the server answered.
 */

const { redisUrl } = inject('services');

interface MfaStatusBody {
  totp: boolean;
  passkeys: number;
  backup_codes_remaining: number;
  enrollment_required: boolean;
}

/** The shared test client of one app, with the second-factor steps. */
function harness(getApp: () => TestApp) {
  const api = testClient(getApp);
  const { call } = api;

  /** Signs in with the password; expects tokens (no second factor due). */
  async function passwordOnly(email: string): Promise<TokenBody> {
    const res = await call('POST', '/v1/auth/login', null, { email, password: PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<TokenBody & { mfa_required?: boolean }>();
    expect(body.mfa_required).toBeUndefined();
    expect(body.access_token).toEqual(expect.any(String));
    return body;
  }

  /** Starts and confirms TOTP with this access token; answers the app and the backup codes. */
  async function enrolTotp(accessToken: string): Promise<{ app: Authenticator; backupCodes: string[]; secret: string; uri: string }> {
    const started = await call('POST', '/v1/me/mfa/totp', accessToken);
    expect(started.statusCode, started.body).toBe(200);
    const { secret, otpauth_uri: uri } = started.json<{ secret: string; otpauth_uri: string }>();
    const device = authenticator(uri);
    const confirmed = await call('POST', '/v1/me/mfa/totp/confirm', accessToken, { code: await device.next() });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    return { app: device, backupCodes: confirmed.json<{ backup_codes: string[] }>().backup_codes, secret, uri };
  }

  /** A new account with an enrolled authenticator app. */
  async function enrolled(label: string) {
    const { email, user } = await api.signedUp(label);
    const tokens = await passwordOnly(email);
    const totp = await enrolTotp(tokens.access_token);
    return { email, user, tokens, ...totp };
  }

  const verify = (mfaToken: string, factor: Record<string, string>) => call('POST', '/v1/auth/mfa/verify', null, { mfa_token: mfaToken, ...factor });
  const status = async (accessToken: string): Promise<MfaStatusBody> => {
    const res = await call('GET', '/v1/me/mfa', accessToken);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<MfaStatusBody>();
  };
  /** The audit entries of an action on a user: result, reason and actor. */
  const auditOf = async (userId: string, action: string) =>
    (await api.auditRows({ targetId: userId, action })).map(({ result, reason, actor_id }) => ({ result, reason, actor_id }));
  /** The outbox events of a type about a user (payload.user_id). */
  const eventsOf = (userId: string, type: string) =>
    api.query<{ payload: Record<string, unknown> }>(`SELECT payload FROM events WHERE type = $1 AND payload->>'user_id' = $2 ORDER BY created_at, id`, [type, userId]);

  return { ...api, passwordOnly, enrolTotp, enrolled, verify, status, auditOf, eventsOf };
}

describe.each(engineCases())('MFA on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const h = harness(() => app);
    const { call } = h;

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    describe('enrolling an authenticator app', () => {
      it('POST /v1/me/mfa/totp answers a secret, an otpauth URI an independent library reads, and an SVG QR code', async () => {
        const { email } = await h.signedUp('totp-start');
        const tokens = await h.passwordOnly(email);
        const res = await call('POST', '/v1/me/mfa/totp', tokens.access_token);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const body = res.json<{ secret: string; otpauth_uri: string; qr_svg: string }>();
        expect(body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
        const parsed = OTPAuth.URI.parse(body.otpauth_uri);
        expect(parsed).toBeInstanceOf(OTPAuth.TOTP);
        const totp = parsed as OTPAuth.TOTP;
        expect(totp.issuer).toBe('Tessera');
        expect(totp.label).toBe(email);
        expect(totp.algorithm).toBe('SHA1');
        expect(totp.digits).toBe(6);
        expect(totp.period).toBe(30);
        expect(totp.secret.base32).toBe(body.secret);
        expect(totp.secret.bytes.length).toBeGreaterThanOrEqual(20);
        expect(body.qr_svg.trimStart()).toMatch(/^<svg[\s>]/);
        expect(body.qr_svg).toContain('</svg>');

        // Not active before it is confirmed: no second step at sign-in yet.
        expect(await h.status(tokens.access_token)).toEqual({ totp: false, passkeys: 0, backup_codes_remaining: 0, enrollment_required: false });
        await h.passwordOnly(email);
        // The secret is stored sealed, never in clear.
        const [row] = await h.query<{ secret_sealed: string; confirmed_at: Date | null }>('SELECT secret_sealed, confirmed_at FROM mfa_totp WHERE user_id = $1', [tokens.user.id]);
        expect(row!.confirmed_at).toBeNull();
        expect(row!.secret_sealed).not.toContain(body.secret);
      });

      it('confirming with a code enables it and answers 10 distinct backup codes; an mfa.enabled event and audit entry are written', async () => {
        const { email, user } = await h.signedUp('totp-confirm');
        const tokens = await h.passwordOnly(email);
        const started = (await call('POST', '/v1/me/mfa/totp', tokens.access_token)).json<{ otpauth_uri: string }>();
        const device = authenticator(started.otpauth_uri);

        // A wrong code enables nothing.
        expectProblem(await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: device.wrong() }), 401, 'invalid_mfa_code');
        expect((await h.status(tokens.access_token)).totp).toBe(false);

        const res = await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: await device.next() });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const codes = res.json<{ backup_codes: string[] }>().backup_codes;
        expect(codes).toHaveLength(10);
        expect(new Set(codes).size).toBe(10);
        for (const code of codes) expect(code.replace(/-/g, '').length).toBeGreaterThanOrEqual(10);

        expect(await h.status(tokens.access_token)).toEqual({ totp: true, passkeys: 0, backup_codes_remaining: 10, enrollment_required: false });
        expect(await h.eventsOf(user.id, 'mfa.enabled')).toEqual([{ payload: { user_id: user.id, factor: 'totp' } }]);
        expect(await h.auditOf(user.id, 'mfa.enabled')).toEqual([{ result: 'success', reason: null, actor_id: user.id }]);
        expect(await h.auditOf(user.id, 'mfa.verification_failed')).toEqual([expect.objectContaining({ result: 'failure' })]);

        // Backup codes are stored as keyed hashes only.
        const stored = await h.query<{ code_hash: string }>('SELECT code_hash FROM mfa_backup_codes WHERE user_id = $1', [user.id]);
        expect(stored).toHaveLength(10);
        const normalised = codes.map((code) => code.replace(/-/g, ''));
        for (const { code_hash: hash } of stored) for (const code of normalised) expect(hash).not.toContain(code);

        // Once enabled, neither a second start nor a second confirmation is possible.
        expectProblem(await call('POST', '/v1/me/mfa/totp', tokens.access_token), 409, 'totp_already_enabled');
        expectProblem(await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: await device.next() }), 409, 'totp_already_enabled');
      });

      it('confirming before starting answers 409 totp_not_started; a malformed code 400', async () => {
        const { email } = await h.signedUp('totp-unstarted');
        const tokens = await h.passwordOnly(email);
        expectProblem(await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: '123456' }), 409, 'totp_not_started');
        expect((await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: '12345' })).statusCode).toBe(400);
        expect((await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: 'abcdef' })).statusCode).toBe(400);
        expectProblem(await call('POST', '/v1/me/mfa/totp', null), 401, 'unauthorized');
      });

      it('a restarted, unconfirmed enrolment replaces the secret: codes of the first one no longer confirm', async () => {
        const { email } = await h.signedUp('totp-restart');
        const tokens = await h.passwordOnly(email);
        const first = authenticator((await call('POST', '/v1/me/mfa/totp', tokens.access_token)).json<{ otpauth_uri: string }>().otpauth_uri);
        const second = authenticator((await call('POST', '/v1/me/mfa/totp', tokens.access_token)).json<{ otpauth_uri: string }>().otpauth_uri);
        expect(first.totp.secret.base32).not.toBe(second.totp.secret.base32);
        const stale = await first.next();
        if (!new Set([-1, 0, 1].map((o) => second.totp.generate({ timestamp: Date.now() + o * PERIOD_MS }))).has(stale)) {
          expectProblem(await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: stale }), 401, 'invalid_mfa_code');
        }
        expect((await call('POST', '/v1/me/mfa/totp/confirm', tokens.access_token, { code: await second.next() })).statusCode).toBe(200);
      });
    });

    describe('signing in with a second factor', () => {
      it('login answers the first step only: {mfa_required, mfa_token, methods}, and the mfa_token is no access token', async () => {
        const { email, user } = await h.enrolled('login-step');
        const res = await call('POST', '/v1/auth/login', null, { email, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const body = res.json<Record<string, unknown>>();
        // email_otp too: the (verified) address is an alternative once an app is enrolled.
        expect(body).toEqual({ mfa_required: true, mfa_token: expect.any(String), methods: ['totp', 'email_otp', 'backup_code'] });
        expectProblem(await call('GET', '/v1/me', body.mfa_token as string), 401, 'invalid_token');
        expectProblem(await call('GET', '/v1/me/mfa', body.mfa_token as string), 401, 'invalid_token');
        // The first factor is audited as such; no session exists yet.
        expect(await h.auditOf(user.id, 'auth.first_factor')).toEqual([expect.objectContaining({ result: 'success', reason: 'pwd; second factor due' })]);
      });

      it('POST /v1/auth/mfa/verify with a TOTP code answers tokens whose amr lists pwd, otp and mfa', async () => {
        const { email, user, app: device } = await h.enrolled('verify-totp');
        const { mfa_token: mfaToken } = await h.challenge(email);
        const res = await h.verify(mfaToken, { code: await device.next() });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const tokens = res.json<TokenBody>();
        expect(tokens).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String), session_id: expect.any(String) });
        expect(tokens.user.id).toBe(user.id);
        const claims = decodeJwt(tokens.access_token);
        expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
        expect(claims.amr).not.toContain('backup_code');
        expect(claims.mfa_enroll).toBeUndefined();
        expect((await call('GET', '/v1/me', tokens.access_token)).statusCode).toBe(200);
        const [session] = await h.query<{ amr: string[] }>('SELECT amr FROM sessions WHERE id = $1', [tokens.session_id]);
        expect(session!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
        const [login] = await h.query<{ action: string }>(`SELECT action FROM audit_events WHERE action = 'auth.login_mfa' AND target_id = $1`, [tokens.session_id]);
        expect(login).toBeDefined();
      });

      it('a backup code signs in once (amr backup_code), mails the owner, and leaves 9', async () => {
        const { email, user, tokens: first, backupCodes } = await h.enrolled('verify-backup');
        const before = new Date();
        const { mfa_token: mfaToken } = await h.challenge(email);
        // Typed by hand: case and the dash do not matter.
        const res = await h.verify(mfaToken, { backup_code: backupCodes[3]!.toUpperCase().replace('-', '') });
        expect(res.statusCode, res.body).toBe(200);
        const tokens = res.json<TokenBody>();
        expect(decodeJwt(tokens.access_token).amr).toEqual(expect.arrayContaining(['pwd', 'backup_code', 'mfa']));

        const mail = await waitForMail(app, { to: email, template: 'mfa.backup_code_used', after: before });
        expect(mail.text).toMatch(/Codes left\s*:?\s*9/);
        expect(mail.text).not.toContain(backupCodes[3]!);
        expect((await h.status(first.access_token)).backup_codes_remaining).toBe(9);
        expect(await h.auditOf(user.id, 'mfa.backup_code_used')).toEqual([{ result: 'success', reason: '9 left', actor_id: user.id }]);
        expect(await h.eventsOf(user.id, 'mfa.backup_code_used')).toEqual([{ payload: { user_id: user.id, remaining: 9 } }]);
      });
    });

    describe('recovery by email', () => {
      it('mails a one-time link; completing it with the password signs in (amr recovery), removes TOTP, mails and audits', async () => {
        const { email, user, tokens: earlier } = await h.enrolled('recover');
        const before = new Date();
        const asked = await call('POST', '/v1/auth/mfa/recovery', null, { email });
        expect(asked.statusCode, asked.body).toBe(202);
        const mail = await waitForMail(app, { to: email, template: 'mfa.recovery', after: before });
        const token = recoveryToken(mail);
        expect(await h.auditOf(user.id, 'mfa.recovery_requested')).toHaveLength(1);

        const res = await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        const tokens = res.json<TokenBody>();
        const claims = decodeJwt(tokens.access_token);
        expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'recovery']));
        expect(claims.amr).not.toContain('mfa');
        expect(claims.mfa_enroll).toBe(true);

        expect(await h.status(tokens.access_token)).toEqual({ totp: false, passkeys: 0, backup_codes_remaining: 0, enrollment_required: true });
        // Sessions from before the recovery (perhaps on the lost device) are ended.
        expectProblem(await call('GET', '/v1/me', earlier.access_token), 401, 'invalid_token');
        await waitForMail(app, { to: email, template: 'mfa.recovery_used', after: before });
        expect(await h.auditOf(user.id, 'mfa.recovery_used')).toEqual([expect.objectContaining({ result: 'success', actor_id: user.id })]);
        expect(await h.eventsOf(user.id, 'mfa.recovery_used')).toEqual([{ payload: { user_id: user.id } }]);
        // The link works once.
        expectProblem(await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD }), 400, 'recovery_invalid');
        // The password alone now signs in, and the new tokens say the user must enrol again.
        const again = await h.passwordOnly(email);
        expect(decodeJwt(again.access_token).mfa_enroll).toBe(true);
      });

      it('the mfa_token of a sign-in also asks for the link', async () => {
        const { email } = await h.enrolled('recover-token');
        const before = new Date();
        const { mfa_token: mfaToken } = await h.challenge(email);
        const res = await call('POST', '/v1/auth/mfa/recovery', null, { mfa_token: mfaToken });
        expect(res.statusCode, res.body).toBe(202);
        const mail = await waitForMail(app, { to: email, template: 'mfa.recovery', after: before });
        const complete = await call('POST', '/v1/auth/mfa/recovery/complete', null, { token: recoveryToken(mail), password: PASSWORD });
        expect(complete.statusCode, complete.body).toBe(200);
      });

      it('answers 202 and mails nothing for an unknown address or an account without a second factor', async () => {
        const unknown = uniqueEmail('nobody');
        const { email: plain } = await h.signedUp('recover-plain');
        expect((await call('POST', '/v1/auth/mfa/recovery', null, { email: unknown })).statusCode).toBe(202);
        expect((await call('POST', '/v1/auth/mfa/recovery', null, { email: plain })).statusCode).toBe(202);
        await drainMail(app);
        expect(await findMails(app, { to: unknown })).toEqual([]);
        expect(await findMails(app, { to: plain, template: 'mfa.recovery' })).toEqual([]);
      });
    });

    // Regression (PGlite): signing in after a recovery waited forever on the database the sign-in held.
    describe('the enrolment requirement after a recovery', () => {
      it('allows only the enrolment endpoints until a factor is enrolled, then the same token works everywhere', async () => {
        const { email, user } = await h.enrolled('enforce');
        const before = new Date();
        await call('POST', '/v1/auth/mfa/recovery', null, { email });
        const token = recoveryToken(await waitForMail(app, { to: email, template: 'mfa.recovery', after: before }));
        const access = (await call('POST', '/v1/auth/mfa/recovery/complete', null, { token, password: PASSWORD })).json<TokenBody>().access_token;
        expect(decodeJwt(access).mfa_enroll).toBe(true);

        expect((await call('GET', '/v1/me', access)).statusCode).toBe(200);
        expectProblem(await call('PATCH', '/v1/me', access, { name: 'Blocked' }), 403, 'mfa_enrollment_required');
        expectProblem(await call('GET', '/v1/me/sessions', access), 403, 'mfa_enrollment_required');
        expect((await h.status(access)).enrollment_required).toBe(true);

        await h.enrolTotp(access);
        const patched = await call('PATCH', '/v1/me', access, { name: 'Enrolled' });
        expect(patched.statusCode, patched.body).toBe(200);
        expect((await h.status(access)).enrollment_required).toBe(false);
        const [row] = await h.query<{ mfa_reenroll_required: boolean }>('SELECT mfa_reenroll_required FROM users WHERE id = $1', [user.id]);
        expect(row!.mfa_reenroll_required).toBe(false);
        // Sign-ins ask for the new factor again.
        expect((await h.challenge(email)).methods).toEqual(['totp', 'email_otp', 'backup_code']);
      });
    });
  });
});

// Regression: on PGlite a sign-in that owed an enrolment (a policy, or after a recovery) hung the database for good.
describe('MFA_REQUIRED policies (PGlite)', () => {
  describe('MFA_REQUIRED=all', () => {
    let app: TestApp;
    const h = harness(() => app);
    beforeAll(async () => {
      app = await createEngineApp('pglite', { MFA_REQUIRED: 'all' });
    });
    afterAll(async () => app?.destroy());

    it('a user without a factor gets mfa_enrollment_required everywhere but the enrolment endpoints, and can enrol', async () => {
      const { email } = await h.signedUp('policy-all');
      const tokens = await h.passwordOnly(email);
      expect(decodeJwt(tokens.access_token).mfa_enroll).toBe(true);
      expect((await h.call('GET', '/v1/me', tokens.access_token)).statusCode).toBe(200);
      expectProblem(await h.call('PATCH', '/v1/me', tokens.access_token, { name: 'Nope' }), 403, 'mfa_enrollment_required');
      expect(await h.status(tokens.access_token)).toEqual({ totp: false, passkeys: 0, backup_codes_remaining: 0, enrollment_required: true });

      await h.enrolTotp(tokens.access_token);
      const res = await h.call('PATCH', '/v1/me', tokens.access_token, { name: 'Enrolled' });
      expect(res.statusCode, res.body).toBe(200);
      expect((await h.status(tokens.access_token)).enrollment_required).toBe(false);
      // The policy's only factor cannot be removed (add a passkey first).
      expectProblem(await h.call('DELETE', '/v1/me/mfa/totp', tokens.access_token), 409, 'mfa_required_by_policy');
      expect((await h.status(tokens.access_token)).totp).toBe(true);
    });
  });

  describe('MFA_REQUIRED=admins', () => {
    let app: TestApp;
    const h = harness(() => app);
    beforeAll(async () => {
      app = await createEngineApp('pglite', { MFA_REQUIRED: 'admins' });
    });
    afterAll(async () => app?.destroy());

    it('leaves a normal user alone', async () => {
      const { email } = await h.signedUp('policy-user');
      const tokens = await h.passwordOnly(email);
      expect(decodeJwt(tokens.access_token).mfa_enroll).toBeUndefined();
      expect((await h.call('PATCH', '/v1/me', tokens.access_token, { name: 'Free' })).statusCode).toBe(200);
      expect((await h.status(tokens.access_token)).enrollment_required).toBe(false);
    });

    it('holds a platform administrator to enrolment', async () => {
      const { email, user } = await h.signedUp('policy-admin');
      await h.query('UPDATE users SET is_platform_admin = true WHERE id = $1', [user.id]);
      const tokens = await h.passwordOnly(email);
      expect(decodeJwt(tokens.access_token).mfa_enroll).toBe(true);
      expectProblem(await h.call('PATCH', '/v1/me', tokens.access_token, { name: 'Admin' }), 403, 'mfa_enrollment_required');
      await h.enrolTotp(tokens.access_token);
      expect((await h.call('PATCH', '/v1/me', tokens.access_token, { name: 'Admin' })).statusCode).toBe(200);
    });
  });
});
