import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestApp, logCollector, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { testClient, type LogRow } from '../helpers/client.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { drainMail, uniqueEmail } from '../helpers/outbox.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { buildApp } from '../../src/app/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createMemoryCache, createRedisCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase } from '../../src/platform/db/database.js';
import { DELIVER_QUEUE, type NotifyInput } from '../../src/modules/communications/index.js';

/*
 * The one path every message takes (issue #6), station by station, through the real app: each
 * channel reaches its provider (email: a real SMTP server; sms and push: the development outbox, as
 * no provider is configured; in_app: the notifications table), and every stop is logged with why:
 * channel disabled (and the fallback that carries security messages), suppression, preferences,
 * rate limits; a rolled-back transaction sends nothing; the circuit breaker holds messages while
 * the SMTP server refuses and lets every one of them go, once, when it recovers; template data
 * stays sealed in the queue.
 */

const FROM = 'Tessera <no-reply@example.com>';
const QUEUE = { retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 };
/** Statuses after which the path does not touch a log entry again. */
const SETTLED = ['sent', 'failed', 'blocked_channel_disabled', 'suppressed', 'opted_out', 'rate_limited'];

interface OutboxRow {
  id: string;
  channel: string;
  recipient: string;
  text: string;
  payload: { message_id?: string } | null;
}

