import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, findMails, linkToken, mailCode, signUp, signUpAndVerify, uniqueEmail, waitForMail, type UserBody } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';

/*
 * The signed-in user's endpoints (/v1/me…), end to end through HTTP on each engine: PGlite with the
 * in-process cache, PostgreSQL with Redis.
 */

const NEW_PASSWORD = 'a whole new passphrase 42';
const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0';
const SAFARI_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const { redisUrl } = inject('services');

interface SessionBody {
  id: string;
  current: boolean;
  ip: string | null;
  user_agent: string | null;
  device: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

describe.each(engineCases())('/v1/me on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const { call } = api;
    const me = (token: string) => call('GET', '/v1/me', token);
    const userRow = async (id: string) =>
      (await api.query<{ email: string; email_verified: boolean; name: string | null; locale: string | null; timezone: string | null }>(
        'SELECT email, email_verified, name, locale, timezone FROM users WHERE id = $1',
        [id],
      ))[0];
    const revokedReason = async (sessionId: string) =>
      (await api.query<{ revoked_reason: string | null }>('SELECT revoked_reason FROM sessions WHERE id = $1', [sessionId]))[0]?.revoked_reason;
    /** A new account signed in once, from Chrome on Linux unless told. */
    const signedIn = (label: string, userAgent = CHROME_LINUX) => api.signedIn(label, { userAgent });

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    describe('GET and PATCH /v1/me', () => {
      it('GET answers the signed-in user', async () => {
        const tokens = await signedIn('me');
        const { email, user } = tokens;
        const res = await me(tokens.token);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toEqual({ ...user, updated_at: expect.any(String) });
        expect(res.json<UserBody>().email).toBe(email);
      });

      it('GET answers 401 without a token (unauthorized) and with a bad one (invalid_token)', async () => {
        const none = await call('GET', '/v1/me', null);
        expectProblem(none, 401, 'unauthorized');
        expect(none.headers['www-authenticate']).toBe('Bearer');
        const bad = await call('GET', '/v1/me', 'not.a.jwt');
        expectProblem(bad, 401, 'invalid_token');
        expect(bad.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      });

      it('PATCH updates name, locale and time zone (200) and they persist', async () => {
        const tokens = await signedIn('profile');
        const { user } = tokens;
        const res = await call('PATCH', '/v1/me', tokens.token, { name: 'Grace Hopper', locale: 'en-GB', timezone: 'Europe/Paris' });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<UserBody>();
        expect(body).toMatchObject({ id: user.id, name: 'Grace Hopper', locale: 'en-GB', timezone: 'Europe/Paris' });
        expect(new Date(body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(user.updated_at).getTime());
        expect(await userRow(user.id)).toMatchObject({ name: 'Grace Hopper', locale: 'en-GB', timezone: 'Europe/Paris' });
        expect((await me(tokens.token)).json()).toMatchObject({ name: 'Grace Hopper', locale: 'en-GB', timezone: 'Europe/Paris' });

        // null clears a field; fields left out stay.
        const cleared = await call('PATCH', '/v1/me', tokens.token, { name: null });
        expect(cleared.statusCode, cleared.body).toBe(200);
        expect(await userRow(user.id)).toMatchObject({ name: null, locale: 'en-GB', timezone: 'Europe/Paris' });
      });

      it('PATCH refuses an unknown time zone with 422 invalid_profile and changes nothing', async () => {
        const tokens = await signedIn('profile-tz');
        const { user } = tokens;
        const body = expectProblem(await call('PATCH', '/v1/me', tokens.token, { name: 'Martian', timezone: 'Mars/Olympus' }), 422, 'invalid_profile');
        expect(body.errors).toEqual([{ path: 'body.timezone', message: expect.any(String) }]);
        expect(await userRow(user.id)).toMatchObject({ name: null, timezone: null });
      });

      it('PATCH answers 400 for an empty body and for an unknown field, 401 without a token', async () => {
        const tokens = await signedIn('profile-bad');
        expectProblem(await call('PATCH', '/v1/me', tokens.token, {}), 400, 'validation_failed');
        const extra = expectProblem(await call('PATCH', '/v1/me', tokens.token, { email: 'x@example.test' }), 400, 'validation_failed');
        expect(extra.errors).toContainEqual({ path: 'body.email', message: 'is not allowed' });
        expectProblem(await call('PATCH', '/v1/me', null, { name: 'Nobody' }), 401, 'unauthorized');
      });
    });

    describe('POST /v1/me/password', () => {
      it('changes the password (204): other sessions end, this one goes on, a notice is mailed', async () => {
        const current = await signedIn('pw-change');
        const { email } = current;
        const other = await api.signIn(email, { userAgent: FIREFOX_MAC });
        const res = await call('POST', '/v1/me/password', current.token, { current_password: PASSWORD, new_password: NEW_PASSWORD });
        expect(res.statusCode, res.body).toBe(204);

        expect((await me(current.token)).statusCode).toBe(200);
        expect(await revokedReason(current.sessionId)).toBeNull();
        expectProblem(await me(other.token), 401, 'invalid_token');
        expect(await revokedReason(other.sessionId)).toBe('password_changed');
        expectProblem(await call('POST', '/v1/auth/refresh', null, { refresh_token: other.refreshToken }), 401, 'invalid_refresh_token');
        // The current session's refresh token still rotates.
        expect((await call('POST', '/v1/auth/refresh', null, { refresh_token: current.refreshToken })).statusCode).toBe(200);

        await waitForMail(app, { to: email, template: 'accounts.password_changed' });
        await api.signIn(email, { password: NEW_PASSWORD });
        expectProblem(await call('POST', '/v1/auth/login', null, { email, password: PASSWORD }), 401, 'invalid_credentials');
      });

      it('refuses a wrong current password with 401 invalid_credentials and a weak new one with 422, changing nothing', async () => {
        const tokens = await signedIn('pw-wrong');
        const { email } = tokens;
        expectProblem(await call('POST', '/v1/me/password', tokens.token, { current_password: 'not my password', new_password: NEW_PASSWORD }), 401, 'invalid_credentials');
        const weak = expectProblem(await call('POST', '/v1/me/password', tokens.token, { current_password: PASSWORD, new_password: 'qwerty' }), 422, 'weak_password');
        expect((weak.errors as { rule: string }[]).map((e) => e.rule)).toEqual(['too_short', 'too_common']);
        // Neither attempt ended the session or changed the password.
        expect((await me(tokens.token)).statusCode).toBe(200);
        await api.signIn(email);
        expectProblem(await call('POST', '/v1/me/password', null, { current_password: PASSWORD, new_password: NEW_PASSWORD }), 401, 'unauthorized');
      });
    });

    describe('POST /v1/me/email', () => {
      it('mails the new address (202); its link changes the address and the old one is told', async () => {
        const oldEmail = uniqueEmail('email-old');
        const newEmail = uniqueEmail('email-new');
        const user = await signUpAndVerify(app, oldEmail, PASSWORD);
        const tokens = await api.signIn(oldEmail);
        const res = await call('POST', '/v1/me/email', tokens.token, { new_email: ` ${newEmail} `, password: PASSWORD });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });

        const mail = await waitForMail(app, { to: newEmail, template: 'accounts.email_change' });
        expect(mail.text).toContain(newEmail);
        expect(mailCode(mail)).toMatch(/^\d{6}$/);
        // Nothing changes before the new address is confirmed.
        expect((await userRow(user.id))!.email).toBe(oldEmail);

        const verified = await call('POST', '/v1/auth/verify-email', null, { token: linkToken(mail, 'verify-email') });
        expect(verified.statusCode, verified.body).toBe(200);
        expect(verified.json()).toEqual({ user: expect.objectContaining({ id: user.id, email: newEmail, email_verified: true }), password_cleared: false });
        expect((await userRow(user.id))!.email).toBe(newEmail);

        const notice = await waitForMail(app, { to: oldEmail, template: 'accounts.email_changed' });
        expect(notice.text).toContain(newEmail);
        expect((await api.signIn(newEmail)).user.id).toBe(user.id);
        expectProblem(await call('POST', '/v1/auth/login', null, { email: oldEmail, password: PASSWORD }), 401, 'invalid_credentials');
      });

      it('regression: both mails of an email change speak the account\'s language (the new address is nobody\'s yet, the old one nobody\'s after)', async () => {
        const tokens = await signedIn('email-es-old');
        const { email: oldEmail } = tokens;
        const newEmail = uniqueEmail('email-es-new');
        expect((await call('PATCH', '/v1/me', tokens.token, { locale: 'es' })).statusCode).toBe(200);
        expect((await call('POST', '/v1/me/email', tokens.token, { new_email: newEmail, password: PASSWORD })).statusCode).toBe(202);
        const change = await waitForMail(app, { to: newEmail, template: 'accounts.email_change' });
        expect(change.subject).toMatch(/^Confirma tu nueva dirección de correo/);
        expect((await call('POST', '/v1/auth/verify-email', null, { token: linkToken(change, 'verify-email') })).statusCode).toBe(200);
        const notice = await waitForMail(app, { to: oldEmail, template: 'accounts.email_changed' });
        expect(notice.subject).toMatch(/^Se cambió la dirección de correo/);
      });

      it('the 6-digit code sent to the new address confirms the change too, with the new address', async () => {
        const tokens = await signedIn('email-code-old');
        const { email: oldEmail, user } = tokens;
        const newEmail = uniqueEmail('email-code-new');
        expect((await call('POST', '/v1/me/email', tokens.token, { new_email: newEmail, password: PASSWORD })).statusCode).toBe(202);
        const code = mailCode(await waitForMail(app, { to: newEmail, template: 'accounts.email_change' }));
        // The old address with that code is no match.
        expectProblem(await call('POST', '/v1/auth/verify-email', null, { email: oldEmail, code }), 400, 'invalid_code');
        const wrong = code === '000000' ? '111111' : '000000';
        expectProblem(await call('POST', '/v1/auth/verify-email', null, { email: newEmail, code: wrong }), 400, 'invalid_code');
        const verified = await call('POST', '/v1/auth/verify-email', null, { email: newEmail, code });
        expect(verified.statusCode, verified.body).toBe(200);
        expect((await userRow(user.id))!.email).toBe(newEmail);
        await waitForMail(app, { to: oldEmail, template: 'accounts.email_changed' });
      });

      it('wrong passwords when confirming a change count toward the lockout', async () => {
        const tokens = await signedIn('email-lockout');
        const { email } = tokens;
        for (let i = 0; i < 4; i++) {
          expectProblem(await call('POST', '/v1/me/password', tokens.token, { current_password: `wrong guess ${i}`, new_password: NEW_PASSWORD }), 401, 'invalid_credentials');
        }
        const locked = await call('POST', '/v1/me/email', tokens.token, { new_email: uniqueEmail('never'), password: 'wrong guess 5' });
        expectProblem(locked, 423, 'account_locked');
        expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
        // The right password does not get through a lock either, here or at sign-in.
        expectProblem(await call('POST', '/v1/me/password', tokens.token, { current_password: PASSWORD, new_password: NEW_PASSWORD }), 423, 'account_locked');
        expectProblem(await call('POST', '/v1/auth/login', null, { email, password: PASSWORD }), 423, 'account_locked');
        await waitForMail(app, { to: email, template: 'accounts.account_locked' });
      });

      it('regression: a password-reset link mailed to the old address stops working once the address changed', async () => {
        const tokens = await signedIn('email-reset-old');
        const { email: oldEmail, user } = tokens;
        const newEmail = uniqueEmail('email-reset-new');
        expect((await call('POST', '/v1/auth/password/forgot', null, { email: oldEmail })).statusCode).toBe(202);
        const reset = linkToken(await waitForMail(app, { to: oldEmail, template: 'accounts.password_reset' }), 'reset-password');
        expect((await call('POST', '/v1/me/email', tokens.token, { new_email: newEmail, password: PASSWORD })).statusCode).toBe(202);
        const change = await waitForMail(app, { to: newEmail, template: 'accounts.email_change' });
        expect((await call('POST', '/v1/auth/verify-email', null, { token: linkToken(change, 'verify-email') })).statusCode).toBe(200);

        expectProblem(await call('POST', '/v1/auth/password/reset', null, { token: reset, password: NEW_PASSWORD }), 400, 'invalid_link');
        expect((await api.signIn(newEmail)).user.id).toBe(user.id);
        expect((await me(tokens.token)).statusCode).toBe(200);
      });

      it('answers 202 for an address another account holds, and mails nobody', async () => {
        const holder = uniqueEmail('email-holder');
        await signUp(app, holder, PASSWORD);
        const tokens = await signedIn('email-taker');
        const { user } = tokens;
        const res = await call('POST', '/v1/me/email', tokens.token, { new_email: holder.toUpperCase(), password: PASSWORD });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.json()).toEqual({ status: 'accepted' });
        await drainMail(app);
        expect(await findMails(app, { to: holder, template: 'accounts.email_change' })).toEqual([]);
        const { rows } = await app.context.db.sql.query("SELECT id FROM one_time_tokens WHERE user_id = $1 AND purpose = 'email_change'", [user.id]);
        expect(rows).toEqual([]);
      });

      it('refuses a wrong password with 401 invalid_credentials and a malformed address with 422 invalid_email', async () => {
        const tokens = await signedIn('email-wrong');
        const target = uniqueEmail('email-target');
        expectProblem(await call('POST', '/v1/me/email', tokens.token, { new_email: target, password: 'not my password' }), 401, 'invalid_credentials');
        expectProblem(await call('POST', '/v1/me/email', tokens.token, { new_email: 'not an address', password: PASSWORD }), 422, 'invalid_email');
        expectProblem(await call('POST', '/v1/me/email', null, { new_email: target, password: PASSWORD }), 401, 'unauthorized');
        await drainMail(app);
        expect(await findMails(app, { to: target })).toEqual([]);
      });
    });

