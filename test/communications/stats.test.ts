import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';
import { newId } from '../../src/platform/crypto/ids.js';

/*
 * GET /v1/admin/communications/stats (per UTC day and channel, aggregated in SQL from the log) and
 * POST /v1/admin/communications/test (a test message through the real path).
 * Exact counts come from log rows written at chosen instants (UTC day edges included); the test
 * sends then show up in today's statistics.
 */

const CHANNELS = ['email', 'sms', 'push', 'in_app'] as const;
const SETTLED = ['sent', 'delivered', 'failed', 'bounced', 'complained', 'blocked_channel_disabled', 'suppressed', 'opted_out', 'rate_limited'];

interface StatsEntry {
  date: string;
  channel: string;
  total: number;
  queued: number;
  sent: number;
  delivered: number;
  failed: number;
  bounced: number;
  complained: number;
  blocked: number;
  delivery_rate: number | null;
  cost: { amount: string; currency: string } | null;
}

const ZERO = { total: 0, queued: 0, sent: 0, delivered: 0, failed: 0, bounced: 0, complained: 0, blocked: 0, delivery_rate: null, cost: null };
const row = (date: string, channel: string, counts: Partial<StatsEntry> = {}): StatsEntry => ({ date, channel, ...ZERO, ...counts });

describe.each(engineCases())('communication statistics and test sends on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let admin: { id: string; token: string };
    let member: Signed;
    const api = testClient(() => app);
    const { call, query } = api;
    const stats = (search: string, token: string | null = admin.token) => call('GET', `/v1/admin/communications/stats${search}`, token);
    async function statsOk(search: string): Promise<StatsEntry[]> {
      const res = await stats(search);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ data: StatsEntry[] }>().data;
    }
    const testSend = (payload: unknown, token: string | null = admin.token) => call('POST', '/v1/admin/communications/test', token, payload);
    const settledLog = (id: string) => api.logWhen(id, SETTLED, 10_000);
    const logCount = async () => Number((await query<{ n: string | number }>('SELECT count(*) AS n FROM communication_logs'))[0]!.n);
    const setChannel = async (channel: string, enabled: boolean) => {
      const res = await call('PATCH', '/v1/admin/communications/settings', admin.token, { channels: { [channel]: { enabled } } });
      expect(res.statusCode, res.body).toBe(200);
    };

    /** Writes log rows as the messenger would have, at the given instant. */
    async function seed(rows: { channel: string; status: string; at: string; cost?: string; currency?: string; count?: number }[]): Promise<void> {
      for (const spec of rows) {
        for (let i = 0; i < (spec.count ?? 1); i++) {
          await query(
            `INSERT INTO communication_logs (id, channel, template, category, recipient, status, cost, cost_currency, created_at, updated_at)
             VALUES ($1, $2, 'seed.template', 'product', 'seed@example.test', $3, $4, $5, $6, $6)`,
            [newId('com'), spec.channel, spec.status, spec.cost ?? null, spec.currency ?? null, spec.at],
          );
        }
      }
    }

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = await api.platformAdmin();
      member = await api.signedIn('member');

      const d1 = '2024-03-01';
      await seed([
        // Day 1, email: every status once or more; one row a millisecond before UTC midnight.
        { channel: 'email', status: 'sent', at: `${d1}T08:00:00Z`, count: 2 },
        { channel: 'email', status: 'sent', at: `${d1}T23:59:59.999Z` },
        { channel: 'email', status: 'delivered', at: `${d1}T09:00:00Z`, count: 2 },
        { channel: 'email', status: 'bounced', at: `${d1}T10:00:00Z` },
        { channel: 'email', status: 'failed', at: `${d1}T10:00:00Z` },
        { channel: 'email', status: 'complained', at: `${d1}T11:00:00Z` },
        { channel: 'email', status: 'queued', at: `${d1}T12:00:00Z` },
        { channel: 'email', status: 'sending', at: `${d1}T12:00:00Z` },
        { channel: 'email', status: 'retrying', at: `${d1}T12:00:00Z` },
        { channel: 'email', status: 'blocked_channel_disabled', at: `${d1}T13:00:00Z` },
        { channel: 'email', status: 'suppressed', at: `${d1}T13:00:00Z` },
        { channel: 'email', status: 'opted_out', at: `${d1}T13:00:00Z` },
        { channel: 'email', status: 'rate_limited', at: `${d1}T13:00:00Z` },
        // Day 1, sms: priced by the provider in one currency.
        { channel: 'sms', status: 'sent', at: `${d1}T08:00:00Z`, cost: '0.0075', currency: 'USD', count: 2 },
        { channel: 'sms', status: 'delivered', at: `${d1}T08:00:00Z`, cost: '0.0075', currency: 'USD' },
        { channel: 'sms', status: 'failed', at: `${d1}T08:00:00Z` },
        // Day 2: midnight exactly belongs to the new day; written with another offset, still UTC days.
        { channel: 'email', status: 'sent', at: '2024-03-02T00:00:00Z' },
        { channel: 'sms', status: 'delivered', at: '2024-03-02T01:00:00+01:00', cost: '0.01', currency: 'USD' },
        { channel: 'sms', status: 'delivered', at: '2024-03-02T12:00:00Z', cost: '0.02', currency: 'EUR' },
        { channel: 'push', status: 'blocked_channel_disabled', at: '2024-03-02T12:00:00Z', count: 2 },
        // Day 3: 19:30 in New York on the 3rd is 00:30 UTC on the 4th (outside the range); a rate of 1/3.
        { channel: 'in_app', status: 'sent', at: '2024-03-03T06:00:00Z' },
        { channel: 'sms', status: 'sent', at: '2024-03-03T06:00:00Z' },
        { channel: 'sms', status: 'failed', at: '2024-03-03T06:00:00Z', count: 2 },
        { channel: 'email', status: 'sent', at: '2024-03-03T19:30:00-05:00' },
        // Outside the range on the other side.
        { channel: 'email', status: 'sent', at: '2024-02-29T23:59:59.999Z' },
      ]);
    });
    afterAll(async () => app?.destroy());

    it('counts per UTC day and channel, every day and channel of the range, exact (status groups, rate, cost, day edges)', async () => {
      const data = await statsOk('?from=2024-03-01&to=2024-03-03');
      expect(data).toEqual([
        row('2024-03-01', 'email', { total: 15, queued: 3, sent: 3, delivered: 2, bounced: 1, failed: 1, complained: 1, blocked: 4, delivery_rate: 0.75 }),
        row('2024-03-01', 'sms', { total: 4, sent: 2, delivered: 1, failed: 1, delivery_rate: 0.75, cost: { amount: '0.0225', currency: 'USD' } }),
        row('2024-03-01', 'push'),
        row('2024-03-01', 'in_app'),
        row('2024-03-02', 'email', { total: 1, sent: 1, delivery_rate: 1 }),
        // Two currencies in one day are not added up.
        row('2024-03-02', 'sms', { total: 2, delivered: 2, delivery_rate: 1, cost: null }),
        row('2024-03-02', 'push', { total: 2, blocked: 2, delivery_rate: null }),
        row('2024-03-02', 'in_app'),
        row('2024-03-03', 'email'),
        row('2024-03-03', 'sms', { total: 3, sent: 1, failed: 2, delivery_rate: 0.3333 }),
        row('2024-03-03', 'push'),
        row('2024-03-03', 'in_app', { total: 1, sent: 1, delivery_rate: 1 }),
      ]);
      // The parts add up to the total in every row.
      for (const entry of data) expect(entry.queued + entry.sent + entry.delivered + entry.failed + entry.bounced + entry.complained + entry.blocked).toBe(entry.total);

      // One channel; one day; the day edges seen from the neighbouring days.
      expect(await statsOk('?from=2024-03-01&to=2024-03-03&channel=sms')).toEqual(data.filter((entry) => entry.channel === 'sms'));
      expect(await statsOk('?from=2024-03-02&to=2024-03-02&channel=push')).toEqual([row('2024-03-02', 'push', { total: 2, blocked: 2 })]);
      expect(await statsOk('?from=2024-02-29&to=2024-02-29&channel=email')).toEqual([row('2024-02-29', 'email', { total: 1, sent: 1, delivery_rate: 1 })]);
      expect(await statsOk('?from=2024-03-04&to=2024-03-04&channel=email')).toEqual([row('2024-03-04', 'email', { total: 1, sent: 1, delivery_rate: 1 })]);
    });

    it('defaults to the last 30 days up to today (UTC); at most 366 days; from after to, bad dates and unknown parameters are 400', async () => {
      const before = new Date().toISOString().slice(0, 10);
      const data = await statsOk('');
      const after = new Date().toISOString().slice(0, 10);
      expect(data).toHaveLength(30 * CHANNELS.length);
      expect([before, after]).toContain(data.at(-1)!.date);
      expect(data.slice(0, 4).map((entry) => entry.channel)).toEqual([...CHANNELS]);
      const first = Date.parse(`${data[0]!.date}T00:00:00Z`);
      expect(Date.parse(`${data.at(-1)!.date}T00:00:00Z`) - first).toBe(29 * 86_400_000);

      // 366 days (a leap year) is the most; 367 is refused.
      expect(await statsOk('?from=2024-01-01&to=2024-12-31&channel=email')).toHaveLength(366);
      const tooLong = expectProblem(await stats('?from=2024-01-01&to=2025-01-01'), 400, 'validation_failed');
      expect(tooLong.errors).toEqual([{ path: 'querystring.to', message: expect.stringContaining('366 days') }]);
      expectProblem(await stats('?from=2000-01-01'), 400, 'validation_failed');
      const reversed = expectProblem(await stats('?from=2024-03-03&to=2024-03-01'), 400, 'validation_failed');
      expect(reversed.errors).toEqual([{ path: 'querystring.from', message: 'must not be after to' }]);
      for (const search of ['?from=2024-02-30', '?to=yesterday', '?from=2024-03-01T00:00:00Z', '?channel=fax', '?days=7', '?from=']) {
        expectProblem(await stats(search), 400, 'validation_failed');
      }
    });

    it('documents both routes in OpenAPI', async () => {
      const paths = (await call('GET', '/openapi.json', null)).json<{ paths: Record<string, Record<string, unknown>> }>().paths;
      expect(Object.keys(paths['/v1/admin/communications/stats']!)).toEqual(['get']);
      expect(Object.keys(paths['/v1/admin/communications/test']!)).toEqual(['post']);
    });

    it('is for platform admins only: 403 for a user, 401 without a token', async () => {
      expectProblem(await stats('?from=2024-03-01&to=2024-03-03', member.token), 403, 'forbidden');
      expect((await stats('?from=2024-03-01&to=2024-03-03', null)).statusCode).toBe(401);
      expectProblem(await testSend({ channel: 'email', to: member.email }, member.token), 403, 'forbidden');
      expect((await testSend({ channel: 'email', to: member.email }, null)).statusCode).toBe(401);
    });

    it('test send: email through the real path into the outbox, audited; sms, in-app and push likewise; refusals write nothing', async () => {
      const to = uniqueEmail('test-target');
      const res = await testSend({ channel: 'email', to });
      expect(res.statusCode, res.body).toBe(202);
      const { message_id: id } = res.json<{ message_id: string }>();
      expect(id).toMatch(/^com_[0-9a-z]{26}$/);
      const mail = await waitForMail(app, { to, template: 'communications.test' });
      expect(mail.subject).toContain('Test message');
      // A security message: no unsubscribe link.
      expect(mail.headers).toBeNull();
      expect(await settledLog(id)).toMatchObject({ channel: 'email', template: 'communications.test', category: 'security', recipient: to, status: 'sent' });
      expect(
        await query('SELECT actor_id, target_type, target_id FROM audit_events WHERE action = $1 AND target_id = $2', ['communications.test_sent', id]),
      ).toEqual([{ actor_id: admin.id, target_type: 'communication_log', target_id: id }]);

      // A user who turned everything off on email still gets the test (security category).
      const optedOut = await call('PUT', '/v1/me/notification-preferences', member.token, {
        categories: { account: { email: false }, organization: { email: false }, product: { email: false }, marketing: { email: false } },
      });
      expect(optedOut.statusCode, optedOut.body).toBe(200);
      const toMember = await testSend({ channel: 'email', to: member.email });
      expect(toMember.statusCode, toMember.body).toBe(202);
      expect(await settledLog(toMember.json<{ message_id: string }>().message_id)).toMatchObject({ status: 'sent' });

      const sms = await testSend({ channel: 'sms', to: '+14155550123' });
      expect(sms.statusCode, sms.body).toBe(202);
      expect(await settledLog(sms.json<{ message_id: string }>().message_id)).toMatchObject({ channel: 'sms', recipient: '+14155550123', status: 'sent' });
      expect(await query("SELECT recipient FROM dev_outbox WHERE channel = 'sms' AND recipient = $1", ['+14155550123'])).toHaveLength(1);

      const inApp = await testSend({ channel: 'in_app', to: member.user.id });
      expect(inApp.statusCode, inApp.body).toBe(202);
      expect(await settledLog(inApp.json<{ message_id: string }>().message_id)).toMatchObject({ channel: 'in_app', recipient: member.user.id, status: 'sent' });
      expect(await query("SELECT template FROM notifications WHERE user_id = $1 AND template = 'communications.test'", [member.user.id])).toHaveLength(1);

      // Push to a user with no subscription: taken, then failed with the reason in the log.
      const push = await testSend({ channel: 'push', to: member.user.id });
      expect(push.statusCode, push.body).toBe(202);
      expect(await settledLog(push.json<{ message_id: string }>().message_id)).toMatchObject({ channel: 'push', status: 'failed', error: 'the user has no push subscription' });

      const logs = await logCount();
      const refusals: [unknown, number, string][] = [
        [{ channel: 'email', to: 'not-an-address' }, 422, 'invalid_recipient'],
        [{ channel: 'email', to: '+14155550123' }, 422, 'invalid_recipient'],
        [{ channel: 'sms', to: '0014155550123' }, 422, 'invalid_recipient'],
        [{ channel: 'sms', to: member.email }, 422, 'invalid_recipient'],
        [{ channel: 'push', to: member.email }, 422, 'invalid_recipient'],
        [{ channel: 'in_app', to: 'usr_nope' }, 422, 'invalid_recipient'],
        [{ channel: 'in_app', to: newId('usr') }, 404, 'user_not_found'],
        [{ channel: 'push', to: newId('usr') }, 404, 'user_not_found'],
        [{ channel: 'fax', to: member.email }, 400, 'validation_failed'],
        [{ channel: 'email' }, 400, 'validation_failed'],
        [{ channel: 'email', to: '' }, 400, 'validation_failed'],
        [{ channel: 'email', to: member.email, template: 'accounts.reset_password' }, 400, 'validation_failed'],
      ];
      for (const [body, status, code] of refusals) {
        const problem = expectProblem(await testSend(body), status, code);
        if (status === 422) expect(problem.errors).toEqual([{ path: 'body.to', message: expect.any(String) }]);
      }
      expect(await logCount()).toBe(logs);
    });

    it('test send with the channel disabled: 422 channel_disabled naming its log entry, which says blocked_channel_disabled with the reason; the statistics count it (regression: 202, as if it could go)', async () => {
      await setChannel('email', false);
      let id: string;
      try {
        const to = uniqueEmail('disabled');
        const problem = expectProblem(await testSend({ channel: 'email', to }), 422, 'channel_disabled');
        expect(problem).toMatchObject({ title: 'An administrator has switched this channel off', detail: 'The email channel is disabled and has no fallback channel', message_id: expect.stringMatching(/^com_/) });
        id = problem.message_id as string;
        expect(await settledLog(id)).toMatchObject({ category: 'security', template: 'communications.test', status: 'blocked_channel_disabled', reason: 'the email channel is disabled and has no fallback channel' });
        // Refused, so not audited as sent.
        expect(await query("SELECT id FROM audit_events WHERE action = 'communications.test_sent' AND target_id = $1", [id])).toEqual([]);
      } finally {
        await setChannel('email', true);
      }
      await drainMail(app);

      // Today's (and, across midnight, yesterday's) statistics hold the real sends of this file.
      const today = new Date();
      const from = new Date(today.getTime() - 86_400_000).toISOString().slice(0, 10);
      const data = await statsOk(`?from=${from}&to=${today.toISOString().slice(0, 10)}`);
      const sum = (channel: string, field: 'total' | 'sent' | 'failed' | 'blocked') => data.filter((entry) => entry.channel === channel).reduce((n, entry) => n + entry[field], 0);
      expect([sum('sms', 'total'), sum('sms', 'sent')]).toEqual([1, 1]);
      expect([sum('push', 'total'), sum('push', 'failed')]).toEqual([1, 1]);
      expect([sum('in_app', 'total'), sum('in_app', 'sent')]).toEqual([1, 1]);
      expect(sum('email', 'blocked')).toBe(1);
      const emailLogs = await query<{ status: string }>("SELECT status FROM communication_logs WHERE channel = 'email' AND created_at >= $1", [`${from}T00:00:00Z`]);
      expect(sum('email', 'total')).toBe(emailLogs.length);
      expect(sum('email', 'sent')).toBe(emailLogs.filter((log) => log.status === 'sent').length);
      expect(sum('email', 'sent')).toBeGreaterThanOrEqual(3);
    });
  });
});
