import { and, eq, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { notificationPreferences } from './notifications.tables.js';

export interface PreferenceRow {
  category: string;
  channel: string;
  enabled: boolean;
}

/** The user's stored choices (a missing row is the default: on). */
export async function listPreferences(db: DbHandle, userId: string): Promise<PreferenceRow[]> {
  return db.orm
    .select({ category: notificationPreferences.category, channel: notificationPreferences.channel, enabled: notificationPreferences.enabled })
    .from(notificationPreferences)
    .where(eq(notificationPreferences.userId, userId));
}

/** Stores each (category, channel) choice, replacing what was there: the rows `Recipients.allows` reads. */
export async function upsertPreferences(db: DbHandle, userId: string, rows: PreferenceRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.orm
    .insert(notificationPreferences)
    .values(rows.map((row) => ({ userId, category: row.category, channel: row.channel, enabled: row.enabled })))
    .onConflictDoUpdate({
      target: [notificationPreferences.userId, notificationPreferences.category, notificationPreferences.channel],
      set: { enabled: sql`excluded.enabled`, updatedAt: sql`now()` },
    });
}

/** One stored choice (null: none stored, the default applies). */
export async function findPreference(db: DbHandle, userId: string, category: string, channel: string): Promise<boolean | null> {
  const [row] = await db.orm
    .select({ enabled: notificationPreferences.enabled })
    .from(notificationPreferences)
    .where(and(eq(notificationPreferences.userId, userId), eq(notificationPreferences.category, category), eq(notificationPreferences.channel, channel)))
    .limit(1);
  return row?.enabled ?? null;
}
