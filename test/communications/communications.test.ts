import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, createTestApp, type TestApp } from '../helpers/app.js';
import { PASSWORD, testClient, type LogEntry, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, signUp, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.js';
import { createAudit } from '../../src/platform/events/index.js';
import { createSettingsService, maskRecipient } from '../../src/modules/communications/index.js';

/*
 * The first slice of the communications module, through the app: the versioned channel/OTP settings
 * (admin routes, audit), the log every mail writes (queued in the caller's transaction, then sent or
 * stopped: channel disabled, suppressed, rate limited), the suppression list, the log listing with
 * masked recipients; and, on a real SMTP server that refuses, the log following the retries.
 */

interface SettingsBody {
  channels: Record<
    'email' | 'sms' | 'push' | 'in_app',
    { enabled: boolean; rate_limit_per_recipient_per_hour: number | null; security_rate_limit_per_purpose_per_hour: number | null; rate_limit_per_minute: number | null; fallback_channel: string | null }
  >;
  otp: { length: number; expiry_minutes: number; max_attempts: number; resend_cooldown_seconds: number };
  version: number;
  updated_by: string | null;
  updated_at: string | null;
}

interface LogEntryBody {
  id: string;
  channel: string;
  template: string;
  category: string;
  recipient: string;
  status: string;
  created_at: string;
}

const DEFAULTS = {
  channels: {
    email: { enabled: true, rate_limit_per_recipient_per_hour: 20, security_rate_limit_per_purpose_per_hour: 10, rate_limit_per_minute: 600, fallback_channel: null },
    sms: { enabled: true, rate_limit_per_recipient_per_hour: 5, security_rate_limit_per_purpose_per_hour: 5, rate_limit_per_minute: 60, fallback_channel: 'email' },
    push: { enabled: true, rate_limit_per_recipient_per_hour: 30, security_rate_limit_per_purpose_per_hour: 10, rate_limit_per_minute: 600, fallback_channel: null },
    in_app: { enabled: true, rate_limit_per_recipient_per_hour: 100, security_rate_limit_per_purpose_per_hour: 20, rate_limit_per_minute: null, fallback_channel: null },
  },
  otp: { length: 6, expiry_minutes: 10, max_attempts: 5, resend_cooldown_seconds: 60 },
};

/** Statuses after which the pipeline does not touch a log entry again. */
const SETTLED = ['sent', 'failed', 'blocked_channel_disabled', 'suppressed', 'opted_out', 'rate_limited'];

describe.each(engineCases())('communications on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let admin: { id: string; token: string };
    let member: Signed;
    const api = testClient(() => app);
    const { call, query } = api;
    const getSettings = async (): Promise<SettingsBody> => {
      const res = await call('GET', '/v1/admin/communications/settings', admin.token);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<SettingsBody>();
    };
    const patch = (body: unknown, token: string | null = admin.token) => call('PATCH', '/v1/admin/communications/settings', token, body);
    async function patchOk(body: unknown): Promise<SettingsBody> {
      const res = await patch(body);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<SettingsBody>();
    }

    const logsTo = (address: string) => query<LogEntry & Record<string, unknown>>('SELECT * FROM communication_logs WHERE lower(recipient) = lower($1) ORDER BY id', [address]);
    const outboxTo = (address: string) => query<{ id: string; template: string }>('SELECT id, template FROM mail_outbox WHERE lower("to") = lower($1) ORDER BY id', [address]);
    /** Waits until `count` log entries for the address exist and none is still on its way. */
    const settled = (address: string, count: number): Promise<LogEntry[]> =>
      waitFor(async () => {
        const rows = await logsTo(address);
        return rows.length === count && rows.every((row) => SETTLED.includes(row.status)) && rows;
      }, 10_000, `${count} settled log entries for ${address}`);
    const settingsRows = () => query<{ version: number; settings: SettingsBody; updated_by: string | null }>('SELECT version, settings, updated_by FROM communication_settings ORDER BY version');
    const settingsAudit = () =>
      query<{ actor_type: string; actor_id: string; target_type: string; target_id: string; changes: Record<string, unknown> }>(
        "SELECT actor_type, actor_id, target_type, target_id, changes FROM audit_events WHERE action = 'communications.settings_changed' ORDER BY id",
      );
    const listLogs = (search: string, token: string | null = admin.token) => call('GET', `/v1/admin/communications/logs${search}`, token);

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = await api.platformAdmin();
      member = await api.signedIn('member');
    });
    afterAll(async () => app?.destroy());

    it('GET settings: the defaults at version 0 for a platform admin; 403 for anyone else, 401 without a token', async () => {
      const res = await call('GET', '/v1/admin/communications/settings', admin.token);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ ...DEFAULTS, version: 0, updated_by: null, updated_at: null });
      expect(await settingsRows()).toEqual([]);
      expectProblem(await call('GET', '/v1/admin/communications/settings', member.token), 403, 'forbidden');
      expect((await call('GET', '/v1/admin/communications/settings', null)).statusCode).toBe(401);
      expectProblem(await patch({ channels: { sms: { enabled: false } } }, member.token), 403, 'forbidden');
      expect((await patch({ channels: { sms: { enabled: false } } }, null)).statusCode).toBe(401);
      expect((await getSettings()).version).toBe(0);
    });

    it('PATCH merges a change in as a new version, stored and audited with before/after; inconsistent or malformed changes are refused', async () => {
      const before = await getSettings();
      const v = before.version;

      const first = await patchOk({ channels: { sms: { enabled: false } } });
      expect(first).toEqual({
        channels: { ...before.channels, sms: { ...before.channels.sms, enabled: false } },
        otp: before.otp,
        version: v + 1,
        updated_by: admin.id,
        updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      });
      expect(await getSettings()).toEqual(first);

      const second = await patchOk({ otp: { length: 8 } });
      expect(second).toMatchObject({ version: v + 2, updated_by: admin.id, otp: { ...before.otp, length: 8 } });
      // Merged over the latest version: sms stays disabled.
      expect(second.channels).toEqual(first.channels);

      const rows = await settingsRows();
      expect(rows.map((row) => row.version)).toEqual([...Array(v + 2).keys()].map((i) => i + 1));
      expect(rows.at(-2)).toEqual({ version: v + 1, settings: { channels: first.channels, otp: first.otp }, updated_by: admin.id });
      expect(rows.at(-1)).toEqual({ version: v + 2, settings: { channels: second.channels, otp: second.otp }, updated_by: admin.id });

      const audit = await settingsAudit();
      expect(audit.slice(-2)).toEqual([
        { actor_type: 'user', actor_id: admin.id, target_type: 'communication_settings', target_id: String(v + 1), changes: { 'channels.sms.enabled': { before: true, after: false } } },
        { actor_type: 'user', actor_id: admin.id, target_type: 'communication_settings', target_id: String(v + 2), changes: { 'otp.length': { before: before.otp.length, after: 8 } } },
      ]);

      // Refusals: nothing stored, nothing audited, the version stays.
      const refusals: [unknown, number, string][] = [
        [{ channels: { sms: { enabled: true, colour: 'red' } } }, 400, 'validation_failed'],
        [{ channels: { fax: { enabled: true } } }, 400, 'validation_failed'],
        [{ theme: 'dark' }, 400, 'validation_failed'],
        [{ otp: { length: 3 } }, 400, 'validation_failed'],
        [{ otp: { length: 11 } }, 400, 'validation_failed'],
        // Not "no limit" (null) in disguise: 0, false and '' are refused, not coerced into null.
        [{ channels: { email: { rate_limit_per_minute: 0 } } }, 400, 'validation_failed'],
        [{ channels: { email: { rate_limit_per_recipient_per_hour: 0 } } }, 400, 'validation_failed'],
        [{ channels: { email: { rate_limit_per_minute: false } } }, 400, 'validation_failed'],
        [{ channels: { email: { rate_limit_per_minute: 1_000_001 } } }, 400, 'validation_failed'],
        [{ channels: { sms: { fallback_channel: '' } } }, 400, 'validation_failed'],
        [{ channels: { sms: { fallback_channel: false } } }, 400, 'validation_failed'],
        [{ channels: { email: { fallback_channel: 'fax' } } }, 400, 'validation_failed'],
        [{}, 400, 'validation_failed'],
        [{ channels: {} }, 400, 'validation_failed'],
        [{ channels: { sms: {} } }, 400, 'validation_failed'],
        [{ channels: { push: { fallback_channel: 'push' } } }, 422, 'invalid_settings'],
        // sms falls back to email (default): email may not fall back to sms.
        [{ channels: { email: { fallback_channel: 'sms' } } }, 422, 'invalid_settings'],
        [{ channels: { push: { fallback_channel: 'in_app' }, in_app: { fallback_channel: 'push' } } }, 422, 'invalid_settings'],
      ];
      for (const [body, status, code] of refusals) {
        const problem = expectProblem(await patch(body), status, code);
        if (status === 422) expect(problem.errors).toEqual([{ path: expect.stringMatching(/^body\.channels\.\w+\.fallback_channel$/), message: expect.any(String) }]);
      }
      expect((await getSettings()).version).toBe(v + 2);
      expect(await settingsRows()).toHaveLength(v + 2);
      expect(await settingsAudit()).toHaveLength(audit.length);

      // null is "no limit", and a fallback may be removed with null.
      const unlimited = await patchOk({ channels: { push: { rate_limit_per_minute: null }, sms: { fallback_channel: null } } });
      expect(unlimited.channels.push.rate_limit_per_minute).toBeNull();
      expect(unlimited.channels.sms.fallback_channel).toBeNull();
      expect((await settingsAudit()).at(-1)!.changes).toEqual({
        'channels.sms.fallback_channel': { before: 'email', after: null },
        'channels.push.rate_limit_per_minute': { before: 600, after: null },
      });

      // Back to the defaults for the tests that follow.
      const restored = await patchOk({
        channels: { sms: { enabled: true, fallback_channel: 'email' }, push: { rate_limit_per_minute: 600 } },
        otp: { length: before.otp.length },
      });
      expect(restored).toMatchObject({ ...DEFAULTS, version: v + 4 });
      expect((await settingsAudit()).at(-1)!.changes).toEqual({
        'channels.sms.enabled': { before: false, after: true },
        'channels.sms.fallback_channel': { before: null, after: 'email' },
        'channels.push.rate_limit_per_minute': { before: null, after: 600 },
        'otp.length': { before: 8, after: before.otp.length },
      });
    });

    it('logs every mail: queued in the business transaction, then sent by the outbox transport', async () => {
      const email = uniqueEmail('logged');
      const user = await signUp(app, email, PASSWORD);
      // Written in the sign-up transaction: there as soon as the sign-up answered (and the committed
      // job wakes a worker at once, so it may already be on its way).
      const [queued] = await logsTo(email);
      expect(queued).toMatchObject({ channel: 'email', template: 'accounts.verify_email', category: 'security', recipient: email });
      expect(['queued', 'sending', 'sent']).toContain(queued!.status);

      const [sent] = await settled(email, 1);
      expect(sent).toMatchObject({
        id: queued!.id, channel: 'email', requested_channel: null, template: 'accounts.verify_email', category: 'security', recipient: email,
        status: 'sent', reason: null, provider: 'outbox', attempts: 1, error: null,
      });
      expect(sent!.id).toMatch(/^com_[0-9a-z]{26}$/);
      expect(sent!.updated_at.getTime()).toBeGreaterThanOrEqual(sent!.created_at.getTime());
      expect(user.id).toMatch(/^usr_/);
      expect((await waitForMail(app, { to: email, template: 'accounts.verify_email' })).template).toBe('accounts.verify_email');
      expect(await outboxTo(email)).toHaveLength(1);

      // A mail enqueued inside a transaction is logged as queued there (its job is not visible before the commit).
      const other = uniqueEmail('intx');
      const seenInTx = await app.context.db.transaction(async (tx) => {
        await app.context.mail.send({ to: other, template: 'accounts.signup_existing', data: {} }, { tx });
        return (await tx.sql.query<{ status: string }>('SELECT status FROM communication_logs WHERE recipient = $1', [other])).rows;
      });
      expect(seenInTx).toEqual([{ status: 'queued' }]);
      expect(await settled(other, 1)).toEqual([expect.objectContaining({ status: 'sent', attempts: 1, provider: 'outbox' })]);

      // An invitation is registered with the organization category.
      const invitee = uniqueEmail('invitee');
      await app.context.mail.send({
        to: invitee, template: 'orgs.invitation', data: { token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date(Date.now() + 86_400_000).toISOString() },
      });
      expect(await settled(invitee, 1)).toEqual([expect.objectContaining({ template: 'orgs.invitation', category: 'organization', status: 'sent' })]);
    });

    it('with the email channel disabled, mail is not delivered and logged as blocked; re-enabled, it flows again', async () => {
      const email = uniqueEmail('blocked');
      await signUp(app, email, PASSWORD);
      await settled(email, 1);
      try {
        const disabled = await patchOk({ channels: { email: { enabled: false } } });
        expect(disabled.channels.email).toEqual({ ...DEFAULTS.channels.email, enabled: false });

        // Signing up again with a taken address mails its owner (accounts.signup_existing).
        await signUp(app, email, PASSWORD);
        const rows = await settled(email, 2);
        expect(rows[1]).toMatchObject({
          template: 'accounts.signup_existing', category: 'security', status: 'blocked_channel_disabled', provider: null, attempts: 0, error: null,
          reason: 'the email channel is disabled and has no fallback channel',
        });
        // Not a security mail: no mention of a fallback.
        const invitee = uniqueEmail('invitee-blocked');
        await app.context.mail.send({ to: invitee, template: 'orgs.invitation', data: { token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date().toISOString() } });
        expect(await settled(invitee, 1)).toEqual([expect.objectContaining({ category: 'organization', status: 'blocked_channel_disabled', reason: 'the email channel is disabled' })]);

        // A fallback that cannot reach this user (no push subscription) says so.
        await patchOk({ channels: { email: { fallback_channel: 'push' } } });
        await signUp(app, email, PASSWORD);
        expect((await settled(email, 3))[2]).toMatchObject({
          channel: 'email', requested_channel: null, status: 'blocked_channel_disabled', reason: 'the email channel is disabled and the recipient cannot be reached by its fallback push',
        });

        await drainMail(app);
        expect((await outboxTo(email)).map((row) => row.template)).toEqual(['accounts.verify_email']);
        expect(await outboxTo(invitee)).toEqual([]);
      } finally {
        await patchOk({ channels: { email: { enabled: true, fallback_channel: null } } });
      }
      await signUp(app, email, PASSWORD);
      expect((await settled(email, 4))[3]).toMatchObject({ template: 'accounts.signup_existing', status: 'sent', provider: 'outbox', attempts: 1, reason: null });
      expect((await outboxTo(email)).map((row) => row.template)).toEqual(['accounts.verify_email', 'accounts.signup_existing']);
    });

    it('a suppressed recipient (any case) gets nothing; admins list and remove suppressions, audited; then mail flows', async () => {
      const lower = uniqueEmail('bounced');
      const mixed = lower.charAt(0).toUpperCase() + lower.slice(1, 4).toUpperCase() + lower.slice(4).replace('example', 'Example');
      expect(mixed).not.toBe(lower);
      await app.context.communications.suppress('email', mixed, 'hard_bounce');
      expect(await query('SELECT channel, recipient, reason FROM communication_suppressions WHERE lower(recipient) = $1', [lower])).toEqual([
        { channel: 'email', recipient: lower, reason: 'hard_bounce' },
      ]);

      // The account has the address in another case than the suppression was given in.
      await signUp(app, mixed, PASSWORD);
      const [blocked] = await settled(mixed, 1);
      expect(blocked).toMatchObject({ template: 'accounts.verify_email', recipient: mixed, status: 'suppressed', provider: null, attempts: 0 });
      expect(blocked!.reason).toContain('hard_bounce');
      await drainMail(app);
      expect(await outboxTo(lower)).toEqual([]);

      const list = await call('GET', '/v1/admin/communications/suppressions', admin.token);
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json<{ data: unknown[] }>().data).toContainEqual({ channel: 'email', recipient: lower, reason: 'hard_bounce', created_at: expect.any(String) });
      const sms = await call('GET', '/v1/admin/communications/suppressions?channel=sms', admin.token);
      expect(sms.statusCode, sms.body).toBe(200);
      expect(sms.json<{ data: { recipient: string }[] }>().data.map((row) => row.recipient)).not.toContain(lower);
      expectProblem(await call('GET', '/v1/admin/communications/suppressions', member.token), 403, 'forbidden');

      const remove = `/v1/admin/communications/suppressions?channel=email&recipient=${encodeURIComponent(mixed)}`;
      expectProblem(await call('DELETE', remove, member.token), 403, 'forbidden');
      expect((await call('DELETE', remove, null)).statusCode).toBe(401);
      expectProblem(await call('DELETE', '/v1/admin/communications/suppressions?channel=email', admin.token), 400, 'validation_failed');
      const removed = await call('DELETE', remove, admin.token);
      expect(removed.statusCode, removed.body).toBe(204);
      expect(await query('SELECT 1 FROM communication_suppressions WHERE lower(recipient) = $1', [lower])).toEqual([]);
      const audit = await query<{ actor_id: string; target_type: string; target_id: string }>(
        "SELECT actor_id, target_type, target_id FROM audit_events WHERE action = 'communications.suppression_removed' AND target_id = $1",
        [`email:${maskRecipient(lower)}`],
      );
      expect(audit).toEqual([{ actor_id: admin.id, target_type: 'suppression', target_id: `email:${maskRecipient(lower)}` }]);

      await signUp(app, mixed, PASSWORD);
      expect((await settled(mixed, 2))[1]).toMatchObject({ template: 'accounts.signup_existing', status: 'sent' });
      expect((await outboxTo(lower)).map((row) => row.template)).toEqual(['accounts.signup_existing']);

      expectProblem(await call('DELETE', remove, admin.token), 404, 'suppression_not_found');
    });

    it('the suppression list pages by recipient then channel: one recipient suppressed on two channels is on the pages twice (regression: the cursor, a recipient alone, skipped the second)', async () => {
      const userId = member.user.id;
      for (const channel of ['push', 'in_app'] as const) await app.context.communications.suppress(channel, userId, 'admin');
      const seen: { channel: string; recipient: string }[] = [];
      let cursor: string | null = null;
      do {
        const res = await call('GET', `/v1/admin/communications/suppressions?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, admin.token);
        expect(res.statusCode, res.body).toBe(200);
        const page: { data: { channel: string; recipient: string }[]; next_cursor: string | null } = res.json();
        expect(page.data.length).toBeLessThanOrEqual(1);
        seen.push(...page.data.map(({ channel, recipient }) => ({ channel, recipient })));
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen.filter((row) => row.recipient === userId)).toEqual([{ channel: 'in_app', recipient: userId }, { channel: 'push', recipient: userId }]);
      const all = await query<{ channel: string; recipient: string }>('SELECT channel, recipient FROM communication_suppressions ORDER BY recipient, channel');
      expect(seen).toEqual(all);
      expectProblem(await call('GET', '/v1/admin/communications/suppressions?cursor=nope', admin.token), 400, 'validation_failed');
      for (const channel of ['push', 'in_app']) await call('DELETE', `/v1/admin/communications/suppressions?channel=${channel}&recipient=${userId}`, admin.token);
    });

    it('a test send on a disabled channel is refused (422 channel_disabled, logged) unless its fallback reaches the recipient', async () => {
      const stranger = `+1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
      await patchOk({ channels: { sms: { enabled: false } } });
      try {
        const testSend = (body: Record<string, unknown>) => call('POST', '/v1/admin/communications/test', admin.token, body);
        // SMS falls back to email, which reaches no one for a number no account verified.
        const problem = expectProblem(await testSend({ channel: 'sms', to: stranger }), 422, 'channel_disabled');
        expect(problem.detail).toBe('The sms channel is disabled and the recipient cannot be reached by its fallback email');
        expect(await logsTo(stranger)).toEqual([expect.objectContaining({ id: problem.message_id, channel: 'sms', template: 'communications.test', status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and the recipient cannot be reached by its fallback email' })]);
        // An account's verified number: the fallback carries it (accepted, the log names the fallback).
        const owner = await signUp(app, uniqueEmail('test-send-owner'), PASSWORD);
        const phone = `+1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
        await query('UPDATE users SET phone = $2, phone_verified = true WHERE id = $1', [owner.id, phone]);
        const accepted = await testSend({ channel: 'sms', to: phone });
        expect(accepted.statusCode, accepted.body).toBe(202);
        const id = accepted.json<{ message_id: string }>().message_id;
        const row = await api.logWhen(id, ['sent'], 10_000);
        expect(row).toMatchObject({ channel: 'email', requested_channel: 'sms', status: 'sent' });
      } finally {
        await patchOk({ channels: { sms: { enabled: true } } });
      }
    });

    const invitation = (to: string) =>
      app.context.mail.send({ to, template: 'orgs.invitation', data: { token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date(Date.now() + 86_400_000).toISOString() } });

    it('stops the mail beyond the per-recipient hourly limit', async () => {
      await patchOk({ channels: { email: { rate_limit_per_recipient_per_hour: 2 } } });
      try {
        const email = uniqueEmail('limited');
        for (let i = 0; i < 3; i++) await invitation(email);
        const rows = await settled(email, 3);
        expect(rows.map((row) => row.status).sort()).toEqual(['rate_limited', 'sent', 'sent']);
        expect(rows.find((row) => row.status === 'rate_limited')).toMatchObject({ reason: 'more than 2 email messages to this recipient within an hour', provider: null, attempts: 0 });
        await drainMail(app);
        expect(await outboxTo(email)).toHaveLength(2);

        // Another recipient has its own count.
        const other = uniqueEmail('unlimited');
        await invitation(other);
        expect(await settled(other, 1)).toEqual([expect.objectContaining({ status: 'sent' })]);
      } finally {
        await patchOk({ channels: { email: { rate_limit_per_recipient_per_hour: DEFAULTS.channels.email.rate_limit_per_recipient_per_hour } } });
      }
    });

    it('security mail is never starved by other mail: with the recipient\'s budget spent on invitations, a password reset to that address is still sent (regression: silently rate_limited)', async () => {
      const email = uniqueEmail('starved');
      await signUp(app, email, PASSWORD);
      await settled(email, 1);
      // Anyone can invite an address: the invitations use up the address's budget for other mail.
      const budget = DEFAULTS.channels.email.rate_limit_per_recipient_per_hour;
      for (let i = 0; i <= budget; i++) await invitation(email);
      const invitations = (await settled(email, budget + 2)).filter((row) => row.template === 'orgs.invitation');
      expect(invitations.filter((row) => row.status === 'rate_limited')).toHaveLength(1);

      const forgot = await call('POST', '/v1/auth/password/forgot', null, { email });
      expect(forgot.statusCode, forgot.body).toBe(202);
      const rows = await settled(email, budget + 3);
      expect(rows.at(-1)).toMatchObject({ template: 'accounts.password_reset', category: 'security', status: 'sent', reason: null });
      expect((await waitForMail(app, { to: email, template: 'accounts.password_reset' })).subject).toMatch(/reset/i);
    });

    it('each security purpose has a budget of its own: repeated magic links are limited, a password reset and other mail to the same address still go', async () => {
      await patchOk({ channels: { email: { security_rate_limit_per_purpose_per_hour: 2 } } });
      try {
        const email = uniqueEmail('purposes');
        for (let i = 0; i < 3; i++) await app.context.mail.send({ to: email, template: 'accounts.magic_link', data: { token: `tok${i}`, expires_minutes: 15 } });
        const links = await settled(email, 3);
        expect(links.map((row) => row.status).sort()).toEqual(['rate_limited', 'sent', 'sent']);
        expect(links.find((row) => row.status === 'rate_limited')).toMatchObject({
          category: 'security', reason: 'more than 2 accounts.magic_link email messages to this recipient within an hour', provider: null, attempts: 0,
        });
        await app.context.mail.send({ to: email, template: 'accounts.password_reset', data: { token: 'reset', expires_minutes: 30 } });
        await invitation(email);
        const rows = await settled(email, 5);
        expect(rows.slice(3).map((row) => [row.template, row.status])).toEqual([['accounts.password_reset', 'sent'], ['orgs.invitation', 'sent']]);
      } finally {
        await patchOk({ channels: { email: { security_rate_limit_per_purpose_per_hour: DEFAULTS.channels.email.security_rate_limit_per_purpose_per_hour } } });
      }
    });

    it('the per-minute limit of a channel holds other messages back for security messages, never the reverse', async () => {
      // in_app: no per-minute limit until now, so nothing was counted in this minute before.
      const [a, b, c, d] = await Promise.all(['minute-a', 'minute-b', 'minute-c', 'minute-d'].map(async (label) => (await signUp(app, uniqueEmail(label), PASSWORD)).id)) as [string, string, string, string];
      const other = (userId: string) =>
        app.context.messenger.notify({ channel: 'in_app', userId, template: 'orgs.invitation', data: { token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date().toISOString() } });
      const security = (userId: string) => app.context.messenger.notify({ channel: 'in_app', userId, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null, device: null } });
      const last = async (userId: string, count: number) => (await settled(userId, count))[count - 1]!;
      await patchOk({ channels: { in_app: { rate_limit_per_minute: 3 } } });
      try {
        // Two other messages and a security notice fill the minute of three; the next other message gives way.
        await other(a);
        expect(await last(a, 1)).toMatchObject({ status: 'sent' });
        await other(b);
        expect(await last(b, 1)).toMatchObject({ status: 'sent' });
        await security(c);
        expect(await last(c, 1)).toMatchObject({ status: 'sent' });
        await other(d);
        expect(await last(d, 1)).toMatchObject({ status: 'rate_limited', reason: 'more than 3 in_app messages within a minute' });
        // The minute is full of other messages, yet security notices have their own room of the same size.
        await security(a);
        expect(await last(a, 2)).toMatchObject({ status: 'sent' });
        await security(b);
        expect(await last(b, 2)).toMatchObject({ status: 'sent' });
        await security(d);
        expect(await last(d, 2)).toMatchObject({ status: 'rate_limited', reason: 'more than 3 security in_app messages within a minute' });
      } finally {
        await patchOk({ channels: { in_app: { rate_limit_per_minute: null } } });
      }
    });

    it('a rolled-back transaction leaves no log entry and sends nothing', async () => {
      const gone = uniqueEmail('rolled-back');
      const kept = uniqueEmail('committed');
      await expect(
        app.context.db.transaction(async (tx) => {
          await app.context.mail.send({ to: gone, template: 'accounts.signup_existing', data: {} }, { tx });
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      await app.context.db.transaction((tx) => app.context.mail.send({ to: kept, template: 'accounts.signup_existing', data: {} }, { tx }));
      await settled(kept, 1);
      // Longer than two polls of the queue: a job of the rolled-back transaction would have run.
      await sleep(2_500);
      await drainMail(app);
      expect(await logsTo(gone)).toEqual([]);
      expect(await outboxTo(gone)).toEqual([]);
      expect(await outboxTo(kept)).toHaveLength(1);
    });

    it('GET logs: filters, cursor pagination, masked recipients; admins only; bad queries refused', async () => {
      const address = `j${uniqueEmail('logs')}`;
      const masked = `j***@example.test`;
      await app.context.mail.send({ to: address, template: 'accounts.signup_existing', data: {} });
      await sleep(30);
      await app.context.mail.send({ to: address, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null, device: null } });
      await settled(address, 2);
      await sleep(30);
      await app.context.communications.suppress('email', address, 'complaint');
      await app.context.mail.send({ to: address, template: 'accounts.signup_existing', data: {} });
      const rows = await settled(address, 3);
      expect(rows.map((row) => row.status)).toEqual(['sent', 'sent', 'suppressed']);
      const newestFirst = [...rows].reverse().map((row) => row.id);

      const ids = async (search: string): Promise<string[]> => {
        const res = await listLogs(search);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.body.toLowerCase()).not.toContain(address.toLowerCase());
        return res.json<{ data: LogEntryBody[] }>().data.map((entry) => entry.id);
      };
      const to = `&recipient=${encodeURIComponent(address.toUpperCase())}`;

      const all = await listLogs(`?recipient=${encodeURIComponent(address.toUpperCase())}`);
      expect(all.statusCode, all.body).toBe(200);
      const body = all.json<{ data: (LogEntryBody & Record<string, unknown>)[]; next_cursor: string | null }>();
      expect(body.next_cursor).toBeNull();
      expect(body.data.map((entry) => entry.id)).toEqual(newestFirst);
      expect(body.data[0]).toEqual({
        id: rows[2]!.id, channel: 'email', requested_channel: null, template: 'accounts.signup_existing', category: 'security', recipient: masked, user_id: null,
        status: 'suppressed', reason: expect.stringContaining('complaint'), provider: null, attempts: 0, error: null,
        created_at: rows[2]!.created_at.toISOString(), updated_at: expect.any(String),
      });
      expect(body.data.map((entry) => entry.recipient)).toEqual([masked, masked, masked]);
      expect(all.body).not.toContain(address);

      expect(await ids(`?template=accounts.password_changed${to}`)).toEqual([rows[1]!.id]);
      expect(await ids(`?channel=email${to}`)).toEqual(newestFirst);
      expect(await ids(`?channel=sms${to}`)).toEqual([]);
      expect(await ids(`?status=sent${to}`)).toEqual([rows[1]!.id, rows[0]!.id]);
      expect(await ids(`?status=suppressed${to}`)).toEqual([rows[2]!.id]);
      expect(await ids(`?status=queued${to}`)).toEqual([]);
      expect(await ids(`?recipient=${encodeURIComponent(`x${address}`)}`)).toEqual([]);

      // Time windows (inclusive); stored timestamps have microseconds, the wire has milliseconds.
      const middle = rows[1]!.created_at.getTime();
      expect(middle - rows[0]!.created_at.getTime()).toBeGreaterThan(5);
      expect(rows[2]!.created_at.getTime() - middle).toBeGreaterThan(5);
      const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      expect(await ids(`?from=${iso(middle)}${to}`)).toEqual([rows[2]!.id, rows[1]!.id]);
      expect(await ids(`?to=${iso(middle + 1)}${to}`)).toEqual([rows[1]!.id, rows[0]!.id]);
      expect(await ids(`?from=${iso(middle)}&to=${iso(middle + 1)}${to}`)).toEqual([rows[1]!.id]);
      expect(await ids(`?from=${iso(Date.now() + 60_000)}${to}`)).toEqual([]);

      // limit=1 walks every page of the filtered list once.
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await listLogs(`?limit=1${to}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        const page = res.json<{ data: LogEntryBody[]; next_cursor: string | null }>();
        expect(page.data.length).toBeLessThanOrEqual(1);
        walked.push(...page.data.map((entry) => entry.id));
        cursor = page.next_cursor;
        expect(walked.length).toBeLessThan(10);
      } while (cursor);
      expect(walked).toEqual(newestFirst);

      // And the whole unfiltered log, two at a time: every entry exactly once, newest first, all masked.
      const everything: LogEntryBody[] = [];
      cursor = null;
      do {
        const res = await listLogs(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        const page = res.json<{ data: LogEntryBody[]; next_cursor: string | null }>();
        everything.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
      const stored = await query<{ id: string }>('SELECT id FROM communication_logs ORDER BY id DESC');
      expect(everything.map((entry) => entry.id)).toEqual(stored.map((row) => row.id));
      expect(new Set(everything.map((entry) => entry.id)).size).toBe(everything.length);
      const maskOf: Record<string, RegExp> = { email: /^.\*\*\*@[^@]+$/, sms: /^\+\d\*+\d{4}$/, in_app: /^u\*\*\*$/, push: /^u\*\*\*$/ };
      for (const entry of everything) expect(entry.recipient).toMatch(maskOf[entry.channel]!);

      expectProblem(await listLogs('', member.token), 403, 'forbidden');
      expect((await listLogs('', null)).statusCode).toBe(401);
      for (const bad of ['?limit=0', '?limit=201', '?cursor=garbage', '?cursor=com_short', '?channel=fax', '?status=Sent!', '?from=yesterday', '?to=2024-13-45', '?page=2', '?recipient=']) {
        expectProblem(await listLogs(bad), 400, 'validation_failed');
      }
    });
  });
});

describe('the log follows delivery to a real SMTP server that refuses (451), with quick retries', () => {
  let refusing = false;
  let smtp: SmtpSink;
  let app: TestApp;
  const api = testClient(() => app);
  beforeAll(async () => {
    smtp = await startSmtpSink({ reject: () => refusing });
    app = await createTestApp({
      env: { SMTP_URL: smtp.url, MAIL_FROM: 'Tessera <no-reply@example.com>', COMMUNICATION_BREAKER_THRESHOLD: '1000' },
      // Three attempts in all, a second apart.
      build: { messengerQueue: { retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5, retryLimit: 2 } },
    });
  });
  afterEach(() => {
    refusing = false;
  });
  afterAll(async () => {
    await app?.destroy();
    await smtp?.close();
  });

  const logOf = async (id: string): Promise<LogEntry> => (await api.logEntry(id))!;
  const send = (to: string) => app.context.mail.send({ to, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null } });

  it('shows retrying with the attempts and the error while the server refuses, then sent once it accepts', async () => {
    refusing = true;
    const to = uniqueEmail('retry');
    const before = smtp.attempts;
    const id = await send(to);
    const retrying = await waitFor(async () => {
      const row = await logOf(id);
      return row.status === 'retrying' && row.attempts >= 2 && row;
    }, 15_000, 'two refused attempts');
    refusing = false;
    expect(retrying).toMatchObject({ channel: 'email', template: 'accounts.password_changed', category: 'security', status: 'retrying', provider: 'smtp' });
    expect(retrying.error).toMatch(/451|Try again later/);
    expect(smtp.messagesTo(to)).toHaveLength(0);

    const sent = await api.logWhen(id, ['sent', 'failed']);
    expect(sent).toMatchObject({ status: 'sent', provider: 'smtp', error: null, reason: null });
    expect(sent.attempts).toBe(3);
    expect(smtp.attempts - before).toBe(3);
    expect(smtp.messagesTo(to)).toHaveLength(1);
  });

  it('ends as failed, with the last error, after the last retry', async () => {
    refusing = true;
    const to = uniqueEmail('never');
    const before = smtp.attempts;
    const id = await send(to);
    const failed = await api.logWhen(id, ['failed', 'sent'], 20_000);
    // retryLimit 2: three attempts in all, each counted once.
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, provider: 'smtp' });
    expect(failed.error).toMatch(/451|Try again later/);
    await drainMail(app);
    expect(smtp.attempts - before).toBe(3);
    expect(smtp.messagesTo(to)).toHaveLength(0);
  });

  it('a disabled channel stops the mail before any SMTP attempt; a change by another instance is in force within a second', async () => {
    // Another settings service (another instance) makes the change.
    const settings = createSettingsService({ db: app.context.db, audit: createAudit() });
    await settings.update({ channels: { email: { enabled: false } } }, { id: 'usr_00000000000000000000000000' }, { ip: null, userAgent: null });
    try {
      await sleep(1_100);
      const before = smtp.attempts;
      const to = uniqueEmail('off');
      const id = await send(to);
      const blocked = await waitFor(async () => {
        const row = await logOf(id);
        return row.status !== 'queued' && row.status !== 'sending' && row;
      }, 10_000, 'the mail to be decided');
      expect(blocked).toMatchObject({ status: 'blocked_channel_disabled', attempts: 0, provider: null });
      await drainMail(app);
      expect(smtp.attempts).toBe(before);
    } finally {
      await settings.update({ channels: { email: { enabled: true } } }, { id: 'usr_00000000000000000000000000' }, { ip: null, userAgent: null });
    }
  });
});
