import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { authenticator } from '../helpers/authenticator.js';
import type { MfaChallenge } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { linkToken, waitForMail, type TokenBody } from '../helpers/outbox.js';
import { ensureOtpTemplate, harness, otherCode, uniquePhone } from '../otp/harness.js';

/*
 * Email and SMS codes as second factors of a sign-in, end to end on each engine: a user with a
 * verified address (and phone) and an authenticator app signs in with the password, the challenge
 * lists email_otp (and sms_otp), the code is sent for the challenge and verified with it, and the
 * tokens say how (`amr`). They are alternatives once a TOTP app or passkey is enrolled, never the
 * reason for a challenge, and do not satisfy MFA_REQUIRED.
 */

describe.each(engineCases())('email and SMS codes as second factors on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let adminToken: string;
    const h = harness(() => app);
    const { call } = h;

    const { challenge } = h;
    const sendOtp = (mfaToken: string, method: string) => call('POST', '/v1/auth/mfa/otp/send', null, { mfa_token: mfaToken, method });
    async function sendOtpOk(mfaToken: string, method: string): Promise<{ otp_id: string; expires_at: string; channel: string }> {
      const res = await sendOtp(mfaToken, method);
      expect(res.statusCode, res.body).toBe(202);
      return res.json();
    }
    const verify = (body: Record<string, unknown>) => call('POST', '/v1/auth/mfa/verify', null, body);

    /** A user with a verified address and an authenticator app; with `phone`, a verified phone number too (through /v1/me/phone). */
    async function user(label: string, options: { verified?: boolean; phone?: boolean } = {}) {
      const { email, user: body } = await h.signedUp(label, { verified: options.verified ?? true });
      const tokens = await h.signIn(email);
      const started = await call('POST', '/v1/me/mfa/totp', tokens.token);
      const device = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
      expect((await call('POST', '/v1/me/mfa/totp/confirm', tokens.token, { code: await device.next() })).statusCode).toBe(200);
      let phone: string | null = null;
      if (options.phone) {
        phone = uniquePhone();
        const sent = await call('POST', '/v1/me/phone', tokens.token, { phone });
        expect(sent.statusCode, sent.body).toBe(202);
        const code = await h.textedCode(phone);
        const verified = await call('POST', '/v1/me/phone/verify', tokens.token, { otp_id: sent.json<{ otp_id: string }>().otp_id, code });
        expect(verified.statusCode, verified.body).toBe(200);
      }
      return { id: body.id, email, phone };
    }

    beforeAll(async () => {
      // Unverified sign-in allowed: the one way an account with an unverified address reaches a challenge.
      app = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true' });
      await ensureOtpTemplate(app);
      adminToken = (await h.platformAdmin()).token;
    });
    afterAll(async () => app?.destroy());

    it('the challenge lists email_otp for a verified address, sms_otp for a verified phone, neither for an unverified address', async () => {
      const plain = await user('mfa-otp-methods');
      expect((await challenge(plain.email)).methods).toEqual(['totp', 'email_otp', 'backup_code']);
      const withPhone = await user('mfa-otp-methods-phone', { phone: true });
      expect((await challenge(withPhone.email)).methods).toEqual(['totp', 'email_otp', 'sms_otp', 'backup_code']);
      const unverified = await user('mfa-otp-methods-unverified', { verified: false });
      expect((await challenge(unverified.email)).methods).toEqual(['totp', 'backup_code']);
    });

    it('email_otp end to end: send for the challenge → the code by mail → verify → tokens with amr pwd, otp, email, mfa', async () => {
      const me = await user('mfa-otp-email');
      const { mfa_token: mfaToken } = await challenge(me.email);
      const sent = await sendOtpOk(mfaToken, 'email_otp');
      expect(sent).toEqual({ otp_id: expect.stringMatching(/^otp_/), expires_at: expect.any(String), channel: 'email' });
      const code = await h.mailedCode(me.email);
      expect(await h.otpRow(sent.otp_id)).toMatchObject({ purpose: 'mfa', channel: 'email', user_id: me.id });
      const res = await verify({ mfa_token: mfaToken, method: 'email_otp', otp_id: sent.otp_id, code });
      expect(res.statusCode, res.body).toBe(200);
      const tokens = res.json<TokenBody>();
      expect(tokens.user.id).toBe(me.id);
      expect(decodeJwt(tokens.access_token).amr).toEqual(['pwd', 'otp', 'email', 'mfa']);
      expect((await call('GET', '/v1/me', tokens.access_token)).statusCode).toBe(200);
      // Single use: neither the mfa_token nor the code signs in twice.
      expectProblem(await verify({ mfa_token: mfaToken, method: 'email_otp', otp_id: sent.otp_id, code }), 401, 'invalid_mfa_token');
    });

    it('sms_otp end to end: the code by SMS → tokens with amr pwd, otp, sms, mfa', async () => {
      const me = await user('mfa-otp-sms', { phone: true });
      const { mfa_token: mfaToken } = await challenge(me.email);
      const before = (await h.waitForSms(me.phone!)).id;
      const sent = await sendOtpOk(mfaToken, 'sms_otp');
      expect(sent.channel).toBe('sms');
      const code = await h.textedCode(me.phone!, 6, before);
      const res = await verify({ mfa_token: mfaToken, method: 'sms_otp', otp_id: sent.otp_id, code });
      expect(res.statusCode, res.body).toBe(200);
      expect(decodeJwt(res.json<TokenBody>().access_token).amr).toEqual(['pwd', 'otp', 'sms', 'mfa']);
    });

    it('the code is bound to its mfa_token and method: another sign-in\'s token, another method, /v1/otp/verify all fail; then it works', async () => {
      const me = await user('mfa-otp-bound');
      const first = await challenge(me.email);
      const second = await challenge(me.email);
      const sent = await sendOtpOk(first.mfa_token, 'email_otp');
      const code = await h.mailedCode(me.email);
      expectProblem(await verify({ mfa_token: second.mfa_token, method: 'email_otp', otp_id: sent.otp_id, code }), 401, 'invalid_mfa_code');
      expectProblem(await verify({ mfa_token: first.mfa_token, method: 'sms_otp', otp_id: sent.otp_id, code }), 401, 'invalid_mfa_code');
      expectProblem(await h.verify({ otp_id: sent.otp_id, code }), 400, 'invalid_code');
      const res = await verify({ mfa_token: first.mfa_token, method: 'email_otp', otp_id: sent.otp_id, code });
      expect(res.statusCode, res.body).toBe(200);
    });

    it('a wrong code: 401 invalid_mfa_code, audited as a failed verification; the right code still works', async () => {
      const me = await user('mfa-otp-wrong');
      const { mfa_token: mfaToken } = await challenge(me.email);
      const sent = await sendOtpOk(mfaToken, 'email_otp');
      const code = await h.mailedCode(me.email);
      expectProblem(await verify({ mfa_token: mfaToken, method: 'email_otp', otp_id: sent.otp_id, code: otherCode(code) }), 401, 'invalid_mfa_code');
      const failures = await h.query<{ result: string }>("SELECT result FROM audit_events WHERE target_id = $1 AND action = 'mfa.verification_failed'", [me.id]);
      expect(failures).toEqual([{ result: 'failure' }]);
      expect((await verify({ mfa_token: mfaToken, method: 'email_otp', otp_id: sent.otp_id, code })).statusCode).toBe(200);
    });

    it('refusals of the send: sms_otp without a verified phone 422; an invalid mfa_token 401; an unknown method 400; a resend within the cooldown 429', async () => {
      const me = await user('mfa-otp-refusals');
      const { mfa_token: mfaToken } = await challenge(me.email);
      expectProblem(await sendOtp(mfaToken, 'sms_otp'), 422, 'mfa_method_unavailable');
      expectProblem(await sendOtp('x'.repeat(40), 'email_otp'), 401, 'invalid_mfa_token');
      expectProblem(await sendOtp(mfaToken, 'totp'), 400, 'validation_failed');
      expectProblem(await verify({ mfa_token: mfaToken, method: 'email_otp', otp_id: 'otp_1', code: '123456' }), 400, 'validation_failed');
      await sendOtpOk(mfaToken, 'email_otp');
      const again = await sendOtp(mfaToken, 'email_otp');
      expectProblem(again, 429, 'otp_cooldown');
      expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('no second factor enrolled: a verified address or phone does not bring a challenge (email and SMS codes are alternatives, not the factor)', async () => {
      const { email, user: body } = await h.signedUp('mfa-otp-none');
      await h.givePhone(body.id, uniquePhone());
      const tokens = await h.signIn(email);
      expect(tokens.token).toEqual(expect.any(String));
      const status = await call('GET', '/v1/me/mfa', tokens.token);
      expect(status.json()).toMatchObject({ totp: false, passkeys: 0 });
    });

    it('SMS disabled with the email fallback: sms_otp still listed, its code goes by email (channel email) and amr says email', async () => {
      const me = await user('mfa-otp-fallback', { phone: true });
      await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: 'email' } } });
      try {
        const { mfa_token: mfaToken, methods } = await challenge(me.email);
        expect(methods).toContain('sms_otp');
        const sent = await sendOtpOk(mfaToken, 'sms_otp');
        expect(sent.channel).toBe('email');
        const code = await h.mailedCode(me.email);
        const res = await verify({ mfa_token: mfaToken, method: 'sms_otp', otp_id: sent.otp_id, code });
        expect(res.statusCode, res.body).toBe(200);
        expect(decodeJwt(res.json<TokenBody>().access_token).amr).toEqual(['pwd', 'otp', 'email', 'mfa']);
        // With no fallback, SMS codes are not offered at all.
        await h.patchSettings(adminToken, { channels: { sms: { fallback_channel: null } } });
        expect((await challenge(me.email)).methods).toEqual(['totp', 'email_otp', 'backup_code']);
      } finally {
        await h.patchSettings(adminToken, { channels: { sms: { enabled: true, fallback_channel: 'email' } } });
      }
    });

    it('regression: SMS switched off with no fallback: sending the sms_otp code answers 422 channel_disabled (not mfa_method_unavailable) and the log shows the code the switch stopped', async () => {
      const me = await user('mfa-otp-switched-off', { phone: true });
      const { mfa_token: mfaToken } = await challenge(me.email);
      await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: null } } });
      try {
        expectProblem(await sendOtp(mfaToken, 'sms_otp'), 422, 'channel_disabled');
        const logged = await h.query<{ channel: string; status: string; reason: string; user_id: string }>(
          "SELECT channel, status, reason, user_id FROM communication_logs WHERE recipient = $1 AND template = 'otp.code' ORDER BY id",
          [me.phone],
        );
        expect(logged.at(-1)).toEqual({ channel: 'sms', status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and has no enabled fallback channel for codes', user_id: me.id });
      } finally {
        await h.patchSettings(adminToken, { channels: { sms: { enabled: true, fallback_channel: 'email' } } });
      }
    });

    it('after a magic link (the mailbox was the first factor) email_otp is neither offered nor sent', async () => {
      const me = await user('mfa-otp-magic');
      const started = new Date();
      expect((await call('POST', '/v1/auth/magic-link', null, { email: me.email })).statusCode).toBe(202);
      const mail = await waitForMail(app, { to: me.email, template: 'accounts.magic_link', after: started });
      const res = await call('POST', '/v1/auth/magic-link/verify', null, { token: linkToken(mail, 'magic-link') });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<MfaChallenge>();
      expect(body.methods).toEqual(['totp', 'backup_code']);
      expectProblem(await sendOtp(body.mfa_token, 'email_otp'), 422, 'mfa_method_unavailable');
    });
  });
});

describe('MFA_REQUIRED=all with email and SMS codes (PGlite)', () => {
  let app: TestApp;
  const h = harness(() => app);

  beforeAll(async () => {
    app = await createTestApp({ env: { MFA_REQUIRED: 'all' } });
    await ensureOtpTemplate(app);
  });
  afterAll(async () => app?.destroy());

  it('a verified address and phone do not satisfy the policy: enrolment is still required', async () => {
    const { email, user: body } = await h.signedUp('mfa-otp-policy');
    await h.givePhone(body.id, uniquePhone());
    const tokens = await h.signIn(email);
    expect(decodeJwt(tokens.token).mfa_enroll).toBe(true);
    const status = await h.call('GET', '/v1/me/mfa', tokens.token);
    expect(status.json()).toMatchObject({ enrollment_required: true });
    expectProblem(await h.call('GET', '/v1/me/sessions', tokens.token), 403, 'mfa_enrollment_required');
  });
});
