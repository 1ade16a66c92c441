import { and, asc, eq, lt, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { passkeys } from './passkeys.tables.js';

import type { PasskeyRow } from './passkeys.schema.js';

export type { PasskeyRow };
export type NewPasskeyRow = typeof passkeys.$inferInsert;

export async function insertPasskey(db: DbHandle, row: NewPasskeyRow): Promise<PasskeyRow> {
  const [created] = await db.orm.insert(passkeys).values(row).returning();
  return created!;
}

/** A user's passkeys, oldest first. */
export async function listPasskeys(db: DbHandle, userId: string): Promise<PasskeyRow[]> {
  return db.orm.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

export async function countPasskeys(db: DbHandle, userId: string): Promise<number> {
  const [row] = await db.orm.select({ n: sql<number>`count(*)::int` }).from(passkeys).where(eq(passkeys.userId, userId));
  return row?.n ?? 0;
}

export async function findPasskeyByCredentialId(db: DbHandle, credentialId: string): Promise<PasskeyRow | null> {
  const [row] = await db.orm.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).limit(1);
  return row ?? null;
}

export async function findUserPasskey(db: DbHandle, userId: string, id: string): Promise<PasskeyRow | null> {
  const [row] = await db.orm.select().from(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).limit(1);
  return row ?? null;
}

export async function renamePasskey(db: DbHandle, userId: string, id: string, name: string): Promise<PasskeyRow | null> {
  const [row] = await db.orm.update(passkeys).set({ name }).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning();
  return row ?? null;
}

export async function deletePasskey(db: DbHandle, userId: string, id: string): Promise<PasskeyRow | null> {
  const [row] = await db.orm.delete(passkeys).where(and(eq(passkeys.id, id), eq(passkeys.userId, userId))).returning();
  return row ?? null;
}

/**
 * Records a verified use: the new signature counter, backup state and time. The counter only moves
 * forward, checked in the update itself (authenticators that do not count report 0 every time), so
 * of two assertions racing with one counter value at most one is recorded. False: nothing written.
 */
export async function recordPasskeyUse(db: DbHandle, id: string, use: { newCounter: number; backedUp: boolean }): Promise<boolean> {
  const rows = await db.orm
    .update(passkeys)
    .set({ counter: use.newCounter, backedUp: use.backedUp, lastUsedAt: new Date() })
    .where(and(eq(passkeys.id, id), use.newCounter > 0 ? lt(passkeys.counter, use.newCounter) : eq(passkeys.counter, 0)))
    .returning({ id: passkeys.id });
  return rows.length === 1;
}

/**
 * Locks the user's passkeys until the transaction ends: removals of two of them wait for each other,
 * so the check of what remains sees the other's removal.
 */
export async function lockUserPasskeys(db: DbHandle, userId: string): Promise<void> {
  await db.orm.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.userId, userId)).for('update');
}
