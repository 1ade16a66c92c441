import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { otpCodes } from './otp.tables.js';

export type OtpRow = typeof otpCodes.$inferSelect;

export async function insertOtp(db: DbHandle, row: typeof otpCodes.$inferInsert): Promise<void> {
  await db.orm.insert(otpCodes).values(row);
}

export async function findOtp(db: DbHandle, id: string): Promise<OtpRow | null> {
  const [row] = await db.orm.select().from(otpCodes).where(eq(otpCodes.id, id)).limit(1);
  return row ?? null;
}

/**
 * Spends one attempt, atomically: the row is counted only while it is unused, unexpired and under
 * its budget (the lower of its own and `currentMax`), so concurrent guesses cannot exceed it.
 * Returns the row after the increment, or null when no attempt was left to spend.
 */
export async function spendAttempt(db: DbHandle, id: string, now: Date, currentMax: number): Promise<OtpRow | null> {
  const [row] = await db.orm
    .update(otpCodes)
    .set({ attempts: sql`${otpCodes.attempts} + 1` })
    .where(
      and(
        eq(otpCodes.id, id),
        isNull(otpCodes.consumedAt),
        gt(otpCodes.expiresAt, now),
        sql`${otpCodes.attempts} < LEAST(${otpCodes.maxAttempts}, ${currentMax}::int)`,
      ),
    )
    .returning();
  return row ?? null;
}

/** Lowers a code's attempt budget to `max` (a lowered setting, made permanent for the code once it is tried). */
export async function lowerBudget(db: DbHandle, id: string, max: number): Promise<void> {
  await db.orm
    .update(otpCodes)
    .set({ maxAttempts: sql`LEAST(${otpCodes.maxAttempts}, ${max}::int)` })
    .where(eq(otpCodes.id, id));
}

/** Marks the code used; false when it already was (of two concurrent right answers, one wins). */
export async function consumeOtp(db: DbHandle, id: string, now: Date): Promise<boolean> {
  const rows = await db.orm
    .update(otpCodes)
    .set({ consumedAt: now })
    .where(and(eq(otpCodes.id, id), isNull(otpCodes.consumedAt)))
    .returning({ id: otpCodes.id });
  return rows.length > 0;
}
