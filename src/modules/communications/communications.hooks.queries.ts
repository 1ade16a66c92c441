import { and, eq, inArray } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { communicationLogs } from './communications.tables.js';

/**
 * Moves a log entry to `status` only from one of `from` (one statement: two callbacks racing on
 * the same entry are ordered by the row lock, and each re-checks the status it finds). Whether it moved.
 */
export async function advanceLog(db: DbHandle, id: string, change: { status: string; error?: string | null }, from: readonly string[]): Promise<boolean> {
  const rows = await db.orm
    .update(communicationLogs)
    .set({ status: change.status, ...(change.error !== undefined ? { error: change.error } : {}), updatedAt: new Date() })
    .where(and(eq(communicationLogs.id, id), inArray(communicationLogs.status, [...from])))
    .returning({ id: communicationLogs.id });
  return rows.length > 0;
}

/** Sets the reason of an entry that still has `status`. Whether it changed. */
export async function noteLog(db: DbHandle, id: string, reason: string, status: string): Promise<boolean> {
  const rows = await db.orm
    .update(communicationLogs)
    .set({ reason, updatedAt: new Date() })
    .where(and(eq(communicationLogs.id, id), eq(communicationLogs.status, status)))
    .returning({ id: communicationLogs.id });
  return rows.length > 0;
}
