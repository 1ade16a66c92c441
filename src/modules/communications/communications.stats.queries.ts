import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { communicationLogs } from './communications.tables.js';

const IN_FLIGHT = ['queued', 'sending', 'retrying'];
const BLOCKED = ['blocked_channel_disabled', 'suppressed', 'opted_out', 'rate_limited'];

export interface StatsRow {
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
  cost: string | null;
  currency: string | null;
  currencies: number;
}

const statusIn = (statuses: string[]) => sql`${communicationLogs.status} IN (${sql.join(statuses.map((status) => sql`${status}`), sql`, `)})`;
const countWhere = (condition: ReturnType<typeof sql>) => sql<number>`(count(*) FILTER (WHERE ${condition}))::int`;

/** Counts per (UTC day, channel) of the messages created in [from, until). SQL valid on PostgreSQL 15 and PGlite. */
export async function queryDailyStats(db: DbHandle, range: { from: Date; until: Date; channel?: string }): Promise<StatsRow[]> {
  // Literal SQL only (no parameters) so the select and GROUP BY expressions are textually the same.
  const day = sql<string>`to_char(date_trunc('day', ${communicationLogs.createdAt} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`;
  const priced = sql`${communicationLogs.cost} IS NOT NULL AND ${communicationLogs.costCurrency} IS NOT NULL`;
  return db.orm
    .select({
      date: day,
      channel: communicationLogs.channel,
      total: sql<number>`count(*)::int`,
      queued: countWhere(statusIn(IN_FLIGHT)),
      sent: countWhere(sql`${communicationLogs.status} = 'sent'`),
      delivered: countWhere(sql`${communicationLogs.status} = 'delivered'`),
      failed: countWhere(sql`${communicationLogs.status} = 'failed'`),
      bounced: countWhere(sql`${communicationLogs.status} = 'bounced'`),
      complained: countWhere(sql`${communicationLogs.status} = 'complained'`),
      blocked: countWhere(statusIn(BLOCKED)),
      cost: sql<string | null>`(sum(${communicationLogs.cost}) FILTER (WHERE ${priced}))::text`,
      currency: sql<string | null>`min(${communicationLogs.costCurrency}) FILTER (WHERE ${priced})`,
      currencies: sql<number>`(count(DISTINCT ${communicationLogs.costCurrency}) FILTER (WHERE ${priced}))::int`,
    })
    .from(communicationLogs)
    .where(and(gte(communicationLogs.createdAt, range.from), lt(communicationLogs.createdAt, range.until), range.channel ? eq(communicationLogs.channel, range.channel) : undefined))
    .groupBy(day, communicationLogs.channel)
    .orderBy(asc(day), asc(communicationLogs.channel));
}

