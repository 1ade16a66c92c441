import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { PASSWORD, randomIp } from '../helpers/client.js';
import { drainMail, findMails, signUpAndVerify, uniqueEmail } from '../helpers/outbox.js';
import { sleep } from '../helpers/wait.js';
import { appOn, codeIn, ensureOtpTemplate, harness, otherCode, uniquePhone } from './harness.js';

/*
 * The OTP service through HTTP on each engine: codes by email (development mail outbox) and SMS
 * (development outbox), read from the delivered text; verification with its attempt budget,
 * expiry, single use and binding to purpose and recipient; the admin settings applied per send;
 * the SMS fallback; the resend cooldown; the per-recipient and per-IP limits; enumeration; and
 * codes never in a log line or a response.
 */

describe.each(engineCases())('OTP service on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let adminToken: string;
    let templateStandIn = false;
    /** Every code the tests saw delivered: none may appear in a log line. */
    const codes: string[] = [];
    const h = harness(() => app);
    const { sendOk, send, verify } = h;

    /** What the communication log says of the messages a channel switch stopped for a recipient. */
    const blockedLogs = (recipient: string) =>
      h.query<{ channel: string; template: string; category: string; user_id: string | null; status: string; reason: string }>(
        "SELECT channel, template, category, user_id, status, reason FROM communication_logs WHERE lower(recipient) = lower($1) AND status = 'blocked_channel_disabled' ORDER BY id",
        [recipient],
      );
    const mailCode = async (to: string, length = 6) => {
      const code = await h.mailedCode(to, length);
      codes.push(code);
      return code;
    };
    const smsCode = async (phone: string, length = 6) => {
      const code = await h.textedCode(phone, length);
      codes.push(code);
      return code;
    };

    beforeAll(async () => {
      app = await appOn(engine);
      templateStandIn = await ensureOtpTemplate(app);
      adminToken = (await h.platformAdmin()).token;
    });
    afterAll(async () => app?.destroy());

    it('(template) otp.code renders from the default templates, without a stand-in', () => {
      // Guards that the suite exercises the real default template; fails while it is missing.
      expect(templateStandIn).toBe(false);
    });

    describe('send and verify', () => {
      it('email: 202 with the channel; the code arrives by mail; verify answers the purpose and channel; the row holds an HMAC, never the code', async () => {
        const to = uniqueEmail('otp-mail');
        const res = await send({ channel: 'email', to, purpose: 'verify_email' });
        expect(res.statusCode, res.body).toBe(202);
        expect(res.headers['cache-control']).toBe('no-store');
        const sent = res.json<{ otp_id: string; expires_at: string; channel: string }>();
        expect(sent).toEqual({ otp_id: expect.stringMatching(/^otp_[0-9a-z]{26}$/), expires_at: expect.stringMatching(/Z$/), channel: 'email' });
        const minutes = (Date.parse(sent.expires_at) - Date.now()) / 60_000;
        expect(minutes).toBeGreaterThan(9);
        expect(minutes).toBeLessThanOrEqual(10);
        const code = await mailCode(to);
        expect(res.body).not.toContain(code);

        const row = (await h.otpRow(sent.otp_id))!;
        expect(row).toMatchObject({ purpose: 'verify_email', requested_channel: 'email', channel: 'email', recipient: to.toLowerCase(), user_id: null, attempts: 0, max_attempts: 5, consumed_at: null });
        expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(JSON.stringify(row)).not.toContain(code);
        const { createHash } = await import('node:crypto');
        // Not a plain hash of the code (brute-forceable from a leaked table): keyed with TESSERA_SECRET.
        for (const input of [code, `${sent.otp_id}:${code}`]) expect(row.code_hash).not.toBe(createHash('sha256').update(input).digest('hex'));

        const ok = await verify({ otp_id: sent.otp_id, code });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.json()).toEqual({ verified: true, purpose: 'verify_email', channel: 'email' });
        expect((await h.otpRow(sent.otp_id))!.consumed_at).not.toBeNull();
      });

      it('sms: the code arrives in the SMS outbox; verify with purpose and to given', async () => {
        const phone = uniquePhone();
        const sent = await sendOk({ channel: 'sms', to: phone, purpose: 'transaction' });
        expect(sent.channel).toBe('sms');
        const code = await smsCode(phone);
        const ok = await verify({ otp_id: sent.otp_id, code, purpose: 'transaction', to: phone });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.json()).toEqual({ verified: true, purpose: 'transaction', channel: 'sms' });
      });

      it('replay: a used code answers 400 otp_used', async () => {
        const to = uniqueEmail('otp-replay');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        expect((await verify({ otp_id: sent.otp_id, code })).statusCode).toBe(200);
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_used');
      });

      it('wrong codes: invalid_code with attempts_left 4, 3, 2, 1, then otp_locked; the right code afterwards is refused', async () => {
        const to = uniqueEmail('otp-wrong');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        const wrong = otherCode(code);
        for (const left of [4, 3, 2, 1]) {
          const body = expectProblem(await verify({ otp_id: sent.otp_id, code: wrong }), 400, 'invalid_code');
          expect(body.attempts_left).toBe(left);
        }
        expect(expectProblem(await verify({ otp_id: sent.otp_id, code: wrong }), 400, 'otp_locked').attempts_left).toBe(0);
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_locked');
        expect((await h.otpRow(sent.otp_id))).toMatchObject({ attempts: 5, consumed_at: null });
      });

      it('concurrent guesses cannot spend more than the budget: 20 at once count 5, and the right code is dead', async () => {
        const to = uniqueEmail('otp-race');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        const wrong = otherCode(code);
        const answers = await Promise.all(Array.from({ length: 20 }, () => verify({ otp_id: sent.otp_id, code: wrong })));
        const codesAnswered = answers.map((res) => res.json<{ code: string }>().code);
        expect(answers.every((res) => res.statusCode === 400)).toBe(true);
        expect(codesAnswered.filter((c) => c === 'invalid_code')).toHaveLength(4);
        expect(codesAnswered.filter((c) => c === 'otp_locked')).toHaveLength(16);
        expect((await h.otpRow(sent.otp_id))!.attempts).toBe(5);
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_locked');
      });

      it('concurrent right answers: one verifies, the other is otp_used', async () => {
        const to = uniqueEmail('otp-race-ok');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        const answers = await Promise.all([verify({ otp_id: sent.otp_id, code }), verify({ otp_id: sent.otp_id, code })]);
        expect(answers.map((res) => res.statusCode).sort()).toEqual([200, 400]);
        expect(answers.find((res) => res.statusCode === 400)!.json<{ code: string }>().code).toBe('otp_used');
      });

      it('expired: 400 otp_expired, even with the right code', async () => {
        const to = uniqueEmail('otp-expired');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        await h.query("UPDATE otp_codes SET expires_at = now() - interval '1 second' WHERE id = $1", [sent.otp_id]);
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_expired');
        expect((await h.otpRow(sent.otp_id))).toMatchObject({ attempts: 0, consumed_at: null });
      });

      it('bound to purpose and recipient: a wrong purpose or to is a wrong attempt; with the right ones the code works', async () => {
        const to = uniqueEmail('otp-bound');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        expect(expectProblem(await verify({ otp_id: sent.otp_id, code, purpose: 'login' }), 400, 'invalid_code').attempts_left).toBe(4);
        expect(expectProblem(await verify({ otp_id: sent.otp_id, code, to: uniqueEmail('someone-else') }), 400, 'invalid_code').attempts_left).toBe(3);
        const ok = await verify({ otp_id: sent.otp_id, code, purpose: 'transaction', to: to.toUpperCase() });
        expect(ok.statusCode, ok.body).toBe(200);
      });

      it('an unknown otp_id answers like a wrong code: invalid_code with a decreasing attempts_left, then otp_locked', async () => {
        const id = 'otp_01jzzzzzzzzzzzzzzzzzzzzzzz';
        for (const left of [4, 3, 2, 1]) expect(expectProblem(await verify({ otp_id: id, code: '123456' }), 400, 'invalid_code').attempts_left).toBe(left);
        expectProblem(await verify({ otp_id: id, code: '123456' }), 400, 'otp_locked');
      });
    });

    describe('refusals of bad input (nothing stored)', () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ['an email that is not one', { channel: 'email', to: 'not-an-address', purpose: 'transaction' }, 'body.to'],
        ['a phone number not in E.164', { channel: 'sms', to: '0612345678', purpose: 'transaction' }, 'body.to'],
        ['a phone number by email', { channel: 'email', to: '+15550000000', purpose: 'transaction' }, 'body.to'],
        ['an address by SMS', { channel: 'sms', to: 'a@example.test', purpose: 'transaction' }, 'body.to'],
        ['verify_email by SMS', { channel: 'sms', to: '+15550001111', purpose: 'verify_email' }, 'body.channel'],
        ['verify_phone by email', { channel: 'email', to: 'v@example.test', purpose: 'verify_phone' }, 'body.channel'],
      ];
      it.each(cases)('POST /v1/otp/send with %s: 400 validation_failed at %s', async (_label, body, path) => {
        const problem = expectProblem(await send(body), 400, 'validation_failed');
        expect(problem.errors).toEqual([expect.objectContaining({ path })]);
        expect(await h.otpRowsFor(String(body.to))).toEqual([]);
      });

      it('schema refusals: unknown channel or purpose, extra fields, malformed otp_id, non-digit code', async () => {
        expectProblem(await send({ channel: 'push', to: 'a@example.test', purpose: 'login' }), 400, 'validation_failed');
        expectProblem(await send({ channel: 'email', to: 'a@example.test', purpose: 'signup' }), 400, 'validation_failed');
        expectProblem(await send({ channel: 'email', to: 'a@example.test', purpose: 'login', code: '123456' }), 400, 'validation_failed');
        expectProblem(await send({ channel: 'email', purpose: 'login' }), 400, 'validation_failed');
        expectProblem(await verify({ otp_id: 'otp_nope', code: '123456' }), 400, 'validation_failed');
        expectProblem(await verify({ otp_id: 'otp_01jzzzzzzzzzzzzzzzzzzzzzzy', code: '12ab56' }), 400, 'validation_failed');
        expectProblem(await verify({ otp_id: 'otp_01jzzzzzzzzzzzzzzzzzzzzzzy', code: '123' }), 400, 'validation_failed');
      });
    });

    describe('settings applied per send', () => {
      afterAll(async () => h.patchSettings(adminToken, { otp: { length: 6, expiry_minutes: 10, max_attempts: 5, resend_cooldown_seconds: 60 } }));

      it('length 8 and expiry 1 minute: the next code has 8 digits and expires in a minute', async () => {
        await h.patchSettings(adminToken, { otp: { length: 8, expiry_minutes: 1 } });
        const to = uniqueEmail('otp-len8');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        expect(Date.parse(sent.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
        expect(Date.parse(sent.expires_at) - Date.now()).toBeGreaterThan(50_000);
        const code = await mailCode(to, 8);
        expect(code).toMatch(/^[0-9]{8}$/);
        expect((await verify({ otp_id: sent.otp_id, code })).statusCode).toBe(200);
        await h.patchSettings(adminToken, { otp: { length: 6, expiry_minutes: 10 } });
      });

      it('max_attempts 2: locked after two wrong codes', async () => {
        await h.patchSettings(adminToken, { otp: { max_attempts: 2 } });
        const to = uniqueEmail('otp-max2');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        expect((await h.otpRow(sent.otp_id))!.max_attempts).toBe(2);
        expect(expectProblem(await verify({ otp_id: sent.otp_id, code: otherCode(code) }), 400, 'invalid_code').attempts_left).toBe(1);
        expectProblem(await verify({ otp_id: sent.otp_id, code: otherCode(code) }), 400, 'otp_locked');
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_locked');
        await h.patchSettings(adminToken, { otp: { max_attempts: 5 } });
      });

      it('a lowered max_attempts applies at once to live codes; a raised one does not extend them', async () => {
        const to = uniqueEmail('otp-lowered');
        const sent = await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const code = await mailCode(to);
        expect(expectProblem(await verify({ otp_id: sent.otp_id, code: otherCode(code) }), 400, 'invalid_code').attempts_left).toBe(4);
        await h.patchSettings(adminToken, { otp: { max_attempts: 2 } });
        expectProblem(await verify({ otp_id: sent.otp_id, code: otherCode(code) }), 400, 'otp_locked');
        await h.patchSettings(adminToken, { otp: { max_attempts: 10 } });
        // The lowered budget stays with the code: raising the setting again does not revive it.
        expectProblem(await verify({ otp_id: sent.otp_id, code }), 400, 'otp_locked');
        await h.patchSettings(adminToken, { otp: { max_attempts: 5 } });
      });

      it('resend cooldown: a second code to the same recipient and purpose is 429 otp_cooldown with Retry-After; another purpose is not held', async () => {
        const to = uniqueEmail('otp-cooldown');
        await sendOk({ channel: 'email', to, purpose: 'transaction' });
        const again = await send({ channel: 'email', to, purpose: 'transaction' });
        const problem = expectProblem(again, 429, 'otp_cooldown');
        const retryAfter = Number(again.headers['retry-after']);
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(problem.retry_after).toBe(retryAfter);
        await sendOk({ channel: 'email', to, purpose: 'verify_email' });
        expect(await h.otpRowsFor(to)).toHaveLength(2);
      });

      it('a cooldown of 1 s: refused at once, accepted after it', async () => {
        await h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 1 } });
        const to = uniqueEmail('otp-cooldown1');
        await sendOk({ channel: 'email', to, purpose: 'transaction' });
        expectProblem(await send({ channel: 'email', to, purpose: 'transaction' }), 429, 'otp_cooldown');
        await sleep(1_100);
        await sendOk({ channel: 'email', to, purpose: 'transaction' });
        expect(await h.otpRowsFor(to)).toHaveLength(2);
        await h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 60 } });
      });
    });

    describe('channels disabled', () => {
      let user: { id: string; email: string };
      let phone: string;

      beforeAll(async () => {
        const email = uniqueEmail('otp-fallback');
        const body = await signUpAndVerify(app, email, PASSWORD);
        phone = uniquePhone();
        await h.givePhone(body.id, phone);
        user = { id: body.id, email };
      });
      afterAll(async () => h.patchSettings(adminToken, { channels: { sms: { enabled: true, fallback_channel: 'email' } } }));

      it('SMS disabled, fallback email: a login code for a verified phone goes to the user\'s email; the answer says channel email', async () => {
        await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: 'email' } } });
        const sent = await sendOk({ channel: 'sms', to: phone, purpose: 'login' });
        expect(sent.channel).toBe('email');
        const code = await mailCode(user.email);
        expect(await h.otpRow(sent.otp_id)).toMatchObject({ requested_channel: 'sms', channel: 'email', recipient: phone, user_id: user.id });
        const ok = await verify({ otp_id: sent.otp_id, code, to: phone });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.json()).toEqual({ verified: true, purpose: 'login', channel: 'email' });
        expect(await h.smsCount(phone)).toBe(0);
      });

      it('SMS disabled: a transaction code for a number no account verified cannot be delivered: 422 channel_disabled, logged as blocked_channel_disabled, nothing stored', async () => {
        const stranger = uniquePhone();
        const problem = expectProblem(await send({ channel: 'sms', to: stranger, purpose: 'transaction' }), 422, 'channel_disabled');
        expect(problem).toMatchObject({ title: 'An administrator has switched this channel off', detail: 'The sms channel is disabled and the recipient cannot be reached by its fallback email' });
        expect(await blockedLogs(stranger)).toEqual([
          { channel: 'sms', template: 'otp.code', category: 'security', user_id: null, status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and the recipient cannot be reached by its fallback email' },
        ]);
        expect(await h.otpRowsFor(stranger)).toEqual([]);
        // Nothing stored, and no cooldown taken either: the next try (SMS back on) goes out.
        await h.patchSettings(adminToken, { channels: { sms: { enabled: true } } });
        await sendOk({ channel: 'sms', to: stranger, purpose: 'transaction' });
        await h.patchSettings(adminToken, { channels: { sms: { enabled: false } } });
      });

      it('SMS disabled: a login code for an unknown number answers the same 202 (channel email), and nothing is stored, sent or logged', async () => {
        const stranger = uniquePhone();
        const sent = await sendOk({ channel: 'sms', to: stranger, purpose: 'login' });
        expect(sent.channel).toBe('email');
        expect(await h.otpRowsFor(stranger)).toEqual([]);
        expect(await h.otpRow(sent.otp_id)).toBeUndefined();
        expect(await blockedLogs(stranger)).toEqual([]);
      });

      it('SMS disabled: a login code for an account that the fallback cannot reach answers the decoy\'s 202, and the admin\'s log shows the code the switch stopped', async () => {
        // An unverified address: the email fallback cannot carry a code there.
        const { user: body } = await h.signedUp('otp-unreachable', { verified: false });
        const number = uniquePhone();
        await h.givePhone(body.id, number);
        const sent = await sendOk({ channel: 'sms', to: number, purpose: 'login' });
        expect(sent.channel).toBe('email');
        expect(await h.otpRow(sent.otp_id)).toBeUndefined();
        expect(await blockedLogs(number)).toEqual([
          { channel: 'sms', template: 'otp.code', category: 'security', user_id: body.id, status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and the recipient cannot be reached by its fallback email' },
        ]);
      });

      it('SMS disabled: verify_phone never falls back (a mailed code proves no phone): 422 channel_disabled, logged', async () => {
        const number = uniquePhone();
        expectProblem(await send({ channel: 'sms', to: number, purpose: 'verify_phone' }), 422, 'channel_disabled');
        expect(await h.otpRowsFor(number)).toEqual([]);
        expect(await blockedLogs(number)).toEqual([expect.objectContaining({ status: 'blocked_channel_disabled', reason: 'the sms channel is disabled; a verify_phone code cannot go by another channel' })]);
      });

      it('SMS disabled without a fallback: 422 channel_disabled for every purpose, each logged with its user, nothing stored (regression: 422 channel_unavailable, "no provider", and nothing in the log)', async () => {
        await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: null } } });
        for (const purpose of ['login', 'transaction', 'mfa']) {
          const problem = expectProblem(await send({ channel: 'sms', to: phone, purpose }), 422, 'channel_disabled');
          expect(problem.detail).toBe('The sms channel is disabled and has no enabled fallback channel for codes');
        }
        expect(await h.otpRowsFor(phone)).toHaveLength(1);
        expect(await blockedLogs(phone)).toEqual(
          Array(3).fill({ channel: 'sms', template: 'otp.code', category: 'security', user_id: user.id, status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and has no enabled fallback channel for codes' }),
        );
      });

      it('the second factor\'s code (purpose mfa, for the signed-in user, bound to the challenge) on a disabled channel: 422 channel_disabled, logged', async () => {
        // What POST /v1/auth/mfa/otp asks the OTP service for once the challenge offered the method.
        await h.patchSettings(adminToken, { channels: { sms: { enabled: false, fallback_channel: null } } });
        const refused = await app.context.otp.send({ channel: 'sms', to: phone, purpose: 'mfa', ip: randomIp(), userId: user.id, binding: 'challenge:sms_otp' }).then(() => null, (e: unknown) => e);
        expect(refused).toMatchObject({ code: 'channel_disabled', status: 422, detail: 'The sms channel is disabled and has no enabled fallback channel for codes' });
        await h.patchSettings(adminToken, { channels: { email: { enabled: false } } });
        try {
          const mailed = await app.context.otp.send({ channel: 'email', to: user.email, purpose: 'mfa', ip: randomIp(), userId: user.id, binding: 'challenge:email_otp' }).then(() => null, (e: unknown) => e);
          expect(mailed).toMatchObject({ code: 'channel_disabled', status: 422, detail: 'The email channel is disabled and has no enabled fallback channel for codes' });
          expect((await blockedLogs(user.email)).at(-1)).toEqual({ channel: 'email', template: 'otp.code', category: 'security', user_id: user.id, status: 'blocked_channel_disabled', reason: 'the email channel is disabled and has no enabled fallback channel for codes' });
        } finally {
          await h.patchSettings(adminToken, { channels: { email: { enabled: true } } });
        }
      });

      it('email disabled (no fallback): 422 channel_disabled, logged; the admin statistics count it as blocked', async () => {
        await h.patchSettings(adminToken, { channels: { email: { enabled: false } } });
        const to = uniqueEmail('otp-mail-off');
        try {
          expectProblem(await send({ channel: 'email', to, purpose: 'verify_email' }), 422, 'channel_disabled');
          expect(await h.otpRowsFor(to)).toEqual([]);
          expect(await blockedLogs(to)).toEqual([{ channel: 'email', template: 'otp.code', category: 'security', user_id: null, status: 'blocked_channel_disabled', reason: 'the email channel is disabled; a verify_email code cannot go by another channel' }]);
          const today = new Date().toISOString().slice(0, 10);
          const stats = await h.call('GET', `/v1/admin/communications/stats?from=${today}&to=${today}&channel=email`, adminToken);
          expect(stats.statusCode, stats.body).toBe(200);
          expect(stats.json<{ data: { blocked: number }[] }>().data[0]!.blocked).toBeGreaterThanOrEqual(1);
        } finally {
          await h.patchSettings(adminToken, { channels: { email: { enabled: true } } });
        }
      });
    });

    describe('enumeration', () => {
      it('login, password_reset and mfa to an unknown address: the same 202 as for a user; nothing stored or sent', async () => {
        const known = uniqueEmail('otp-known');
        await signUpAndVerify(app, known, PASSWORD);
        for (const purpose of ['login', 'password_reset', 'mfa']) {
          const unknown = uniqueEmail(`otp-unknown-${purpose}`);
          const [a, b] = await Promise.all([send({ channel: 'email', to: known, purpose }), send({ channel: 'email', to: unknown, purpose })]);
          expect(a.statusCode, a.body).toBe(202);
          expect(b.statusCode, b.body).toBe(202);
          expect(Object.keys(b.json()).sort()).toEqual(Object.keys(a.json()).sort());
          expect(b.json<{ channel: string }>().channel).toBe('email');
          expect(await h.otpRowsFor(unknown)).toEqual([]);
        }
        await drainMail(app);
        expect(await findMails(app, { to: known, template: 'otp.code' })).toHaveLength(3);
        expect(Number((await h.query<{ n: string }>("SELECT count(*) AS n FROM communication_logs WHERE recipient LIKE 'otp-unknown-%'"))[0]!.n)).toBe(0);
      });

      it('the otp_id of an unknown recipient verifies like a real code: invalid_code with attempts_left 4..1, then otp_locked', async () => {
        const sent = await sendOk({ channel: 'email', to: uniqueEmail('otp-ghost'), purpose: 'login' });
        for (const left of [4, 3, 2, 1]) expect(expectProblem(await verify({ otp_id: sent.otp_id, code: '000000' }), 400, 'invalid_code').attempts_left).toBe(left);
        expectProblem(await verify({ otp_id: sent.otp_id, code: '000000' }), 400, 'otp_locked');
      });

      it('the cooldown holds for an unknown recipient too (its answer must not differ)', async () => {
        const to = uniqueEmail('otp-ghost-cooldown');
        await sendOk({ channel: 'email', to, purpose: 'login' });
        expectProblem(await send({ channel: 'email', to, purpose: 'login' }), 429, 'otp_cooldown');
      });

      it('verify_email and transaction codes go to any address (they prove the address, not an account)', async () => {
        const to = uniqueEmail('otp-anyone');
        await sendOk({ channel: 'email', to, purpose: 'verify_email' });
        await mailCode(to);
        expect(await h.otpRowsFor(to)).toHaveLength(1);
      });
    });

    describe('rate limits of the OTP service (separate from the HTTP rate limiter, which is off in tests)', () => {
      it('per IP: 30 codes an hour from one address, then 429 rate_limited with Retry-After; another address is not held', async () => {
        const ip = randomIp();
        for (let i = 0; i < 30; i++) await sendOk({ channel: 'email', to: uniqueEmail('otp-ip'), purpose: 'login' }, ip);
        const refused = await send({ channel: 'email', to: uniqueEmail('otp-ip'), purpose: 'login' }, ip);
        const problem = expectProblem(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3000);
        expect(problem.retry_after).toBe(Number(refused.headers['retry-after']));
        await sendOk({ channel: 'email', to: uniqueEmail('otp-ip'), purpose: 'login' }, randomIp());
      });

      it('per recipient: 10 codes an hour to one address (any purpose, any client), then 429 rate_limited', async () => {
        await h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 0 } });
        const to = uniqueEmail('otp-recipient');
        for (let i = 0; i < 10; i++) await sendOk({ channel: 'email', to, purpose: i % 2 ? 'transaction' : 'verify_email' });
        const refused = await send({ channel: 'email', to: to.toUpperCase(), purpose: 'transaction' });
        expectProblem(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        expect(await h.otpRowsFor(to)).toHaveLength(10);
        await h.patchSettings(adminToken, { otp: { resend_cooldown_seconds: 60 } });
      });
    });

    it('no code in any log line (checked over every code this suite received)', async () => {
      await drainMail(app);
      expect(codes.length).toBeGreaterThan(10);
      const logs = app.logs.text();
      expect(logs.length).toBeGreaterThan(0);
      for (const code of codes) expect(logs).not.toMatch(new RegExp(`(?<![0-9])${code}(?![0-9])`));
    });
  });
});

describe('codeIn (test helper)', () => {
  it('finds the one code of the given length', () => {
    expect(codeIn('123456 is your code. It expires in 10 minutes.', 6)).toBe('123456');
    expect(() => codeIn('no code here', 6)).toThrow();
  });
});