/** An app on `engine` (PostgreSQL with Redis under its own key prefix) delivering email to `smtp`. */
async function deliveryApp(engine: Engine, smtp: SmtpSink, env: Record<string, string> = {}): Promise<TestApp> {
  const fullEnv = { SMTP_URL: smtp.url, MAIL_FROM: FROM, ...env };
  if (engine === 'pglite') return createTestApp({ engine, env: fullEnv, build: { messengerQueue: QUEUE } });
  const cache = await createRedisCache(inject('services').redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
  return createTestApp({ engine, env: fullEnv, build: { messengerQueue: QUEUE, cache } });
}

const phoneNumber = (): string => `+1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
const changedData = (): Record<string, unknown> => ({ at: new Date().toISOString(), ip: '198.51.100.4', device: null });
const invitationData = (): Record<string, unknown> => ({ token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date(Date.now() + 86_400_000).toISOString() });

describe.each(engineCases())('the delivery path on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    /** While true, the SMTP server answers every message with 451 (try again later). */
    let refusing = false;
    /** DATA commands (accepted or refused) per recipient. */
    const dataTo = new Map<string, number>();
    /** Recipients whose next message is refused once with 451. */
    const refuseOnce = new Set<string>();
    let smtp: SmtpSink;
    let app: TestApp;
    let adminToken: string;
    const api = testClient(() => app);
    const { query } = api;
    const logOf = async (id: string): Promise<LogRow> => (await api.logEntry(id))!;
    /** The log entry once the path is done with it. */
    const settled = (id: string, timeoutMs?: number): Promise<LogRow> => api.logWhen(id, SETTLED, timeoutMs);
    /** What the SMTP server accepted for an address, the sign-up's verification mail left out. */
    const mailsTo = (address: string) => smtp.messagesTo(address).filter((m) => !/verify your email/i.test(m.subject));
    const notify = (input: NotifyInput): Promise<string> => app.context.messenger.notify(input);
    const outbox = (channel: string, recipient: string) =>
      query<OutboxRow & Record<string, unknown>>('SELECT id, channel, recipient, text, payload FROM dev_outbox WHERE channel = $1 AND recipient = $2 ORDER BY id', [channel, recipient]);
    const inApp = (userId: string) =>
      query<{ id: string; category: string; template: string | null; title: string; body: string }>('SELECT id, category, template, title, body FROM notifications WHERE user_id = $1 ORDER BY id', [userId]);
    async function patchSettings(body: unknown): Promise<void> {
      const res = await api.call('PATCH', '/v1/admin/communications/settings', adminToken, body);
      expect(res.statusCode, res.body).toBe(200);
    }
    async function newUser(label: string, phone?: { number: string; verified: boolean }): Promise<{ id: string; email: string }> {
      const { email, user } = await api.signedUp(label);
      // Its verification mail out of the way first: the tests below count what else arrives.
      await smtp.waitFor((m) => m.rcptTo.includes(email), 10_000, `the verification mail to ${email}`);
      if (phone) await query('UPDATE users SET phone = $2, phone_verified = $3 WHERE id = $1', [user.id, phone.number, phone.verified]);
      return { id: user.id, email };
    }
    async function subscribe(userId: string): Promise<string> {
      const endpoint = `https://push.example.net/send/${randomBytes(8).toString('hex')}`;
      await query('INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4, $5)', [
        `psh_${randomBytes(8).toString('hex')}`, userId, endpoint, 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', 'tBHItJI5svbpez7KI4CCXg',
      ]);
      return endpoint;
    }

    beforeAll(async () => {
      smtp = await startSmtpSink({
        reject: (_attempt, { rcptTo }) => {
          for (const to of rcptTo) dataTo.set(to, (dataTo.get(to) ?? 0) + 1);
          if (rcptTo.some((to) => refuseOnce.delete(to))) return 451;
          return refusing;
        },
      });
      app = await deliveryApp(engine, smtp, { COMMUNICATION_BREAKER_THRESHOLD: '2', COMMUNICATION_BREAKER_COOLDOWN_SECONDS: '2' });
      adminToken = (await api.platformAdmin()).token;
    });
    afterAll(async () => {
      await app?.destroy();
      await smtp?.close();
    });

    it('email goes to the SMTP server, with the log sent by smtp and linked to the user', async () => {
      const user = await newUser('email');
      const id = await notify({ channel: 'email', userId: user.id, template: 'accounts.password_changed', data: changedData() });
      const message = await smtp.waitFor((m) => m.rcptTo.includes(user.email) && /password was changed/i.test(m.subject), 10_000, `mail to ${user.email}`);
      expect(message.text).toContain('198.51.100.4');
      expect(await settled(id)).toMatchObject({
        channel: 'email', requested_channel: null, recipient: user.email, user_id: user.id, category: 'security', status: 'sent', provider: 'smtp', attempts: 1,
        provider_message_id: message.mail.messageId, error: null, reason: null,
      });
    });

    it('sms goes to the development outbox (no provider configured), to the user\'s verified phone', async () => {
      const phone = phoneNumber();
      const user = await newUser('sms', { number: phone, verified: true });
      const id = await notify({ channel: 'sms', userId: user.id, template: 'accounts.password_changed', data: changedData() });
      const log = await settled(id);
      const [row] = await outbox('sms', phone);
      expect(row).toMatchObject({ channel: 'sms', recipient: phone, payload: { message_id: id } });
      expect(row!.text).toMatch(/password was changed/i);
      expect(log).toMatchObject({ channel: 'sms', recipient: phone, user_id: user.id, status: 'sent', provider: 'outbox', provider_message_id: row!.id, attempts: 1 });
      // An explicit number with no account behind it.
      const stranger = phoneNumber();
      const other = await notify({ channel: 'sms', to: stranger, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(other)).toMatchObject({ recipient: stranger, user_id: null, status: 'sent' });
      expect(await outbox('sms', stranger)).toHaveLength(1);
    });

    it('sms without a number to send to is refused at once, and nothing is logged', async () => {
      const user = await newUser('nophone', { number: phoneNumber(), verified: false });
      await expect(notify({ channel: 'sms', userId: user.id, template: 'accounts.password_changed', data: changedData() })).rejects.toThrow(/no sms recipient/);
      expect(await query('SELECT id FROM communication_logs WHERE user_id = $1 AND channel = $2', [user.id, 'sms'])).toEqual([]);
    });

    it('in_app is stored as a notification of the user', async () => {
      const user = await newUser('inapp');
      const id = await notify({ channel: 'in_app', userId: user.id, template: 'accounts.password_changed', data: changedData() });
      const log = await settled(id);
      const rows = await inApp(user.id);
      expect(rows).toEqual([{ id: log.provider_message_id, category: 'security', template: 'accounts.password_changed', title: 'Your password was changed', body: expect.stringMatching(/password/) }]);
      expect(log).toMatchObject({ channel: 'in_app', recipient: user.id, user_id: user.id, status: 'sent', provider: 'in_app', attempts: 1 });
    });

    it('push goes to every subscription of the user (development outbox); without one it fails at once with a clear error', async () => {
      const user = await newUser('push');
      const phone = await subscribe(user.id);
      const laptop = await subscribe(user.id);
      const id = await notify({ channel: 'push', userId: user.id, template: 'accounts.password_changed', data: changedData() });
      const log = await settled(id);
      expect(log).toMatchObject({ channel: 'push', recipient: user.id, status: 'sent', provider: 'outbox', attempts: 1 });
      // Both devices get it (regression: only the first subscription was sent to).
      for (const endpoint of [phone, laptop]) {
        const [row] = await outbox('push', endpoint);
        expect(row, endpoint).toMatchObject({ channel: 'push', payload: { message_id: id } });
        expect(JSON.parse(row!.text)).toMatchObject({ id, title: expect.stringMatching(/password was changed/i), category: 'security' });
      }

      const nobody = await newUser('nopush');
      const lonely = await notify({ channel: 'push', userId: nobody.id, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(lonely)).toMatchObject({ status: 'failed', error: 'the user has no push subscription', attempts: 0 });
      // Not retried: nothing is left in the queue and the entry stays failed.
      await drainMail(app);
      expect(await logOf(lonely)).toMatchObject({ status: 'failed', attempts: 0 });
    });

    it('a disabled channel stops its messages: blocked_channel_disabled, nothing delivered; enabled again, they flow', async () => {
      const phone = phoneNumber();
      const user = await newUser('disabled', { number: phone, verified: true });
      await patchSettings({ channels: { email: { enabled: false }, in_app: { enabled: false }, sms: { enabled: false } } });
      try {
        const mail = await notify({ channel: 'email', userId: user.id, template: 'accounts.password_changed', data: changedData() });
        const note = await notify({ channel: 'in_app', userId: user.id, template: 'accounts.password_changed', data: changedData() });
        // sms falls back to email by default, which is disabled as well.
        const text = await notify({ channel: 'sms', userId: user.id, template: 'accounts.password_changed', data: changedData() });
        expect(await settled(mail)).toMatchObject({ status: 'blocked_channel_disabled', reason: 'the email channel is disabled and has no fallback channel', attempts: 0, provider: null });
        expect(await settled(note)).toMatchObject({ status: 'blocked_channel_disabled', reason: 'the in_app channel is disabled and has no fallback channel', attempts: 0 });
        expect(await settled(text)).toMatchObject({ status: 'blocked_channel_disabled', reason: 'the sms channel is disabled and so is its fallback email', channel: 'sms', requested_channel: null });
        await drainMail(app);
        expect(mailsTo(user.email)).toEqual([]);
        expect(await inApp(user.id)).toEqual([]);
        expect(await outbox('sms', phone)).toEqual([]);
      } finally {
        await patchSettings({ channels: { email: { enabled: true }, in_app: { enabled: true }, sms: { enabled: true } } });
      }
      const again = await notify({ channel: 'in_app', userId: user.id, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(again)).toMatchObject({ status: 'sent' });
      expect(await inApp(user.id)).toHaveLength(1);
    });

    it('a security message on a disabled channel goes by the fallback to a verified phone, and the log says so; other messages are blocked', async () => {
      const phone = phoneNumber();
      const reachable = await newUser('fallback', { number: phone, verified: true });
      const unverified = await newUser('unverified', { number: phoneNumber(), verified: false });
      // sms falls back to email by default: that link is cut first, or the two would fall back to each other.
      await patchSettings({ channels: { sms: { fallback_channel: null }, email: { enabled: false, fallback_channel: 'sms' } } });
      try {
        // A flow naming only the address (no user id): the user is found by it.
        const security = await app.context.mail.send({ to: reachable.email, template: 'accounts.password_changed', data: changedData() });
        const log = await settled(security);
        expect(log).toMatchObject({
          channel: 'sms', requested_channel: 'email', recipient: phone, user_id: reachable.id, status: 'sent', provider: 'outbox', attempts: 1,
          reason: 'the email channel is disabled: sent by its fallback channel sms',
        });
        const [sms] = await outbox('sms', phone);
        expect(sms).toMatchObject({ payload: { message_id: security } });
        expect(sms!.text).toMatch(/password was changed/i);

        // Not a security message: blocked, not rerouted.
        const invitation = await app.context.mail.send({ to: reachable.email, template: 'orgs.invitation', data: invitationData() });
        const organization = await notify({ channel: 'email', userId: reachable.id, template: 'accounts.password_changed', category: 'organization', data: changedData() });
        for (const id of [invitation, organization]) {
          expect(await settled(id)).toMatchObject({ channel: 'email', requested_channel: null, category: 'organization', status: 'blocked_channel_disabled', reason: 'the email channel is disabled' });
        }

        // No way on the fallback: an unverified phone, or an address without an account.
        const noPhone = await app.context.mail.send({ to: unverified.email, template: 'accounts.password_changed', data: changedData() });
        const noAccount = await app.context.mail.send({ to: uniqueEmail('stranger'), template: 'accounts.password_changed', data: changedData() });
        for (const id of [noPhone, noAccount]) {
          expect(await settled(id)).toMatchObject({
            channel: 'email', requested_channel: null, status: 'blocked_channel_disabled', reason: 'the email channel is disabled and the recipient cannot be reached by its fallback sms',
          });
        }

        // The fallback disabled as well.
        await patchSettings({ channels: { sms: { enabled: false } } });
        const neither = await app.context.mail.send({ to: reachable.email, template: 'accounts.password_changed', data: changedData() });
        expect(await settled(neither)).toMatchObject({ status: 'blocked_channel_disabled', reason: 'the email channel is disabled and so is its fallback sms' });

        await drainMail(app);
        expect(await outbox('sms', phone)).toHaveLength(1);
        expect(mailsTo(reachable.email)).toEqual([]);
        expect(mailsTo(unverified.email)).toEqual([]);
      } finally {
        await patchSettings({ channels: { email: { enabled: true, fallback_channel: null }, sms: { enabled: true, fallback_channel: 'email' } } });
      }
    });

    it('a security message on disabled sms goes by email (the default fallback); a retry on the way keeps what the log says', async () => {
      const phone = phoneNumber();
      const user = await newUser('sms-to-mail', { number: phone, verified: true });
      await patchSettings({ channels: { sms: { enabled: false } } });
      try {
        refuseOnce.add(user.email.toLowerCase());
        const id = await notify({ channel: 'sms', to: phone, template: 'accounts.password_changed', data: changedData() });
        const fallback = { channel: 'email', requested_channel: 'sms', recipient: user.email, user_id: user.id, reason: 'the sms channel is disabled: sent by its fallback channel email' };
        const retrying = await waitFor(async () => {
          const row = await logOf(id);
          return row.status !== 'queued' && row.status !== 'sending' && row;
        }, 10_000, 'the first attempt');
        expect(retrying).toMatchObject({ ...fallback, status: 'retrying', attempts: 1, provider: 'smtp', error: expect.stringMatching(/451/) });
        const message = await smtp.waitFor((m) => m.rcptTo.includes(user.email) && /password was changed/i.test(m.subject), 10_000, `mail to ${user.email}`);
        expect(await settled(id)).toMatchObject({ ...fallback, status: 'sent', provider: 'smtp', attempts: 2, error: null, provider_message_id: message.mail.messageId });
        expect(await outbox('sms', phone)).toEqual([]);
      } finally {
        await patchSettings({ channels: { sms: { enabled: true } } });
      }
    });

    it('a suppressed recipient (any case, any channel) gets nothing: suppressed, with the reason', async () => {
      const address = uniqueEmail('bounced');
      await app.context.communications.suppress('email', address.toUpperCase(), 'bounce');
      const mail = await app.context.mail.send({ to: address, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(mail)).toMatchObject({ status: 'suppressed', reason: 'the recipient is on the email suppression list (bounce)', attempts: 0, provider: null });
      const phone = phoneNumber();
      await app.context.communications.suppress('sms', phone, 'unsubscribe');
      const sms = await notify({ channel: 'sms', to: phone, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(sms)).toMatchObject({ status: 'suppressed', reason: 'the recipient is on the sms suppression list (unsubscribe)' });
      await drainMail(app);
      expect(mailsTo(address)).toEqual([]);
      expect(await outbox('sms', phone)).toEqual([]);
    });

    it('a user who turned organization mail off is not sent it (opted_out); security mail still goes, and other channels are untouched', async () => {
      const user = await newUser('prefs');
      await query('INSERT INTO notification_preferences (user_id, category, channel, enabled) VALUES ($1, $2, $3, false)', [user.id, 'organization', 'email']);
      const invitation = await app.context.mail.send({ to: user.email, template: 'orgs.invitation', data: invitationData() });
      expect(await settled(invitation)).toMatchObject({ user_id: user.id, category: 'organization', status: 'opted_out', reason: 'the user turned off organization messages on email', attempts: 0 });
      const security = await app.context.mail.send({ to: user.email, template: 'accounts.password_changed', data: changedData() });
      expect(await settled(security)).toMatchObject({ category: 'security', status: 'sent' });
      const inAppOrg = await notify({ channel: 'in_app', userId: user.id, template: 'orgs.invitation', data: invitationData() });
      expect(await settled(inAppOrg)).toMatchObject({ category: 'organization', status: 'sent' });
      await drainMail(app);
      expect(mailsTo(user.email).map((m) => m.subject)).toEqual([expect.stringMatching(/password was changed/i)]);
    });

    it('rate limits: per recipient per hour and per channel per minute stop the excess (rate_limited), others are unaffected', async () => {
      await patchSettings({ channels: { email: { rate_limit_per_recipient_per_hour: 2 }, in_app: { rate_limit_per_minute: 2 } } });
      try {
        const address = uniqueEmail('limited');
        const ids = [];
        for (let i = 0; i < 3; i++) ids.push(await app.context.mail.send({ to: address, template: 'orgs.invitation', data: invitationData() }));
        const rows = await Promise.all(ids.map((id) => settled(id)));
        expect(rows.map((row) => row.status).sort()).toEqual(['rate_limited', 'sent', 'sent']);
        expect(rows.find((row) => row.status === 'rate_limited')).toMatchObject({ reason: 'more than 2 email messages to this recipient within an hour', attempts: 0, provider: null });
        const other = await app.context.mail.send({ to: uniqueEmail('unlimited'), template: 'orgs.invitation', data: invitationData() });
        expect(await settled(other)).toMatchObject({ status: 'sent' });
        // Security mail to the same address is not held by that budget: it has its own.
        const notice = await app.context.mail.send({ to: address, template: 'accounts.password_changed', data: changedData() });
        expect(await settled(notice)).toMatchObject({ status: 'sent' });
        await drainMail(app);
        expect(mailsTo(address)).toHaveLength(3);

        // in_app had no per-minute limit so far (nothing counted): three users, one over the limit of two.
        const users = [await newUser('minute-a'), await newUser('minute-b'), await newUser('minute-c')];
        const notes = [];
        for (const user of users) notes.push(await notify({ channel: 'in_app', userId: user.id, template: 'orgs.invitation', data: invitationData() }));
        const limited = await Promise.all(notes.map((id) => settled(id)));
        expect(limited.map((row) => row.status).sort()).toEqual(['rate_limited', 'sent', 'sent']);
        expect(limited.find((row) => row.status === 'rate_limited')).toMatchObject({ reason: 'more than 2 in_app messages within a minute' });
        const stored = await Promise.all(users.map((user) => inApp(user.id)));
        expect(stored.map((rows) => rows.length).sort()).toEqual([0, 1, 1]);
      } finally {
        await patchSettings({ channels: { email: { rate_limit_per_recipient_per_hour: 20 }, in_app: { rate_limit_per_minute: null } } });
      }
    });

    it('a message in a rolled-back transaction leaves no log entry and sends nothing', async () => {
      const gone = await newUser('rolled-back');
      const kept = await newUser('committed');
      await expect(
        app.context.db.transaction(async (tx) => {
          await app.context.messenger.notify({ channel: 'email', userId: gone.id, template: 'accounts.password_changed', data: changedData() }, { tx });
          await app.context.messenger.notify({ channel: 'in_app', userId: gone.id, template: 'accounts.password_changed', data: changedData() }, { tx });
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      const id = await app.context.db.transaction((tx) => app.context.messenger.notify({ channel: 'email', userId: kept.id, template: 'accounts.password_changed', data: changedData() }, { tx }));
      expect(await settled(id)).toMatchObject({ status: 'sent' });
      // Longer than two polls of the queue: a job of the rolled-back transaction would have run.
      await sleep(1_500);
      await drainMail(app);
      expect(await query('SELECT id FROM communication_logs WHERE user_id = $1 AND template = $2', [gone.id, 'accounts.password_changed'])).toEqual([]);
      expect(mailsTo(gone.email)).toEqual([]);
      expect(await inApp(gone.id)).toEqual([]);
      expect(mailsTo(kept.email)).toHaveLength(1);
    });

    it('a log entry is linked to its user, with the user\'s locale: given, found by address (any case), or none for a stranger', async () => {
      const user = await newUser('linked');
      await query('UPDATE users SET locale = $2 WHERE id = $1', [user.id, 'es']);
      const given = await notify({ channel: 'email', userId: user.id, to: uniqueEmail('elsewhere'), template: 'accounts.password_changed', data: changedData() });
      const found = await app.context.mail.send({ to: user.email.toUpperCase(), template: 'accounts.password_changed', data: changedData() });
      const stranger = await app.context.mail.send({ to: uniqueEmail('stranger'), template: 'accounts.password_changed', data: changedData() });
      expect(await settled(given)).toMatchObject({ user_id: user.id, locale: 'es', status: 'sent' });
      // Regression: a user found by the address got no locale (the message went out in English).
      expect(await settled(found)).toMatchObject({ user_id: user.id, locale: 'es', status: 'sent' });
      expect(await settled(stranger)).toMatchObject({ user_id: null, locale: null, status: 'sent' });
      const explicit = await notify({ channel: 'email', userId: user.id, locale: 'en', template: 'accounts.password_changed', data: changedData() });
      expect(await settled(explicit)).toMatchObject({ locale: 'en' });
    });

    it('template data stays sealed: a token is readable neither in the queue nor in the logs, yet the mail carries it', async () => {
      const to = uniqueEmail('sealed');
      const secret = `tok-${randomBytes(12).toString('hex')}`;
      const id = await app.context.mail.send({ to, template: 'accounts.password_reset', data: { token: secret, expires_minutes: 30 } });
      const jobs = await query<{ data: string }>('SELECT data::text AS data FROM pgboss.job WHERE name = $1', [DELIVER_QUEUE]);
      const mine = jobs.map((job) => JSON.parse(job.data) as { logId: string; sealed: string }).filter((data) => data.logId === id);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.sealed).toMatch(/^v1\./);
      for (const job of jobs) expect(job.data).not.toContain(secret);

      const message = await smtp.waitFor((m) => m.rcptTo.includes(to), 10_000, `mail to ${to}`);
      expect(message.text).toContain(secret);
      expect(await settled(id)).toMatchObject({ status: 'sent' });
      const after = await query<{ data: string }>('SELECT data::text AS data FROM pgboss.job WHERE name = $1', [DELIVER_QUEUE]);
      for (const job of after) expect(job.data).not.toContain(secret);
      expect(JSON.stringify(await logOf(id))).not.toContain(secret);
      expect(app.logs.text()).not.toContain(secret);
    });

    it('circuit breaker: while the SMTP server refuses, messages wait (retrying, the circuit named), none is lost; on recovery each goes exactly once', async () => {
      refusing = true;
      const addresses = Array.from({ length: 5 }, (_, i) => uniqueEmail(`breaker${i}`));
      /** SMTP attempts (DATA commands) for these five messages. */
      const tried = (): number => addresses.reduce((sum, to) => sum + (dataTo.get(to.toLowerCase()) ?? 0), 0);
      const send = (to: string) => app.context.mail.send({ to, template: 'accounts.password_changed', data: changedData() });
      const logs = async (ids: string[]) => Promise.all(ids.map((id) => logOf(id)));
      try {
        // Two refusals (the threshold) open the circuit.
        const first = [await send(addresses[0]!), await send(addresses[1]!)];
        await waitFor(() => app.context.messenger.breakers()['email:smtp'] === 'open', 15_000, 'the email circuit to open');
        const opened = tried();
        expect(opened).toBe(2);
        const later: string[] = [];
        for (const to of addresses.slice(2)) later.push(await send(to));
        const ids = [...first, ...later];

        // The later ones wait for the circuit: no attempt spent, the log says why.
        const waiting = await waitFor(async () => {
          const rows = await logs(later);
          return rows.every((row) => row.status === 'retrying') && rows;
        }, 15_000, 'the later messages to wait');
        const deferred = waiting.filter((row) => row.attempts === 0);
        expect(deferred.length).toBeGreaterThanOrEqual(1);
        for (const row of deferred) expect(row.error).toMatch(/circuit open/);
        // A cool-down later, a trial goes out, is refused, and the circuit opens again.
        await waitFor(() => tried() > opened, 15_000, 'a trial after the cool-down');
        // Every SMTP attempt is counted once, on its message. The log is written after the server's
        // refusal reached the sender, so it may trail the server's count for a moment: wait for it to
        // catch up, then assert (a count that never matches fails below, naming the message).
        const attemptsOf = (i: number) => dataTo.get(addresses[i]!.toLowerCase()) ?? 0;
        const caughtUp = async () => {
          const rows = await logs(ids);
          return rows.every((row, i) => row.status === 'retrying' && row.attempts === attemptsOf(i)) && rows;
        };
        const during = (await waitFor(caughtUp, 15_000, 'the log to count every attempt').catch(() => null)) || (await logs(ids));
        expect(during.map((row) => row.status)).toEqual(['retrying', 'retrying', 'retrying', 'retrying', 'retrying']);
        for (const [i, row] of during.entries()) expect(row.attempts, addresses[i]).toBe(attemptsOf(i));
        for (const to of addresses) expect(mailsTo(to)).toEqual([]);

        refusing = false;
        const sent = await waitFor(async () => {
          const rows = await logs(ids);
          if (rows.some((row) => row.status === 'failed')) throw new Error(`a message was given up: ${JSON.stringify(rows)}`);
          return rows.every((row) => row.status === 'sent') && rows;
        }, 30_000, 'every message to be sent');
        await drainMail(app, 15_000);
        for (const to of addresses) expect(mailsTo(to), to).toHaveLength(1);
        const final = await logs(ids);
        expect(final).toEqual(sent);
        for (const row of final) expect(row).toMatchObject({ status: 'sent', provider: 'smtp', error: null, requested_channel: null });
        for (const [i, row] of final.entries()) expect(row.attempts, addresses[i]).toBe(dataTo.get(addresses[i]!.toLowerCase()));
        expect(app.context.messenger.breakers()['email:smtp']).toBe('closed');
      } finally {
        refusing = false;
      }
    });

    // Regression: admission was decided once, so a message waiting for a retry went out after its channel was switched off.
    it('a channel switched off while a message waits for a retry stops that message too (blocked_channel_disabled)', async () => {
      const user = await newUser('waiting');
      refusing = true;
      try {
        const id = await notify({ channel: 'email', userId: user.id, template: 'accounts.password_changed', data: changedData() });
        await waitFor(async () => (await logOf(id)).status === 'retrying', 15_000, 'the message to wait for a retry');
        await patchSettings({ channels: { email: { enabled: false } } });
        const row = await settled(id, 20_000);
        expect(row).toMatchObject({ status: 'blocked_channel_disabled', reason: expect.stringMatching(/disabled while the message waited/) });
      } finally {
        refusing = false;
        await patchSettings({ channels: { email: { enabled: true } } });
      }
      expect(mailsTo(user.email)).toHaveLength(0);
    });
  });
});

describe.each(engineCases())('messages waiting for an open circuit on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    it('app.close() does not wait for them, and a restarted instance delivers them', async () => {
      let refusing = true;
      const smtp = await startSmtpSink({ reject: () => refusing });
      const app = await deliveryApp(engine, smtp, { COMMUNICATION_BREAKER_THRESHOLD: '1', COMMUNICATION_BREAKER_COOLDOWN_SECONDS: '3' });
      const api = testClient(() => app);
      let closed = false;
      try {
        const to = [uniqueEmail('wait-a'), uniqueEmail('wait-b')];
        const ids: string[] = [];
        for (const address of to) ids.push(await app.context.mail.send({ to: address, template: 'accounts.password_changed', data: changedData() }));
        const rows = await waitFor(async () => {
          const found = await Promise.all(ids.map(async (id) => (await api.logEntry(id))!));
          return found.every((row) => row.status === 'retrying') && found.some((row) => /circuit open/.test(row.error ?? '')) && found;
        }, 15_000, 'a message waiting for the circuit');
        expect(rows.map((row) => row.status)).toEqual(['retrying', 'retrying']);
        const waitingJobs = await app.context.db.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state IN ('created', 'retry')", [DELIVER_QUEUE]);
        expect(waitingJobs.rows[0]!.n).toBeGreaterThanOrEqual(1);
        // Resolves (the messages stay in the queue); a hang fails the test on its timeout.
        await app.close();
        closed = true;
        if (engine === 'pglite') return;

        // PostgreSQL: a new instance on the same database picks the messages up once the server accepts.
        refusing = false;
        const db = createPostgresDatabase({ url: app.database.url! });
        const config = loadConfig({ NODE_ENV: 'test', TESSERA_SECRET: TEST_SECRET, LOG_LEVEL: 'info', DATA_DIR: '/tmp/tessera-test-unused', RATE_LIMIT_ENABLED: 'false', SMTP_URL: smtp.url, MAIL_FROM: FROM });
        const second = await buildApp(config, { db, cache: createMemoryCache({ prefix: 'restart:' }), messengerQueue: QUEUE, logDestination: logCollector().stream });
        try {
          await waitFor(async () => {
            const { rows: found } = await db.sql.query<{ status: string }>('SELECT status FROM communication_logs WHERE id = ANY($1)', [ids]);
            return found.length === 2 && found.every((row) => row.status === 'sent');
          }, 30_000, 'the waiting messages to be sent after the restart');
          for (const address of to) expect(smtp.messagesTo(address), address).toHaveLength(1);
        } finally {
          await second.close();
        }
      } finally {
        if (!closed) await app.close();
        await app.database.destroy();
        await smtp.close();
      }
    }, 60_000);
  });
});
