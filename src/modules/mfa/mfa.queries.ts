import { and, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { backupCodes, mfaTokenUses, totpFactors } from './mfa.tables.js';

export type TotpRow = typeof totpFactors.$inferSelect;

export async function findTotp(db: DbHandle, userId: string): Promise<TotpRow | null> {
  const [row] = await db.orm.select().from(totpFactors).where(eq(totpFactors.userId, userId)).limit(1);
  return row ?? null;
}

/** A new (unconfirmed) secret replaces an unconfirmed one; a confirmed one stays (returns false). */
export async function saveTotpSecret(db: DbHandle, userId: string, secretSealed: string): Promise<boolean> {
  const rows = await db.orm
    .insert(totpFactors)
    .values({ userId, secretSealed })
    .onConflictDoUpdate({ target: totpFactors.userId, set: { secretSealed, createdAt: new Date(), lastUsedStep: 0 }, where: isNull(totpFactors.confirmedAt) })
    .returning({ userId: totpFactors.userId });
  return rows.length === 1;
}

export async function confirmTotp(db: DbHandle, userId: string, step: number): Promise<boolean> {
  const rows = await db.orm
    .update(totpFactors)
    .set({ confirmedAt: new Date(), lastUsedStep: step })
    .where(and(eq(totpFactors.userId, userId), isNull(totpFactors.confirmedAt), lt(totpFactors.lastUsedStep, step)))
    .returning({ userId: totpFactors.userId });
  return rows.length === 1;
}

/** Accepts a step only when it is later than the last one used: a code is good once. */
export async function useTotpStep(db: DbHandle, userId: string, step: number): Promise<boolean> {
  const rows = await db.orm
    .update(totpFactors)
    .set({ lastUsedStep: step })
    .where(and(eq(totpFactors.userId, userId), isNotNull(totpFactors.confirmedAt), lt(totpFactors.lastUsedStep, step)))
    .returning({ userId: totpFactors.userId });
  return rows.length === 1;
}

export async function deleteTotp(db: DbHandle, userId: string): Promise<boolean> {
  const rows = await db.orm.delete(totpFactors).where(eq(totpFactors.userId, userId)).returning({ userId: totpFactors.userId });
  return rows.length === 1;
}

export async function replaceBackupCodes(db: DbHandle, userId: string, rows: { id: string; codeHash: string }[]): Promise<void> {
  await db.orm.delete(backupCodes).where(eq(backupCodes.userId, userId));
  await db.orm.insert(backupCodes).values(rows.map((row) => ({ ...row, userId })));
}

export async function deleteBackupCodes(db: DbHandle, userId: string): Promise<void> {
  await db.orm.delete(backupCodes).where(eq(backupCodes.userId, userId));
}

/** Uses the code if it is one of the user's unused ones; true when this call used it. */
export async function useBackupCode(db: DbHandle, userId: string, codeHash: string): Promise<boolean> {
  const rows = await db.orm
    .update(backupCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(backupCodes.userId, userId), eq(backupCodes.codeHash, codeHash), isNull(backupCodes.usedAt)))
    .returning({ id: backupCodes.id });
  return rows.length === 1;
}

export async function countUnusedBackupCodes(db: DbHandle, userId: string): Promise<number> {
  const [row] = await db.orm
    .select({ n: sql<number>`count(*)::int` })
    .from(backupCodes)
    .where(and(eq(backupCodes.userId, userId), isNull(backupCodes.usedAt)));
  return row?.n ?? 0;
}

/**
 * Records an mfa_token as spent (in the transaction that spends the factor); false when it already
 * was. Sweeps the user's expired records on the way.
 */
export async function claimMfaToken(db: DbHandle, use: { jti: string; userId: string; expiresAt: Date }): Promise<boolean> {
  await db.orm.delete(mfaTokenUses).where(and(eq(mfaTokenUses.userId, use.userId), lt(mfaTokenUses.expiresAt, new Date())));
  const rows = await db.orm.insert(mfaTokenUses).values(use).onConflictDoNothing({ target: mfaTokenUses.jti }).returning({ jti: mfaTokenUses.jti });
  return rows.length === 1;
}
