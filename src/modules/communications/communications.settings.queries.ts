import { desc, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { communicationSettings } from './communications.tables.js';
import type { CommunicationSettings } from './communications.schema.js';

export type SettingsRow = typeof communicationSettings.$inferSelect;

/** The version in force: the highest; null while an admin never changed anything. */
export async function latestSettings(db: DbHandle): Promise<SettingsRow | null> {
  const [row] = await db.orm.select().from(communicationSettings).orderBy(desc(communicationSettings.version)).limit(1);
  return row ?? null;
}

/** One writer at a time, until the transaction ends: versions are consecutive, and no change is merged over a stale copy. */
export async function lockSettings(tx: DbHandle): Promise<void> {
  await tx.sql.query(`SELECT pg_advisory_xact_lock(hashtext('communication_settings'))`);
}

export async function insertSettingsVersion(tx: DbHandle, row: { version: number; settings: CommunicationSettings; updatedBy: string }): Promise<SettingsRow> {
  const [inserted] = await tx.orm
    .insert(communicationSettings)
    .values({ ...row, updatedAt: sql`now()` as unknown as Date })
    .returning();
  return inserted!;
}
