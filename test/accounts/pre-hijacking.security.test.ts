import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type Signed, type TestClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { linkToken, mailCode, waitForMail, type TokenBody, type UserBody } from '../helpers/outbox.js';

/*
 * Account pre-hijacking: an attacker signs up with the victim's address before the victim does,
 * sets a password and (where unverified sign-in is allowed) keeps a session. When the real owner later
 * proves the address, whatever the attacker holds must stop working: every earlier session and
 * refresh token, and the password the attacker chose. With the default ALLOW_UNVERIFIED_LOGIN=false
 * the attacker cannot even sign in before the proof; with true, they hold tokens.
 */

const ATTACKER_PASSWORD = 'attacker chose this passphrase';
const VICTIM_PASSWORD = 'the real owner chose this one';

describe.each(engineCases())('account pre-hijacking on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let strictApp: TestApp;
    let laxApp: TestApp;
    const strict = testClient(() => strictApp);
    const lax = testClient(() => laxApp);

    const post = (api: TestClient, url: string, payload: Record<string, unknown>, token: string | null = null) => api.call('POST', url, token, payload);
    const me = (api: TestClient, token: string) => api.call('GET', '/v1/me', token);
    const userRow = async (api: TestClient, id: string) =>
      (await api.query<{ email_verified: boolean; password_hash: string | null }>('SELECT email_verified, password_hash FROM users WHERE id = $1', [id]))[0]!;

    /** What the attacker holds after signing up with the victim's address (and signing in where allowed). */
    const attackerSignsUp = (api: TestClient, label: string): Promise<{ email: string; user: UserBody }> =>
      api.signedUp(label, { password: ATTACKER_PASSWORD, name: 'Not the owner', verified: false });

    /** The attacker's tokens and password no longer work: every one of them, each refused as such. */
    async function attackerLockedOut(api: TestClient, email: string, tokens: Pick<Signed, 'token' | 'refreshToken'>): Promise<void> {
      expectProblem(await me(api, tokens.token), 401, 'invalid_token');
      expectProblem(await post(api, '/v1/auth/refresh', { refresh_token: tokens.refreshToken }), 401, 'invalid_refresh_token');
      expectProblem(await post(api, '/v1/auth/login', { email, password: ATTACKER_PASSWORD }), 401, 'invalid_credentials');
    }

    beforeAll(async () => {
      strictApp = await createEngineApp(engine);
      laxApp = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true' });
    });
    afterAll(async () => {
      await strictApp?.destroy();
      await laxApp?.destroy();
    });

    describe('by default (ALLOW_UNVERIFIED_LOGIN=false)', () => {
      it('regression: the attacker cannot sign in before the proof, and once the owner follows the verification link the attacker\'s password no longer signs in', async () => {
        expect(strictApp.config.auth.allowUnverifiedLogin).toBe(false);
        const { email, user } = await attackerSignsUp(strict, 'prehijack-default');
        expectProblem(await post(strict, '/v1/auth/login', { email, password: ATTACKER_PASSWORD }), 403, 'email_not_verified');

        // The owner receives the verification mail the attacker's sign-up sent, and follows it.
        const token = linkToken(await waitForMail(strictApp, { to: email, template: 'accounts.verify_email' }), 'verify-email');
        const verified = await post(strict, '/v1/auth/verify-email', { token });
        expect(verified.statusCode, verified.body).toBe(200);
        expect(verified.json()).toMatchObject({ user: { id: user.id, email_verified: true }, password_cleared: true });
        expect(await userRow(strict, user.id)).toEqual({ email_verified: true, password_hash: null });
        // Verified now, and still the attacker's password does not open it.
        expectProblem(await post(strict, '/v1/auth/login', { email, password: ATTACKER_PASSWORD }), 401, 'invalid_credentials');
        const audit = await strict.auditRows({ targetId: user.id, action: 'user.password_invalidated' });
        expect(audit).toHaveLength(1);

        // The owner sets a password of their own with a reset, and is in.
        expect((await post(strict, '/v1/auth/password/forgot', { email })).statusCode).toBe(202);
        const reset = linkToken(await waitForMail(strictApp, { to: email, template: 'accounts.password_reset' }), 'reset-password');
        expect((await post(strict, '/v1/auth/password/reset', { token: reset, password: VICTIM_PASSWORD })).statusCode).toBe(204);
        expect((await strict.signIn(email, { password: VICTIM_PASSWORD })).user.id).toBe(user.id);
      });

      it('the one who signed up keeps the password by sending it with the link (or the code)', async () => {
        const { email, user } = await strict.signedUp('own-signup', { password: VICTIM_PASSWORD, verified: false });
        const code = mailCode(await waitForMail(strictApp, { to: email, template: 'accounts.verify_email' }));
        // A wrong password is refused and uses nothing.
        expectProblem(await post(strict, '/v1/auth/verify-email', { email, code, password: 'not the password' }), 401, 'invalid_credentials');
        const verified = await post(strict, '/v1/auth/verify-email', { email, code, password: VICTIM_PASSWORD });
        expect(verified.statusCode, verified.body).toBe(200);
        expect(verified.json()).toMatchObject({ password_cleared: false });
        expect((await strict.signIn(email, { password: VICTIM_PASSWORD })).user.id).toBe(user.id);
      });
    });

    describe('with ALLOW_UNVERIFIED_LOGIN=true', () => {
      /** The attacker signs up with the address and signs in twice (a session and a refreshed one). */
      async function attackerHoldsTokens(label: string): Promise<{ email: string; user: UserBody; tokens: Pick<Signed, 'token' | 'refreshToken'>[] }> {
        const { email, user } = await attackerSignsUp(lax, label);
        const first = await lax.signIn(email, { password: ATTACKER_PASSWORD });
        const rotated = await post(lax, '/v1/auth/refresh', { refresh_token: first.refreshToken });
        expect(rotated.statusCode).toBe(200);
        const second = await lax.signIn(email, { password: ATTACKER_PASSWORD });
        const { access_token: token, refresh_token: refreshToken } = rotated.json<TokenBody>();
        return { email, user, tokens: [{ token, refreshToken }, second] };
      }

      const proofs: [string, (email: string) => Promise<void>][] = [
        ['follows the verification link', async (email) => {
          const token = linkToken(await waitForMail(laxApp, { to: email, template: 'accounts.verify_email' }), 'verify-email');
          const res = await post(lax, '/v1/auth/verify-email', { token });
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json()).toMatchObject({ password_cleared: true });
        }],
        ['types the verification code', async (email) => {
          const code = mailCode(await waitForMail(laxApp, { to: email, template: 'accounts.verify_email' }));
          expect((await post(lax, '/v1/auth/verify-email', { email, code })).statusCode).toBe(200);
        }],
        ['signs in with a magic link', async (email) => {
          expect((await post(lax, '/v1/auth/magic-link', { email })).statusCode).toBe(202);
          const token = linkToken(await waitForMail(laxApp, { to: email, template: 'accounts.magic_link' }), 'magic-link');
          const signedIn = await post(lax, '/v1/auth/magic-link/verify', { token });
          expect(signedIn.statusCode, signedIn.body).toBe(200);
          // The owner's own new session works.
          expect((await me(lax, signedIn.json<TokenBody>().access_token)).statusCode).toBe(200);
        }],
        ['resets the password', async (email) => {
          expect((await post(lax, '/v1/auth/password/forgot', { email })).statusCode).toBe(202);
          const token = linkToken(await waitForMail(laxApp, { to: email, template: 'accounts.password_reset' }), 'reset-password');
          expect((await post(lax, '/v1/auth/password/reset', { token, password: VICTIM_PASSWORD })).statusCode).toBe(204);
          expect((await lax.signIn(email, { password: VICTIM_PASSWORD })).user.email).toBe(email);
        }],
      ];

      it.each(proofs)('regression: when the owner %s, the attacker\'s access and refresh tokens stop working and their password no longer signs in', async (_how, prove) => {
        const { email, user, tokens } = await attackerHoldsTokens(`prehijack-${Math.random().toString(36).slice(2, 8)}`);
        for (const held of tokens) expect((await me(lax, held.token)).statusCode).toBe(200);
        await prove(email);
        expect((await userRow(lax, user.id)).email_verified).toBe(true);
        for (const held of tokens) await attackerLockedOut(lax, email, held);
      });

      it('verifying while signed in as the account (the same session) keeps the password and that session; other sessions end', async () => {
        const { email } = await lax.signedUp('same-session', { password: VICTIM_PASSWORD, verified: false });
        const mine = await lax.signIn(email, { password: VICTIM_PASSWORD });
        const other = await lax.signIn(email, { password: VICTIM_PASSWORD });
        const token = linkToken(await waitForMail(laxApp, { to: email, template: 'accounts.verify_email' }), 'verify-email');
        const verified = await post(lax, '/v1/auth/verify-email', { token }, mine.token);
        expect(verified.statusCode, verified.body).toBe(200);
        expect(verified.json()).toMatchObject({ password_cleared: false });
        expect((await me(lax, mine.token)).statusCode).toBe(200);
        expect((await post(lax, '/v1/auth/refresh', { refresh_token: mine.refreshToken })).statusCode).toBe(200);
        expectProblem(await me(lax, other.token), 401, 'invalid_token');
        expectProblem(await post(lax, '/v1/auth/refresh', { refresh_token: other.refreshToken }), 401, 'invalid_refresh_token');
        expect((await lax.signIn(email, { password: VICTIM_PASSWORD })).user.email_verified).toBe(true);
      });

      it('a session of another account does not count as the prover', async () => {
        const { email, user } = await attackerSignsUp(lax, 'foreign-session');
        const foreign = await lax.signedIn('bystander');
        const token = linkToken(await waitForMail(laxApp, { to: email, template: 'accounts.verify_email' }), 'verify-email');
        const verified = await post(lax, '/v1/auth/verify-email', { token }, foreign.token);
        expect(verified.json()).toMatchObject({ user: { id: user.id }, password_cleared: true });
        // The bystander's own session is not touched.
        expect((await me(lax, foreign.token)).statusCode).toBe(200);
      });
    });
  });
});
