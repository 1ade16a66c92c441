import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import type { LightMyRequestResponse as Response } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import {
  drainMail, findMails, linkToken, login, mailCode, signUp, signUpAndVerify, uniqueEmail, waitForMail, type TokenBody, type UserBody,
} from '../helpers/outbox.js';

/*
 * The /v1/auth endpoints and the JWKS, end to end through HTTP on each engine: PGlite with the
 * in-process cache, PostgreSQL with Redis. Mail goes to the outbox table through the job workers.
 */

const NEW_PASSWORD = 'a whole new passphrase 42';
const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0';
const { redisUrl } = inject('services');

describe.each(engineCases())('auth endpoints on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const post = (url: string, payload?: unknown) => api.call('POST', url, null, payload);
    const me = (token: string) => api.call('GET', '/v1/me', token);
    const userRow = async (id: string) =>
      (await api.query<{ email: string; email_verified: boolean; password_hash: string | null; name: string | null }>(
        'SELECT email, email_verified, password_hash, name FROM users WHERE id = $1',
        [id],
      ))[0];
    const sessionRow = async (id: string) =>
      (await api.query<{ revoked_at: Date | null; revoked_reason: string | null }>('SELECT revoked_at, revoked_reason FROM sessions WHERE id = $1', [id]))[0];

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    describe('POST /v1/auth/signup', () => {
      it('creates an unverified account (trimmed email, name) and mails a verification link and code', async () => {
        const email = uniqueEmail('signup');
        const res = await post('/v1/auth/signup', { email: `  ${email}\t`, password: PASSWORD, name: 'Ada Lovelace' });
        expect(res.statusCode, res.body).toBe(201);
        const body = res.json<{ user: UserBody }>();
        expect(Object.keys(body)).toEqual(['user']);
        expect(body.user).toEqual({
          id: expect.stringMatching(/^usr_[0-9a-z]{26}$/),
          email,
          email_verified: false,
          name: 'Ada Lovelace',
          locale: null,
          timezone: null,
          phone: null,
          phone_verified: false,
          created_at: expect.stringMatching(/Z$/),
          updated_at: expect.stringMatching(/Z$/),
        });
        const row = await userRow(body.user.id);
        expect(row).toMatchObject({ email, email_verified: false, name: 'Ada Lovelace' });
        expect(row!.password_hash).toMatch(/^\$argon2id\$/);

        const mail = await waitForMail(app, { to: email, template: 'accounts.verify_email' });
        expect(mail.text).toContain(`${app.config.publicUrl}/verify-email?token=`);
        expect(linkToken(mail, 'verify-email').length).toBeGreaterThanOrEqual(16);
        expect(mailCode(mail)).toMatch(/^\d{6}$/);
        expect(mail.text).toContain('Ada Lovelace');
      });

      it('keeps the language the person signed up in (canonical BCP 47): the verification mail speaks it; a malformed tag is refused and nothing is created', async () => {
        const email = uniqueEmail('signup-es');
        const res = await post('/v1/auth/signup', { email, password: PASSWORD, locale: 'ES-es' });
        expect(res.statusCode, res.body).toBe(201);
        expect(res.json<{ user: UserBody }>().user.locale).toBe('es-ES');
        const mail = await waitForMail(app, { to: email, template: 'accounts.verify_email' });
        expect(mail.subject).toMatch(/^Verifica tu dirección de correo/);

        const refused = uniqueEmail('signup-bad-locale');
        for (const locale of ['', 'español', 'e', 'es_ES', 'x'.repeat(40)]) {
          const bad = expectProblem(await post('/v1/auth/signup', { email: refused, password: PASSWORD, locale }), 400, 'validation_failed');
          expect(JSON.stringify(bad.errors), locale).toContain('locale');
        }
        expect(await app.context.db.sql.query('SELECT 1 FROM users WHERE email = $1', [refused]).then((r) => r.rows.length)).toBe(0);
      });

      it('refuses a weak password with 422 weak_password, listing every broken rule, and creates nothing', async () => {
        const email = `pass@${randomBytes(5).toString('hex')}.test`;
        const res = await post('/v1/auth/signup', { email, password: 'pass' });
        const body = expectProblem(res, 422, 'weak_password');
        const errors = body.errors as { path: string; rule: string; message: string }[];
        expect(errors.map((e) => e.rule)).toEqual(['too_short', 'too_common', 'same_as_email']);
        for (const error of errors) expect(error).toEqual({ path: 'body.password', rule: error.rule, message: expect.any(String) });
        expect(await api.query('SELECT id FROM users WHERE lower(email) = lower($1)', [email])).toHaveLength(0);
      });

      it.each([
        ['spaces only', '          ', ['whitespace_only', 'too_short']],
        ['a common password with trailing spaces', 'password      ', ['too_common']],
        ['three characters padded to eight with spaces', 'xq7     ', ['too_short']],
      ])('regression: refuses %s with 422 weak_password naming the rule, and creates nothing', async (_label, password, expected) => {
        const email = uniqueEmail('whitespace');
        const body = expectProblem(await post('/v1/auth/signup', { email, password }), 422, 'weak_password');
        expect((body.errors as { rule: string }[]).map((e) => e.rule)).toEqual(expected);
        expect(await api.query('SELECT id FROM users WHERE lower(email) = lower($1)', [email])).toHaveLength(0);
      });

      it('stores the password as typed: surrounding spaces are part of it at sign-in', async () => {
        const email = uniqueEmail('spaced');
        await signUp(app, email, `  ${PASSWORD}  `);
        expect((await login(app, email, `  ${PASSWORD}  `)).user.email).toBe(email);
        expectProblem(await post('/v1/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
      });

      it('refuses an address that is not one with 422 invalid_email', async () => {
        const res = await post('/v1/auth/signup', { email: 'no-at-sign.example.test', password: PASSWORD });
        expectProblem(res, 422, 'invalid_email');
      });

      it('answers 400 validation_failed for a missing password and for an extra field', async () => {
        const missing = expectProblem(await post('/v1/auth/signup', { email: uniqueEmail('nopw') }), 400, 'validation_failed');
        expect(missing.errors).toContainEqual({ path: 'body.password', message: expect.any(String) });
        const extra = expectProblem(
          await post('/v1/auth/signup', { email: uniqueEmail('extra'), password: PASSWORD, is_platform_admin: true }),
          400,
          'validation_failed',
        );
        expect(extra.errors).toContainEqual({ path: 'body.is_platform_admin', message: 'is not allowed' });
      });

      it('answers a taken address (in other case) like a new one, mails the owner, and creates no second user', async () => {
        const email = uniqueEmail('taken');
        const first = await signUp(app, email, PASSWORD, 'Owner');
        const res = await post('/v1/auth/signup', { email: email.toUpperCase(), password: 'another fine passphrase', name: 'Intruder' });
        expect(res.statusCode, res.body).toBe(201);
        const second = res.json<{ user: UserBody }>();
        expect(Object.keys(second)).toEqual(['user']);
        expect(Object.keys(second.user).sort()).toEqual(Object.keys(first).sort());
        expect(second.user).toMatchObject({ email: email.toUpperCase(), email_verified: false, name: 'Intruder', locale: null, timezone: null });
        expect(second.user.id).toMatch(/^usr_[0-9a-z]{26}$/);
        expect(second.user.id).not.toBe(first.id);

        const notice = await waitForMail(app, { to: email, template: 'accounts.signup_existing' });
        expect(notice.to).toBe(email);
        expect(await api.query('SELECT id, name FROM users WHERE lower(email) = lower($1)', [email])).toEqual([{ id: first.id, name: 'Owner' }]);
        // The owner's password still works; the second one was never stored.
        expect((await post('/v1/auth/login', { email, password: 'another fine passphrase' })).statusCode).toBe(401);
      });
    });

    describe('POST /v1/auth/verify-email and /resend', () => {
      it('verifies with the link token and the password (200, email_verified, password kept) and refuses the same token again with 400 invalid_link', async () => {
        const email = uniqueEmail('verify-token');
        const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
        const token = linkToken(await waitForMail(app, { to: email, template: 'accounts.verify_email' }), 'verify-email');
        const res = await post('/v1/auth/verify-email', { token, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toEqual({ user: expect.objectContaining({ id: user.id, email, email_verified: true }), password_cleared: false });
        expect((await userRow(user.id))!.email_verified).toBe(true);
        expectProblem(await post('/v1/auth/verify-email', { token }), 400, 'invalid_link');
        expect((await login(app, email, PASSWORD)).user.id).toBe(user.id);
      });

      it('verifies with the address and the 6-digit code', async () => {
        const email = uniqueEmail('verify-code');
        const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
        const code = mailCode(await waitForMail(app, { to: email, template: 'accounts.verify_email' }));
        const res = await post('/v1/auth/verify-email', { email, code, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json<{ user: UserBody }>().user).toMatchObject({ id: user.id, email_verified: true });
        expect((await userRow(user.id))!.email_verified).toBe(true);
      });

      it('refuses a wrong code with 400 invalid_code; after 5 wrong codes the right one no longer works', async () => {
        const email = uniqueEmail('verify-wrong');
        const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
        const code = mailCode(await waitForMail(app, { to: email, template: 'accounts.verify_email' }));
        const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
        for (let i = 0; i < 5; i++) expectProblem(await post('/v1/auth/verify-email', { email, code: wrong }), 400, 'invalid_code');
        expectProblem(await post('/v1/auth/verify-email', { email, code }), 400, 'invalid_code');
        expect((await userRow(user.id))!.email_verified).toBe(false);
      });

      it('answers 400 validation_failed for a code that is not 6 digits, and invalid_code for an unknown address', async () => {
        expectProblem(await post('/v1/auth/verify-email', { email: uniqueEmail('x'), code: '12345' }), 400, 'validation_failed');
        expectProblem(await post('/v1/auth/verify-email', { email: uniqueEmail('nobody'), code: '123456' }), 400, 'invalid_code');
      });

      it('resend answers 202 and mails a new link that supersedes the first', async () => {
        const email = uniqueEmail('resend');
        await signUp(app, email, PASSWORD, undefined, { verified: false });
        const first = await waitForMail(app, { to: email, template: 'accounts.verify_email' });
        const res = await post('/v1/auth/verify-email/resend', { email });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });
        const second = await waitForMail(app, { to: email, template: 'accounts.verify_email', after: first.id });
        expect(linkToken(second, 'verify-email')).not.toBe(linkToken(first, 'verify-email'));
        expectProblem(await post('/v1/auth/verify-email', { token: linkToken(first, 'verify-email') }), 400, 'invalid_link');
        expect((await post('/v1/auth/verify-email', { token: linkToken(second, 'verify-email') })).statusCode).toBe(200);
      });

      it('resend twice within a minute answers 202 both times but mails once', async () => {
        const email = uniqueEmail('resend-twice');
        await signUp(app, email, PASSWORD, undefined, { verified: false });
        const first = await waitForMail(app, { to: email, template: 'accounts.verify_email' });
        expect((await post('/v1/auth/verify-email/resend', { email })).statusCode).toBe(202);
        expect((await post('/v1/auth/verify-email/resend', { email })).statusCode).toBe(202);
        await drainMail(app);
        expect(await findMails(app, { to: email, template: 'accounts.verify_email', after: first.id })).toHaveLength(1);
      });

      it('resend for an unknown address answers 202 and mails nothing', async () => {
        const email = uniqueEmail('resend-unknown');
        const res = await post('/v1/auth/verify-email/resend', { email });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });
        await drainMail(app);
        expect(await findMails(app, { to: email })).toEqual([]);
      });
    });

    describe('POST /v1/auth/login', () => {
      it('answers 200 with a Bearer pair whose access token carries the expected claims', async () => {
        const email = uniqueEmail('login');
        const user = await signUpAndVerify(app, email, PASSWORD);
        const res = await post('/v1/auth/login', { email, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const body = res.json<TokenBody>();
        expect(body).toEqual({
          token_type: 'Bearer',
          access_token: expect.any(String),
          refresh_token: expect.stringMatching(/^rt_/),
          expires_in: 900,
          session_id: expect.stringMatching(/^ses_[0-9a-z]{26}$/),
          user: { ...user, updated_at: expect.any(String) },
        });
        const header = decodeProtectedHeader(body.access_token);
        expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
        const claims = decodeJwt(body.access_token);
        expect(claims).toEqual({
          iss: app.config.publicUrl,
          aud: app.config.auth.audience,
          sub: user.id,
          sid: body.session_id,
          jti: expect.any(String),
          iat: expect.any(Number),
          exp: expect.any(Number),
          email_verified: true,
          amr: ['pwd'],
        });
        expect(claims.exp! - claims.iat!).toBe(900);
        expect((await me(body.access_token)).json()).toMatchObject({ id: user.id, email });
      });

      it('answers a wrong password and an unknown address with the same 401 invalid_credentials', async () => {
        const email = uniqueEmail('login-wrong');
        await signUp(app, email, PASSWORD);
        const wrong = expectProblem(await post('/v1/auth/login', { email, password: 'not the password at all' }), 401, 'invalid_credentials');
        const unknown = expectProblem(await post('/v1/auth/login', { email: uniqueEmail('nobody'), password: 'not the password at all' }), 401, 'invalid_credentials');
        const { request_id: a, ...wrongRest } = wrong;
        const { request_id: b, ...unknownRest } = unknown;
        expect(a).not.toBe(b);
        expect(wrongRest).toEqual(unknownRest);
      });

      it('mails accounts.new_sign_in for a sign-in from a second, new device, not for the first sign-in', async () => {
        const email = uniqueEmail('new-device');
        await signUp(app, email, PASSWORD);
        await login(app, email, PASSWORD, { 'user-agent': CHROME_LINUX });
        await drainMail(app);
        expect(await findMails(app, { to: email, template: 'accounts.new_sign_in' })).toEqual([]);

        await login(app, email, PASSWORD, { 'user-agent': FIREFOX_MAC });
        const notice = await waitForMail(app, { to: email, template: 'accounts.new_sign_in' });
        expect(notice.text).toContain('Firefox on Mac OS');
        // A device already seen (another Chrome version on Linux counts as the same) mails nothing more.
        await login(app, email, PASSWORD, { 'user-agent': CHROME_LINUX.replace('126.0.0.0', '127.0.1.2') });
        await drainMail(app);
        expect(await findMails(app, { to: email, template: 'accounts.new_sign_in' })).toHaveLength(1);
      });

      it('answers 400 validation_failed without a password', async () => {
        expectProblem(await post('/v1/auth/login', { email: uniqueEmail('x') }), 400, 'validation_failed');
      });

      it('by default (ALLOW_UNVERIFIED_LOGIN=false) refuses an unverified user with 403 email_not_verified, and signs them in once verified', async () => {
        expect(app.config.auth.allowUnverifiedLogin).toBe(false);
        const email = uniqueEmail('strict');
        await signUp(app, email, PASSWORD, undefined, { verified: false });
        expectProblem(await post('/v1/auth/login', { email, password: PASSWORD }), 403, 'email_not_verified');
        // A wrong password still says only invalid_credentials (nothing about verification).
        expectProblem(await post('/v1/auth/login', { email, password: 'wrong wrong wrong' }), 401, 'invalid_credentials');

        const code = mailCode(await waitForMail(app, { to: email, template: 'accounts.verify_email' }));
        expect((await post('/v1/auth/verify-email', { email, code, password: PASSWORD })).statusCode).toBe(200);
        const body = await login(app, email, PASSWORD);
        expect(decodeJwt(body.access_token).email_verified).toBe(true);
      });

      describe('with ALLOW_UNVERIFIED_LOGIN=true', () => {
        let lax: TestApp;
        beforeAll(async () => {
          lax = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true' });
        });
        afterAll(async () => lax?.destroy());

        it('signs an unverified user in, with email_verified false in the token', async () => {
          const email = uniqueEmail('lax');
          await signUp(lax, email, PASSWORD, undefined, { verified: false });
          const body = await login(lax, email, PASSWORD);
          expect(body.user.email_verified).toBe(false);
          expect(decodeJwt(body.access_token).email_verified).toBe(false);
        });
      });
    });

    describe('POST /v1/auth/magic-link and /verify', () => {
      it('mails a link whose token signs in once (amr email) and verifies the address', async () => {
        const email = uniqueEmail('magic');
        const user = await signUp(app, email, PASSWORD, undefined, { verified: false });
        const res = await post('/v1/auth/magic-link', { email });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });
        const mail = await waitForMail(app, { to: email, template: 'accounts.magic_link' });
        expect(mail.text).toContain(`${app.config.publicUrl}/magic-link?token=`);
        const token = linkToken(mail, 'magic-link');

        const signIn = await post('/v1/auth/magic-link/verify', { token });
        expect(signIn.statusCode, signIn.body).toBe(200);
        const body = signIn.json<TokenBody>();
        expect(body).toMatchObject({ token_type: 'Bearer', refresh_token: expect.stringMatching(/^rt_/), expires_in: 900, user: { id: user.id, email_verified: true } });
        expect(decodeJwt(body.access_token)).toMatchObject({ sub: user.id, sid: body.session_id, amr: ['email'], email_verified: true });
        expect((await userRow(user.id))!.email_verified).toBe(true);
        expect((await me(body.access_token)).statusCode).toBe(200);

        expectProblem(await post('/v1/auth/magic-link/verify', { token }), 400, 'invalid_link');
      });

      it('answers 202 for an unknown address and mails nothing', async () => {
        const email = uniqueEmail('magic-unknown');
        expect((await post('/v1/auth/magic-link', { email })).statusCode).toBe(202);
        await drainMail(app);
        expect(await findMails(app, { to: email })).toEqual([]);
      });

      it('refuses a made-up token with 400 invalid_link and a short one with 400 validation_failed', async () => {
        expectProblem(await post('/v1/auth/magic-link/verify', { token: randomBytes(32).toString('base64url') }), 400, 'invalid_link');
        expectProblem(await post('/v1/auth/magic-link/verify', { token: 'short' }), 400, 'validation_failed');
      });
    });

    describe('POST /v1/auth/refresh', () => {
      it('rotates the pair; the old refresh token presented again after the reuse grace ends the session (refresh_token_reused)', async () => {
        const email = uniqueEmail('refresh');
        const user = await signUp(app, email, PASSWORD);
        const first = await login(app, email, PASSWORD);
        const res = await post('/v1/auth/refresh', { refresh_token: first.refresh_token });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const second = res.json<TokenBody>();
        expect(second).toMatchObject({ token_type: 'Bearer', expires_in: 900, session_id: first.session_id, user: { id: user.id } });
        expect(second.refresh_token).toMatch(/^rt_/);
        expect(second.refresh_token).not.toBe(first.refresh_token);
        expect(second.access_token).not.toBe(first.access_token);
        expect(decodeJwt(second.access_token)).toMatchObject({ sub: user.id, sid: first.session_id, amr: ['pwd'] });
        expect((await me(second.access_token)).statusCode).toBe(200);

        // As if the grace (REFRESH_REUSE_GRACE_SECONDS, 2 s) had passed since the rotation.
        await api.query(`UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE session_id = $1 AND used_at IS NOT NULL`, [first.session_id]);
        expectProblem(await post('/v1/auth/refresh', { refresh_token: first.refresh_token }), 401, 'refresh_token_reused');
        expect(await sessionRow(first.session_id)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'refresh_token_reused' });
        expectProblem(await me(second.access_token), 401, 'invalid_token');
        expectProblem(await post('/v1/auth/refresh', { refresh_token: second.refresh_token }), 401, 'invalid_refresh_token');
      });

      it('refuses garbage with 401 invalid_refresh_token', async () => {
        expectProblem(await post('/v1/auth/refresh', { refresh_token: `rt_${randomBytes(32).toString('base64url')}` }), 401, 'invalid_refresh_token');
        expectProblem(await post('/v1/auth/refresh', { refresh_token: 'garbage' }), 401, 'invalid_refresh_token');
      });

      it('refuses a body without refresh_token and no cookie with 401', async () => {
        expectProblem(await post('/v1/auth/refresh', {}), 401, 'invalid_refresh_token');
      });
    });

    describe('POST /v1/auth/logout', () => {
      it('answers 204 and ends the session: its access and refresh tokens are refused', async () => {
        const email = uniqueEmail('logout');
        await signUp(app, email, PASSWORD);
        const tokens = await login(app, email, PASSWORD);
        const other = await login(app, email, PASSWORD);
        const res = await api.call('POST', '/v1/auth/logout', tokens.access_token);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expect(await sessionRow(tokens.session_id)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'logout' });
        expectProblem(await me(tokens.access_token), 401, 'invalid_token');
        expectProblem(await post('/v1/auth/refresh', { refresh_token: tokens.refresh_token }), 401, 'invalid_refresh_token');
        // Only that session: the user's other session lives on.
        expect((await me(other.access_token)).statusCode).toBe(200);
      });

      it('answers 401 without a token', async () => {
        const res = await post('/v1/auth/logout');
        expectProblem(res, 401, 'unauthorized');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      });
    });

    describe('POST /v1/auth/password/forgot and /reset', () => {
      it('forgot answers 202 for an unknown address and mails nothing', async () => {
        const email = uniqueEmail('forgot-unknown');
        const res = await post('/v1/auth/password/forgot', { email });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });
        await drainMail(app);
        expect(await findMails(app, { to: email })).toEqual([]);
      });

      it('reset sets the password (204), ends every session, mails a notice; the token works once', async () => {
        const email = uniqueEmail('reset');
        const user = await signUp(app, email, PASSWORD);
        const a = await login(app, email, PASSWORD);
        const b = await login(app, email, PASSWORD);
        expect((await post('/v1/auth/password/forgot', { email })).statusCode).toBe(202);
        const mail = await waitForMail(app, { to: email, template: 'accounts.password_reset' });
        expect(mail.text).toContain(`${app.config.publicUrl}/reset-password?token=`);
        const token = linkToken(mail, 'reset-password');

        const res = await post('/v1/auth/password/reset', { token, password: NEW_PASSWORD });
        expect(res.statusCode, res.body).toBe(204);
        for (const session of [a, b]) {
          expectProblem(await me(session.access_token), 401, 'invalid_token');
          expect(await sessionRow(session.session_id)).toMatchObject({ revoked_reason: 'password_reset' });
        }
        await waitForMail(app, { to: email, template: 'accounts.password_changed' });
        // A reset proves the mailbox.
        expect((await userRow(user.id))!.email_verified).toBe(true);
        expect((await login(app, email, NEW_PASSWORD)).user.id).toBe(user.id);
        expectProblem(await post('/v1/auth/login', { email, password: PASSWORD }), 401, 'invalid_credentials');
        expectProblem(await post('/v1/auth/password/reset', { token, password: 'yet another passphrase' }), 400, 'invalid_link');
      });

      it('refuses a weak new password with 422 and leaves the token usable', async () => {
        const email = uniqueEmail('reset-weak');
        await signUp(app, email, PASSWORD);
        expect((await post('/v1/auth/password/forgot', { email })).statusCode).toBe(202);
        const token = linkToken(await waitForMail(app, { to: email, template: 'accounts.password_reset' }), 'reset-password');
        const weak = expectProblem(await post('/v1/auth/password/reset', { token, password: 'password' }), 422, 'weak_password');
        expect((weak.errors as { rule: string }[]).map((e) => e.rule)).toContain('too_common');
        // The failed attempt rolled back with its transaction: the token was not consumed, the password not changed.
        expect((await login(app, email, PASSWORD)).user.email).toBe(email);
        expect((await post('/v1/auth/password/reset', { token, password: NEW_PASSWORD })).statusCode).toBe(204);
        await login(app, email, NEW_PASSWORD);
      });

      it('refuses a made-up token with 400 invalid_link', async () => {
        expectProblem(await post('/v1/auth/password/reset', { token: randomBytes(32).toString('base64url'), password: NEW_PASSWORD }), 400, 'invalid_link');
      });
    });

    describe('GET /.well-known/jwks.json', () => {
      it('publishes one public Ed25519 key, the one that signs access tokens', async () => {
        const res = await app.server.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        expect(res.statusCode).toBe(200);
        expect(res.headers['cache-control']).toBe('public, max-age=300');
        const jwks = res.json<{ keys: JWK[] }>();
        expect(jwks.keys).toHaveLength(1);
        const [key] = jwks.keys;
        expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String), x: expect.any(String) });
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);

        const email = uniqueEmail('jwks');
        await signUp(app, email, PASSWORD);
        const { access_token } = await login(app, email, PASSWORD);
        expect(decodeProtectedHeader(access_token).kid).toBe(key!.kid);
        const verified = await jwtVerify(access_token, createLocalJWKSet(jwks), { issuer: app.config.publicUrl, audience: app.config.auth.audience });
        expect(verified.payload.sub).toMatch(/^usr_/);
      });
    });

    describe('cookie sessions (use_cookie: true)', () => {
      const cookie = (res: Response, name: string) => {
        const found = res.cookies.find((c) => c.name === name);
        if (!found) throw new Error(`no ${name} cookie in ${JSON.stringify(res.headers['set-cookie'])}`);
        return found;
      };

      it('sets HttpOnly cookies instead of returning tokens, and guards state changes with the CSRF token', async () => {
        const email = uniqueEmail('cookie');
        const user = await signUp(app, email, PASSWORD);
        const res = await post('/v1/auth/login', { email, password: PASSWORD, use_cookie: true });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<Record<string, unknown>>();
        expect(body).toEqual({ token_type: 'cookie', csrf_token: expect.any(String), expires_in: 900, session_id: expect.stringMatching(/^ses_/), user: expect.objectContaining({ id: user.id }) });
        expect(body).not.toHaveProperty('access_token');
        expect(body).not.toHaveProperty('refresh_token');
        const csrf = body.csrf_token as string;

        const access = cookie(res, 'tessera_access');
        const refresh = cookie(res, 'tessera_refresh');
        const csrfCookie = cookie(res, 'tessera_csrf');
        // PUBLIC_URL is http://localhost:…, a secure context for browsers: the cookies are Secure.
        expect(access).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/', maxAge: 900 });
        expect(refresh).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/v1/auth', maxAge: app.config.auth.refreshIdleTimeoutSeconds });
        expect(refresh.value).toMatch(/^rt_/);
        expect(csrfCookie).toMatchObject({ secure: true, sameSite: 'Lax', path: '/', value: csrf });
        expect(csrfCookie.httpOnly).toBeFalsy();
        expect(decodeJwt(access.value)).toMatchObject({ sub: user.id, sid: body.session_id });

        // Reading needs no CSRF token.
        const read = await app.server.inject({ method: 'GET', url: '/v1/me', cookies: { tessera_access: access.value } });
        expect(read.statusCode, read.body).toBe(200);
        expect(read.json()).toMatchObject({ id: user.id });

        // A change without the header, or with another value, is refused; with it, it goes through.
        const cookies = { tessera_access: access.value, tessera_csrf: csrf };
        const noHeader = await app.server.inject({ method: 'PATCH', url: '/v1/me', cookies, payload: { name: 'Via Cookie' } });
        expectProblem(noHeader, 403, 'csrf_failed');
        const wrongHeader = await app.server.inject({ method: 'PATCH', url: '/v1/me', cookies, headers: { 'x-csrf-token': `${csrf}x` }, payload: { name: 'Via Cookie' } });
        expectProblem(wrongHeader, 403, 'csrf_failed');
        expect((await userRow(user.id))!.name).toBeNull();
        const patched = await app.server.inject({ method: 'PATCH', url: '/v1/me', cookies, headers: { 'x-csrf-token': csrf }, payload: { name: 'Via Cookie' } });
        expect(patched.statusCode, patched.body).toBe(200);
        expect(patched.json()).toMatchObject({ name: 'Via Cookie' });

        // Refresh by cookie: refused without the CSRF header (and the refresh token is not spent), then rotated with it.
        const refreshCookies = { tessera_refresh: refresh.value, tessera_csrf: csrf };
        expectProblem(await app.server.inject({ method: 'POST', url: '/v1/auth/refresh', cookies: refreshCookies, payload: {} }), 403, 'csrf_failed');
        const rotated = await app.server.inject({ method: 'POST', url: '/v1/auth/refresh', cookies: refreshCookies, headers: { 'x-csrf-token': csrf }, payload: {} });
        expect(rotated.statusCode, rotated.body).toBe(200);
        expect(rotated.json()).toMatchObject({ token_type: 'cookie', csrf_token: csrf, session_id: body.session_id });
        expect(rotated.json()).not.toHaveProperty('refresh_token');
        const newAccess = cookie(rotated, 'tessera_access');
        const newRefresh = cookie(rotated, 'tessera_refresh');
        expect(newAccess.value).not.toBe(access.value);
        expect(newRefresh.value).not.toBe(refresh.value);
        expect(newRefresh).toMatchObject({ httpOnly: true, path: '/v1/auth' });

        // Logout by cookie needs the CSRF header too, and clears the three cookies.
        const logoutCookies = { tessera_access: newAccess.value, tessera_csrf: csrf };
        expectProblem(await app.server.inject({ method: 'POST', url: '/v1/auth/logout', cookies: logoutCookies }), 403, 'csrf_failed');
        const out = await app.server.inject({ method: 'POST', url: '/v1/auth/logout', cookies: logoutCookies, headers: { 'x-csrf-token': csrf } });
        expect(out.statusCode, out.body).toBe(204);
        for (const [name, path] of [['tessera_access', '/'], ['tessera_refresh', '/v1/auth'], ['tessera_csrf', '/']] as const) {
          const cleared = cookie(out, name);
          expect(cleared.value).toBe('');
          expect(cleared.path).toBe(path);
          expect(cleared.maxAge).toBe(0);
        }
        expectProblem(await app.server.inject({ method: 'GET', url: '/v1/me', cookies: { tessera_access: newAccess.value } }), 401, 'invalid_token');
      });
    });
  });
});
