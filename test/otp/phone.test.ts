import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { appOn, ensureOtpTemplate, harness, otherCode, uniquePhone } from './harness.js';

/*
 * Verifying a phone number (`/v1/me/phone`): a verify_phone code by SMS to the number, bound to the
 * user who asked; the number set on the account only once proven, audited; removal; and the
 * refusals (no SMS channel, a code of someone else, a number another account verified).
 */

interface UserBody {
  id: string;
  email: string;
  phone: string | null;
  phone_verified: boolean;
}

describe.each(engineCases())('phone verification on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let adminToken: string;
    const h = harness(() => app);
    const { call } = h;

    // Accounts come from h.signedIn: its fresh sign-in counts as recent for step-up.
    /** Asks for a code to `phone` and reads it from the SMS outbox. */
    async function codeFor(token: string, phone: string): Promise<{ otpId: string; code: string }> {
      const before = (await h.query<{ id: string }>("SELECT coalesce(max(id), '') AS id FROM dev_outbox WHERE recipient = $1", [phone]))[0]!.id;
      const res = await call('POST', '/v1/me/phone', token, { phone });
      expect(res.statusCode, res.body).toBe(202);
      const body = res.json<{ otp_id: string; expires_at: string }>();
      expect(Object.keys(body).sort()).toEqual(['expires_at', 'otp_id']);
      return { otpId: body.otp_id, code: await h.textedCode(phone, 6, before) };
    }

    beforeAll(async () => {
      app = await appOn(engine);
      await ensureOtpTemplate(app);
      adminToken = (await h.platformAdmin()).token;
    });
    afterAll(async () => app?.destroy());

    it('POST /v1/me/phone → SMS code → POST /v1/me/phone/verify: 200 user with the phone verified; GET /v1/me shows it; audited', async () => {
      const me = await h.signedIn('phone-flow');
      const before = await call('GET', '/v1/me', me.token);
      expect(before.json<UserBody>()).toMatchObject({ phone: null, phone_verified: false });
      const phone = uniquePhone();
      const { otpId, code } = await codeFor(me.token, phone);
      expect(await h.otpRow(otpId)).toMatchObject({ purpose: 'verify_phone', channel: 'sms', recipient: phone, user_id: me.user.id });

      const res = await call('POST', '/v1/me/phone/verify', me.token, { otp_id: otpId, code });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json<UserBody>()).toMatchObject({ id: me.user.id, email: me.email, phone, phone_verified: true });
      expect((await call('GET', '/v1/me', me.token)).json<UserBody>()).toMatchObject({ phone, phone_verified: true });
      const audit = await h.auditRows({ targetId: me.user.id, action: 'user.phone_verified' });
      expect(audit).toHaveLength(1);
      expect(audit[0]!.changes).toEqual({ phone: { before: null, after: `+1${'*'.repeat(phone.length - 6)}${phone.slice(-4)}` } });
      // Replay of the same code.
      expectProblem(await call('POST', '/v1/me/phone/verify', me.token, { otp_id: otpId, code }), 400, 'otp_used');
    });

    it('a wrong code: 400 invalid_code with attempts_left, nothing set', async () => {
      const me = await h.signedIn('phone-wrong');
      const phone = uniquePhone();
      const { otpId, code } = await codeFor(me.token, phone);
      const problem = expectProblem(await call('POST', '/v1/me/phone/verify', me.token, { otp_id: otpId, code: otherCode(code) }), 400, 'invalid_code');
      expect(problem.attempts_left).toBe(4);
      expect((await call('GET', '/v1/me', me.token)).json<UserBody>()).toMatchObject({ phone: null, phone_verified: false });
    });

    it('the code is bound to the user who asked: another user cannot use it (a counted wrong attempt), nor /v1/otp/verify; the owner can', async () => {
      const owner = await h.signedIn('phone-owner');
      const other = await h.signedIn('phone-other');
      const phone = uniquePhone();
      const { otpId, code } = await codeFor(owner.token, phone);
      expect(expectProblem(await call('POST', '/v1/me/phone/verify', other.token, { otp_id: otpId, code }), 400, 'invalid_code').attempts_left).toBe(4);
      expect(expectProblem(await h.verify({ otp_id: otpId, code }), 400, 'invalid_code').attempts_left).toBe(3);
      expect((await call('GET', '/v1/me', other.token)).json<UserBody>().phone).toBeNull();
      const res = await call('POST', '/v1/me/phone/verify', owner.token, { otp_id: otpId, code });
      expect(res.statusCode, res.body).toBe(200);
    });

    it('a verify_phone code from the public /v1/otp/send does not verify a phone on an account', async () => {
      const me = await h.signedIn('phone-public');
      const phone = uniquePhone();
      const sent = await h.sendOk({ channel: 'sms', to: phone, purpose: 'verify_phone' });
      const code = await h.textedCode(phone);
      expectProblem(await call('POST', '/v1/me/phone/verify', me.token, { otp_id: sent.otp_id, code }), 400, 'invalid_code');
      expect((await call('GET', '/v1/me', me.token)).json<UserBody>().phone).toBeNull();
    });

    it('a number another account verified: 409 phone_in_use once the code proved it; the other account keeps it', async () => {
      const first = await h.signedIn('phone-first');
      const second = await h.signedIn('phone-second');
      const phone = uniquePhone();
      const a = await codeFor(first.token, phone);
      expect((await call('POST', '/v1/me/phone/verify', first.token, { otp_id: a.otpId, code: a.code })).statusCode).toBe(200);
      // The resend cooldown is per number and purpose, whoever asks: out of the way for this test.
      await h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 0 } });
      const b = await codeFor(second.token, phone).finally(() => h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 60 } }));
      expectProblem(await call('POST', '/v1/me/phone/verify', second.token, { otp_id: b.otpId, code: b.code }), 409, 'phone_in_use');
      expect((await call('GET', '/v1/me', second.token)).json<UserBody>()).toMatchObject({ phone: null, phone_verified: false });
      expect((await call('GET', '/v1/me', first.token)).json<UserBody>()).toMatchObject({ phone, phone_verified: true });
    });

    it('changing the number: a new number verified replaces the old one', async () => {
      const me = await h.signedIn('phone-change');
      const [one, two] = [uniquePhone(), uniquePhone()];
      const a = await codeFor(me.token, one);
      expect((await call('POST', '/v1/me/phone/verify', me.token, { otp_id: a.otpId, code: a.code })).statusCode).toBe(200);
      const b = await codeFor(me.token, two);
      const res = await call('POST', '/v1/me/phone/verify', me.token, { otp_id: b.otpId, code: b.code });
      expect(res.json<UserBody>()).toMatchObject({ phone: two, phone_verified: true });
      expect(await h.auditRows({ targetId: me.user.id, action: 'user.phone_verified' })).toHaveLength(2);
    });

    it('DELETE /v1/me/phone: 204, the number is gone, audited; again: 404 phone_not_found', async () => {
      const me = await h.signedIn('phone-delete');
      const phone = uniquePhone();
      const { otpId, code } = await codeFor(me.token, phone);
      expect((await call('POST', '/v1/me/phone/verify', me.token, { otp_id: otpId, code })).statusCode).toBe(200);
      const res = await call('DELETE', '/v1/me/phone', me.token);
      expect(res.statusCode, res.body).toBe(204);
      expect((await call('GET', '/v1/me', me.token)).json<UserBody>()).toMatchObject({ phone: null, phone_verified: false });
      expect(await h.auditRows({ targetId: me.user.id, action: 'user.phone_removed' })).toHaveLength(1);
      expectProblem(await call('DELETE', '/v1/me/phone', me.token), 404, 'phone_not_found');
    });

    it('refusals: 401 without a token; 400 for a number not in E.164; 403 without a recent sign-in; nothing sent', async () => {
      expectProblem(await call('POST', '/v1/me/phone', null, { phone: uniquePhone() }), 401, 'unauthorized');
      expectProblem(await call('POST', '/v1/me/phone/verify', null, { otp_id: 'otp_01jzzzzzzzzzzzzzzzzzzzzzzz', code: '123456' }), 401, 'unauthorized');
      expectProblem(await call('DELETE', '/v1/me/phone', null), 401, 'unauthorized');
      const me = await h.signedIn('phone-refusals');
      for (const phone of ['0612345678', '+0612345678', '+1 555 000 1111', '+12']) {
        expectProblem(await call('POST', '/v1/me/phone', me.token, { phone }), 400, 'validation_failed');
      }
      expectProblem(await call('POST', '/v1/me/phone/verify', me.token, { otp_id: 'otp_01jzzzzzzzzzzzzzzzzzzzzzzz', code: 'abcdef' }), 400, 'validation_failed');
      await h.query("UPDATE sessions SET reauthenticated_at = now() - interval '1 hour' WHERE user_id = $1", [me.user.id]);
      const phone = uniquePhone();
      expectProblem(await call('POST', '/v1/me/phone', me.token, { phone }), 403, 'reauthentication_required');
      expectProblem(await call('DELETE', '/v1/me/phone', me.token), 403, 'reauthentication_required');
      expect(await h.otpRowsFor(phone)).toEqual([]);
    });

    it('SMS disabled: 422 channel_disabled (no fallback for a phone), nothing stored or sent, and the log shows the code the switch stopped (regression: channel_unavailable, unlogged)', async () => {
      const me = await h.signedIn('phone-sms-off');
      const phone = uniquePhone();
      await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: 'email' } } });
      try {
        const problem = expectProblem(await call('POST', '/v1/me/phone', me.token, { phone }), 422, 'channel_disabled');
        expect(problem).toMatchObject({ title: 'An administrator has switched this channel off', detail: 'The sms channel is disabled; a verify_phone code cannot go by another channel' });
        expect(await h.otpRowsFor(phone)).toEqual([]);
        expect(await h.smsCount(phone)).toBe(0);
        expect(await h.query('SELECT channel, template, user_id, status, reason FROM communication_logs WHERE recipient = $1', [phone])).toEqual([
          { channel: 'sms', template: 'otp.code', user_id: me.user.id, status: 'blocked_channel_disabled', reason: 'the sms channel is disabled; a verify_phone code cannot go by another channel' },
        ]);
      } finally {
        await h.patchSettings(adminToken, { channels: { sms: { enabled: true } } });
      }
    });

    it('the resend cooldown holds: a second code to the same number within it is 429 otp_cooldown', async () => {
      const me = await h.signedIn('phone-cooldown');
      const phone = uniquePhone();
      await codeFor(me.token, phone);
      const again = await call('POST', '/v1/me/phone', me.token, { phone });
      expectProblem(again, 429, 'otp_cooldown');
      expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
    });
  });
});
