import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { authenticator, recoveryToken } from '../helpers/authenticator.js';
import { PASSWORD, testClient, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { linkToken, uniqueEmail, waitForMail } from '../helpers/outbox.js';

/*
 * A new password voids the one-time links mailed before it: a reset link, a magic link, an MFA
 * recovery link and a pending email change were all issued on the strength of the old password (or
 * of the mailbox alone); whoever changed or reset the password may be locking someone out. A
 * verification link proves a mailbox, not a password, and stays.
 */

const NEW_PASSWORD = 'a whole new passphrase 42';

describe.each(engineCases())('one-time links and a new password on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    const api = testClient(() => app);
    const post = (url: string, payload: Record<string, unknown>, token?: string) => api.call('POST', url, token ?? null, payload);
    const unusedVerification = async (userId: string) =>
      (await api.query<{ n: number }>(`SELECT count(*)::int AS n FROM one_time_tokens WHERE user_id = $1 AND purpose = 'verify_email' AND used_at IS NULL`, [userId]))[0]!.n;

    /** An account with an authenticator app (so MFA recovery links are mailed), signed in once, and every kind of link outstanding. */
    async function withOutstandingLinks(label: string): Promise<{ email: string; userId: string; tokens: Signed; links: { reset: string; magic: string; recovery: string; change: string } }> {
      const tokens = await api.signedIn(label);
      const { email, user } = tokens;
      const started = await post('/v1/me/mfa/totp', {}, tokens.token);
      const device = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
      expect((await post('/v1/me/mfa/totp/confirm', { code: await device.next() }, tokens.token)).statusCode).toBe(200);
      const newAddress = uniqueEmail(`${label}-new`);
      for (const [url, payload, token] of [
        ['/v1/auth/password/forgot', { email }],
        ['/v1/auth/magic-link', { email }],
        ['/v1/auth/mfa/recovery', { email }],
        ['/v1/me/email', { new_email: newAddress, password: PASSWORD }, tokens.token],
      ] as const) {
        expect((await post(url, payload, token)).statusCode, url).toBe(202);
      }
      const links = {
        reset: linkToken(await waitForMail(app, { to: email, template: 'accounts.password_reset' }), 'reset-password'),
        magic: linkToken(await waitForMail(app, { to: email, template: 'accounts.magic_link' }), 'magic-link'),
        recovery: recoveryToken(await waitForMail(app, { to: email, template: 'mfa.recovery' })),
        change: linkToken(await waitForMail(app, { to: newAddress, template: 'accounts.email_change' }), 'verify-email'),
      };
      return { email, userId: user.id, tokens, links };
    }

    beforeAll(async () => {
      app = await createEngineApp(engine);
    });
    afterAll(async () => app?.destroy());

    it('regression: changing the password voids the outstanding reset, magic-link, MFA-recovery and email-change links; the verification link stays', async () => {
      const { userId, tokens, links } = await withOutstandingLinks('change-voids');
      const verificationBefore = await unusedVerification(userId);
      expect(verificationBefore).toBe(1);
      expect((await post('/v1/me/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, tokens.token)).statusCode).toBe(204);

      expectProblem(await post('/v1/auth/password/reset', { token: links.reset, password: 'yet another passphrase' }), 400, 'invalid_link');
      expectProblem(await post('/v1/auth/magic-link/verify', { token: links.magic }), 400, 'invalid_link');
      expectProblem(await post('/v1/auth/mfa/recovery/complete', { token: links.recovery, password: NEW_PASSWORD }), 400, 'recovery_invalid');
      expectProblem(await post('/v1/auth/verify-email', { token: links.change }), 400, 'invalid_link');
      expect(await unusedVerification(userId)).toBe(verificationBefore);
      // The session that changed it goes on.
      expect((await api.call('GET', '/v1/me', tokens.token)).statusCode).toBe(200);
    });

    it('regression: resetting the password voids the other outstanding links (magic link, MFA recovery, email change)', async () => {
      const { email, links } = await withOutstandingLinks('reset-voids');
      expect((await post('/v1/auth/password/reset', { token: links.reset, password: NEW_PASSWORD })).statusCode).toBe(204);

      expectProblem(await post('/v1/auth/magic-link/verify', { token: links.magic }), 400, 'invalid_link');
      expectProblem(await post('/v1/auth/mfa/recovery/complete', { token: links.recovery, password: NEW_PASSWORD }), 400, 'recovery_invalid');
      expectProblem(await post('/v1/auth/verify-email', { token: links.change }), 400, 'invalid_link');
      expectProblem(await post('/v1/auth/password/reset', { token: links.reset, password: 'yet another passphrase' }), 400, 'invalid_link');
      // The new password is the way in (with the second factor still asked for).
      const signIn = await post('/v1/auth/login', { email, password: NEW_PASSWORD });
      expect(signIn.json()).toMatchObject({ mfa_required: true });
    });
  });
});