    describe('sessions', () => {
      it('GET /v1/me/sessions lists my live sessions, newest first, marking the current one', async () => {
        const chrome = await signedIn('sessions', CHROME_LINUX);
        const { email } = chrome;
        const firefox = await api.signIn(email, { userAgent: FIREFOX_MAC });
        const res = await call('GET', '/v1/me/sessions', chrome.token);
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<{ data: SessionBody[]; next_cursor: null }>();
        expect(body.next_cursor).toBeNull();
        expect(body.data.map((s) => s.id)).toEqual([firefox.sessionId, chrome.sessionId]);
        const [f, c] = body.data;
        expect(c).toEqual({
          id: chrome.sessionId,
          current: true,
          ip: '127.0.0.1',
          user_agent: CHROME_LINUX,
          device: 'Chrome on Linux',
          created_at: expect.any(String),
          last_seen_at: expect.any(String),
          expires_at: expect.any(String),
        });
        expect(f).toMatchObject({ id: firefox.sessionId, current: false, device: 'Firefox on Mac OS', ip: '127.0.0.1' });
        expect(new Date(c!.expires_at).getTime()).toBeGreaterThan(Date.now());

        const fromFirefox = (await call('GET', '/v1/me/sessions', firefox.token)).json<{ data: SessionBody[] }>();
        expect(fromFirefox.data.filter((s) => s.current).map((s) => s.id)).toEqual([firefox.sessionId]);
        expectProblem(await call('GET', '/v1/me/sessions', null), 401, 'unauthorized');
      });

      it('DELETE /v1/me/sessions/{id} ends another of my sessions (204); its token is refused', async () => {
        const mine = await signedIn('sessions-delete');
        const { email } = mine;
        const phone = await api.signIn(email, { userAgent: SAFARI_IOS });
        const res = await call('DELETE', `/v1/me/sessions/${phone.sessionId}`, mine.token);
        expect(res.statusCode, res.body).toBe(204);
        expect(await revokedReason(phone.sessionId)).toBe('revoked_by_user');
        expectProblem(await me(phone.token), 401, 'invalid_token');
        expectProblem(await call('POST', '/v1/auth/refresh', null, { refresh_token: phone.refreshToken }), 401, 'invalid_refresh_token');
        expect((await me(mine.token)).statusCode).toBe(200);
        const list = (await call('GET', '/v1/me/sessions', mine.token)).json<{ data: SessionBody[] }>();
        expect(list.data.map((s) => s.id)).toEqual([mine.sessionId]);
        // Already ended: as if it did not exist.
        expectProblem(await call('DELETE', `/v1/me/sessions/${phone.sessionId}`, mine.token), 404, 'session_not_found');
      });

      it("DELETE answers 404 session_not_found for someone else's session (which lives on) and 400 for a malformed id", async () => {
        const alice = await signedIn('sessions-alice');
        const bob = await signedIn('sessions-bob');
        expectProblem(await call('DELETE', `/v1/me/sessions/${bob.sessionId}`, alice.token), 404, 'session_not_found');
        expect(await revokedReason(bob.sessionId)).toBeNull();
        expect((await me(bob.token)).statusCode).toBe(200);
        expectProblem(await call('DELETE', '/v1/me/sessions/ses_00000000000000000000000000', alice.token), 404, 'session_not_found');
        const malformed = expectProblem(await call('DELETE', '/v1/me/sessions/not-a-session-id', alice.token), 400, 'validation_failed');
        expect(malformed.errors).toEqual([{ path: 'params.id', message: expect.any(String) }]);
        expectProblem(await call('DELETE', `/v1/me/sessions/${alice.sessionId}`, null), 401, 'unauthorized');
      });

      it('POST /v1/me/sessions/revoke-others (204) leaves only the current session', async () => {
        const mine = await signedIn('sessions-others');
        const { email } = mine;
        const others = [await api.signIn(email, { userAgent: FIREFOX_MAC }), await api.signIn(email, { userAgent: SAFARI_IOS })];
        const res = await call('POST', '/v1/me/sessions/revoke-others', mine.token);
        expect(res.statusCode, res.body).toBe(204);
        const list = (await call('GET', '/v1/me/sessions', mine.token)).json<{ data: SessionBody[] }>();
        expect(list.data).toEqual([expect.objectContaining({ id: mine.sessionId, current: true })]);
        for (const other of others) {
          expectProblem(await me(other.token), 401, 'invalid_token');
          expect(await revokedReason(other.sessionId)).toBe('revoked_by_user');
        }
        expect(decodeJwt(mine.token).sid).toBe(mine.sessionId);
        expect((await me(mine.token)).statusCode).toBe(200);
        expectProblem(await call('POST', '/v1/me/sessions/revoke-others', null), 401, 'unauthorized');
      });
    });
  });
});
