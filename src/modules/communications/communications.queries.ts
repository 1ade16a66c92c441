import { and, asc, desc, eq, gte, lt, lte, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { communicationLogs, communicationSuppressions } from './communications.tables.js';

export type LogRow = typeof communicationLogs.$inferSelect;
export type SuppressionRow = typeof communicationSuppressions.$inferSelect;

export async function insertLog(db: DbHandle, row: typeof communicationLogs.$inferInsert): Promise<void> {
  await db.orm.insert(communicationLogs).values(row);
}

type LogChanges = Partial<Pick<LogRow, 'status' | 'reason' | 'provider' | 'providerMessageId' | 'attempts' | 'error' | 'channel' | 'requestedChannel' | 'recipient' | 'cost' | 'costCurrency'>>;

export async function updateLog(db: DbHandle, id: string, changes: LogChanges): Promise<void> {
  await db.orm.update(communicationLogs).set({ ...changes, updatedAt: new Date() }).where(eq(communicationLogs.id, id));
}

export async function findLog(db: DbHandle, id: string): Promise<LogRow | null> {
  const [row] = await db.orm.select().from(communicationLogs).where(eq(communicationLogs.id, id)).limit(1);
  return row ?? null;
}

/** The entry a provider's delivery callback speaks of. */
export async function findLogByProviderMessage(db: DbHandle, provider: string, providerMessageId: string): Promise<LogRow | null> {
  const [row] = await db.orm
    .select()
    .from(communicationLogs)
    .where(and(eq(communicationLogs.provider, provider), eq(communicationLogs.providerMessageId, providerMessageId)))
    .limit(1);
  return row ?? null;
}

export interface LogFilter {
  channel?: string;
  status?: string;
  recipient?: string;
  template?: string;
  from?: Date;
  to?: Date;
  /** The id of the last entry of the previous page (ids are time-ordered). */
  before?: string;
  limit: number;
}

/** Newest first: by id (time-ordered, unique), the key `before` is. */
export async function listLogs(db: DbHandle, filter: LogFilter): Promise<LogRow[]> {
  return db.orm
    .select()
    .from(communicationLogs)
    .where(
      and(
        filter.channel ? eq(communicationLogs.channel, filter.channel) : undefined,
        filter.status ? eq(communicationLogs.status, filter.status) : undefined,
        filter.recipient ? eq(sql`lower(${communicationLogs.recipient})`, filter.recipient.toLowerCase()) : undefined,
        filter.template ? eq(communicationLogs.template, filter.template) : undefined,
        filter.from ? gte(communicationLogs.createdAt, filter.from) : undefined,
        filter.to ? lte(communicationLogs.createdAt, filter.to) : undefined,
        filter.before ? lt(communicationLogs.id, filter.before) : undefined,
      ),
    )
    .orderBy(desc(communicationLogs.id))
    .limit(filter.limit);
}

export async function findSuppression(db: DbHandle, channel: string, recipient: string): Promise<SuppressionRow | null> {
  const [row] = await db.orm
    .select()
    .from(communicationSuppressions)
    .where(and(eq(communicationSuppressions.channel, channel), eq(communicationSuppressions.recipient, recipient)))
    .limit(1);
  return row ?? null;
}

export async function insertSuppression(db: DbHandle, row: { channel: string; recipient: string; reason: string }): Promise<void> {
  await db.orm.insert(communicationSuppressions).values(row).onConflictDoNothing();
}

export async function deleteSuppression(db: DbHandle, channel: string, recipient: string): Promise<boolean> {
  const rows = await db.orm
    .delete(communicationSuppressions)
    .where(and(eq(communicationSuppressions.channel, channel), eq(communicationSuppressions.recipient, recipient)))
    .returning({ recipient: communicationSuppressions.recipient });
  return rows.length > 0;
}

/**
 * By recipient, then channel (one recipient may be suppressed on several channels): a total order,
 * and `after` is that same key of the last row of the previous page.
 */
export async function listSuppressions(db: DbHandle, options: { channel?: string; limit: number; after?: { recipient: string; channel: string } }): Promise<SuppressionRow[]> {
  const t = communicationSuppressions;
  return db.orm
    .select()
    .from(t)
    .where(and(options.channel ? eq(t.channel, options.channel) : undefined, options.after ? sql`(${t.recipient}, ${t.channel}) > (${options.after.recipient}, ${options.after.channel})` : undefined))
    .orderBy(asc(t.recipient), asc(t.channel))
    .limit(options.limit);
}
