import type { Database } from '../../platform/db/database.js';
import { httpErrors } from '../../platform/http/errors.js';
import { CHANNELS, type Channel } from './communications.settings.js';
import { queryDailyStats, type StatsRow } from './communications.stats.queries.js';

/*
 * Delivery statistics per UTC day and channel, aggregated in SQL from communication_logs.
 *
 * A message counts on the day it was created (queued), under the channel that carried it (after a
 * fallback: the fallback channel), by its status now, so the counts of one row always add up:
 *   total = queued + sent + delivered + failed + bounced + complained + blocked
 * - queued: still on its way (queued, sending, or retrying after a provider error)
 * - sent: accepted by the provider, no delivery report (yet, or ever: SMTP, push and in-app have none)
 * - delivered / bounced / complained / failed: as the provider reported, or failed for good
 * - blocked: stopped before sending (blocked_channel_disabled + suppressed + opted_out + rate_limited)
 * - delivery_rate: the share of messages handed to a provider that reached the recipient as far as
 *   we know: (sent + delivered + complained) / (sent + delivered + complained + bounced + failed),
 *   4 decimals; null when none was handed over. `sent` counts as reached because most channels never
 *   report delivery; a later bounce report moves the message out of it. Blocked and still-queued
 *   messages are not in the rate (never attempted / not finished).
 * - cost: the sum of what providers charged (Twilio reports prices), with its currency; null when
 *   no message of the row was priced, or when they were priced in several currencies (a provider
 *   switched during the day): such sums are not added up, each message's cost is in its log.
 * Every day of the range appears for every channel asked for, with zeros where nothing was sent.
 */

export interface DailyStats {
  date: string;
  channel: Channel;
  total: number;
  queued: number;
  sent: number;
  delivered: number;
  failed: number;
  bounced: number;
  complained: number;
  blocked: number;
  deliveryRate: number | null;
  cost: { amount: string; currency: string } | null;
}

export interface StatsQuery {
  /** First UTC day, `YYYY-MM-DD` (default: 29 days before `to`). */
  from?: string;
  /** Last UTC day, inclusive (default: today). */
  to?: string;
  channel?: Channel;
}

export interface StatsService {
  /** Throws 400 validation_failed (with the parameter's path) for from > to or more than MAX_STATS_DAYS days. */
  daily(query: StatsQuery): Promise<DailyStats[]>;
}

export const DEFAULT_STATS_DAYS = 30;
export const MAX_STATS_DAYS = 366;
const DAY_MS = 86_400_000;

const isoDay = (time: number): string => new Date(time).toISOString().slice(0, 10);
/** `1.500000` → `1.5`, `2.000000` → `2`. */
const trimAmount = (amount: string): string => (amount.includes('.') ? amount.replace(/\.?0+$/, '') : amount);

function deliveryRate(row: Pick<StatsRow, 'sent' | 'delivered' | 'complained' | 'bounced' | 'failed'>): number | null {
  const reached = row.sent + row.delivered + row.complained;
  const attempted = reached + row.bounced + row.failed;
  return attempted === 0 ? null : Math.round((reached / attempted) * 10_000) / 10_000;
}

export function createStatsService(deps: { db: Database; now?: () => number }): StatsService {
  const { db } = deps;
  const now = deps.now ?? Date.now;

  return {
    async daily(query) {
      const to = query.to ? Date.parse(`${query.to}T00:00:00Z`) : Date.parse(`${isoDay(now())}T00:00:00Z`);
      const from = query.from ? Date.parse(`${query.from}T00:00:00Z`) : to - (DEFAULT_STATS_DAYS - 1) * DAY_MS;
      if (Number.isNaN(from) || Number.isNaN(to)) throw httpErrors.validation_failed('from and to are dates (YYYY-MM-DD)');
      if (from > to) {
        throw httpErrors.validation_failed('querystring.from must not be after to', { errors: [{ path: 'querystring.from', message: 'must not be after to' }] });
      }
      const days = (to - from) / DAY_MS + 1;
      if (days > MAX_STATS_DAYS) {
        const message = `must be within ${MAX_STATS_DAYS} days of from (inclusive); the range asked for has ${days}`;
        throw httpErrors.validation_failed(`querystring.to ${message}`, { errors: [{ path: query.to ? 'querystring.to' : 'querystring.from', message }] });
      }
      const rows = await queryDailyStats(db, { from: new Date(from), until: new Date(to + DAY_MS), ...(query.channel ? { channel: query.channel } : {}) });
      const found = new Map(rows.map((row) => [`${row.date}/${row.channel}`, row]));
      const channels: readonly Channel[] = query.channel ? [query.channel] : CHANNELS;
      const result: DailyStats[] = [];
      for (let time = from; time <= to; time += DAY_MS) {
        const date = isoDay(time);
        for (const channel of channels) {
          const row = found.get(`${date}/${channel}`);
          const counts = {
            total: row?.total ?? 0, queued: row?.queued ?? 0, sent: row?.sent ?? 0, delivered: row?.delivered ?? 0, failed: row?.failed ?? 0,
            bounced: row?.bounced ?? 0, complained: row?.complained ?? 0, blocked: row?.blocked ?? 0,
          };
          const cost = row && row.cost !== null && row.currency !== null && row.currencies === 1 ? { amount: trimAmount(row.cost), currency: row.currency } : null;
          result.push({ date, channel, ...counts, deliveryRate: deliveryRate(counts), cost });
        }
      }
      return result;
    },
  };
}
