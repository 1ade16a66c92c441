import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { users } from '../accounts/index.js';
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

/** How a user is reached: what the OTP service needs to pick a channel. */
export interface OtpContact {
  id: string;
  email: string;
  emailVerified: boolean;
  phone: string | null;
  phoneVerified: boolean;
}

const contactColumns = { id: users.id, email: users.email, emailVerified: users.emailVerified, phone: users.phone, phoneVerified: users.phoneVerified };

export async function findContactById(db: DbHandle, id: string): Promise<OtpContact | null> {
  const [row] = await db.orm.select(contactColumns).from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

/** The user of an address (case-insensitively) or of a verified phone number. */
export async function findContactByRecipient(db: DbHandle, channel: 'email' | 'sms', recipient: string): Promise<OtpContact | null> {
  const [row] = await db.orm
    .select(contactColumns)
    .from(users)
    .where(channel === 'email' ? sql`lower(${users.email}) = lower(${recipient})` : and(eq(users.phone, recipient), eq(users.phoneVerified, true)))
    .orderBy(users.createdAt)
    .limit(1);
  return row ?? null;
}

/** Serialises changes to one phone number across accounts (there is no unique index on users.phone). */
export async function lockPhone(tx: DbHandle, phone: string): Promise<void> {
  await tx.sql.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`users.phone:${phone}`]);
}

/** Another account that verified this number, if any. */
export async function findOtherPhoneHolder(tx: DbHandle, phone: string, exceptUserId: string): Promise<string | null> {
  const [row] = await tx.orm
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.phone, phone), eq(users.phoneVerified, true), ne(users.id, exceptUserId)))
    .limit(1);
  return row?.id ?? null;
}
