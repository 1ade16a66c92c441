import { and, desc, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { oneTimeTokens, userDevices, users } from './accounts.tables.js';
import type { OneTimeTokenRow, TokenPurpose, UserRow } from './accounts.schema.js';

export type { OneTimeTokenRow, TokenPurpose, UserRow };
export type NewUserRow = typeof users.$inferInsert;

export async function insertUser(db: DbHandle, row: NewUserRow): Promise<UserRow> {
  const [created] = await db.orm.insert(users).values(row).returning();
  return created!;
}

export async function findUserById(db: DbHandle, id: string): Promise<UserRow | null> {
  const [row] = await db.orm.select().from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

/** The users of these ids that exist (in no particular order). */
export async function findUsersByIds(db: DbHandle, ids: readonly string[]): Promise<UserRow[]> {
  if (ids.length === 0) return [];
  return db.orm.select().from(users).where(inArray(users.id, [...ids]));
}

/** Case-insensitive, using the unique index on lower(email). */
export async function findUserByEmail(db: DbHandle, email: string): Promise<UserRow | null> {
  const [row] = await db.orm.select().from(users).where(sql`lower(${users.email}) = lower(${email})`).limit(1);
  return row ?? null;
}

export async function updateUser(db: DbHandle, id: string, changes: Partial<NewUserRow>): Promise<UserRow | null> {
  const [row] = await db.orm
    .update(users)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(users.id, id))
    .returning();
  return row ?? null;
}

/** Counts a failed sign-in and locks the account when the count reaches `threshold`; returns the row after. */
export async function recordFailedLogin(db: DbHandle, id: string, threshold: number, lockSeconds: number): Promise<UserRow | null> {
  const [row] = await db.orm
    .update(users)
    .set({
      failedLoginCount: sql`${users.failedLoginCount} + 1`,
      lockedUntil: sql`CASE WHEN ${users.failedLoginCount} + 1 >= ${threshold} THEN now() + make_interval(secs => ${lockSeconds}) ELSE ${users.lockedUntil} END`,
    })
    .where(eq(users.id, id))
    .returning();
  return row ?? null;
}

export async function isPlatformAdmin(db: DbHandle, id: string): Promise<boolean> {
  const [row] = await db.orm.select({ id: users.id }).from(users).where(and(eq(users.id, id), eq(users.isPlatformAdmin, true))).limit(1);
  return Boolean(row);
}

export async function countPlatformAdmins(db: DbHandle): Promise<number> {
  const [row] = await db.orm.select({ n: sql<number>`count(*)::int` }).from(users).where(eq(users.isPlatformAdmin, true));
  return row?.n ?? 0;
}

export async function promoteToPlatformAdmin(db: DbHandle, id: string): Promise<void> {
  await db.orm.update(users).set({ isPlatformAdmin: true, updatedAt: new Date() }).where(eq(users.id, id));
}

export async function insertOneTimeToken(db: DbHandle, row: typeof oneTimeTokens.$inferInsert): Promise<void> {
  await db.orm.insert(oneTimeTokens).values(row);
}

/** Retires every unused token of these purposes for a user (a new one supersedes them, or a password change voids them); returns how many. */
export async function retireOneTimeTokens(db: DbHandle, userId: string, purposes: TokenPurpose | readonly TokenPurpose[]): Promise<number> {
  const list = typeof purposes === 'string' ? [purposes] : [...purposes];
  const rows = await db.orm
    .update(oneTimeTokens)
    .set({ usedAt: new Date() })
    .where(and(eq(oneTimeTokens.userId, userId), inArray(oneTimeTokens.purpose, list), isNull(oneTimeTokens.usedAt)))
    .returning({ id: oneTimeTokens.id });
  return rows.length;
}

/** The token with this hash, unused, unexpired, and of one of the purposes. */
function usable(tokenHash: string, purposes: TokenPurpose[]): SQL | undefined {
  return and(
    eq(oneTimeTokens.tokenHash, tokenHash),
    isNull(oneTimeTokens.usedAt),
    gt(oneTimeTokens.expiresAt, new Date()),
    inArray(oneTimeTokens.purpose, purposes),
  );
}

/**
 * Consumes a one-time token atomically: marks it used and returns it only when it was unused,
 * unexpired and of one of the purposes; two concurrent uses cannot both succeed.
 */
export async function consumeOneTimeToken(db: DbHandle, tokenHash: string, purposes: TokenPurpose[]): Promise<OneTimeTokenRow | null> {
  const [row] = await db.orm
    .update(oneTimeTokens)
    .set({ usedAt: new Date() })
    .where(usable(tokenHash, purposes))
    .returning();
  return row ?? null;
}

/** A usable (unused, unexpired) token of one of the purposes, without using it. */
export async function findUsableOneTimeToken(db: DbHandle, tokenHash: string, purposes: TokenPurpose[]): Promise<OneTimeTokenRow | null> {
  const [row] = await db.orm
    .select()
    .from(oneTimeTokens)
    .where(usable(tokenHash, purposes))
    .limit(1);
  return row ?? null;
}

/** The newest unused, unexpired token of a purpose for a user. */
export async function findActiveOneTimeToken(db: DbHandle, userId: string, purpose: TokenPurpose): Promise<OneTimeTokenRow | null> {
  const [row] = await db.orm
    .select()
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, new Date())))
    .orderBy(desc(oneTimeTokens.createdAt))
    .limit(1);
  return row ?? null;
}

/** The newest pending email change to `email` (the new address), unused and unexpired. */
export async function findActiveEmailChangeToken(db: DbHandle, email: string): Promise<OneTimeTokenRow | null> {
  const [row] = await db.orm
    .select()
    .from(oneTimeTokens)
    .where(
      and(
        eq(oneTimeTokens.purpose, 'email_change'),
        sql`lower(${oneTimeTokens.email}) = lower(${email})`,
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, new Date()),
      ),
    )
    .orderBy(desc(oneTimeTokens.createdAt))
    .limit(1);
  return row ?? null;
}

/** Counts a wrong code; the token dies (used) when attempts reach `max`. */
export async function recordCodeAttempt(db: DbHandle, id: string, max: number): Promise<void> {
  await db.orm
    .update(oneTimeTokens)
    .set({
      codeAttempts: sql`${oneTimeTokens.codeAttempts} + 1`,
      usedAt: sql`CASE WHEN ${oneTimeTokens.codeAttempts} + 1 >= ${max} THEN now() ELSE ${oneTimeTokens.usedAt} END`,
    })
    .where(eq(oneTimeTokens.id, id));
}

/** Marks a token used when it still is unused; true when this call used it. */
export async function useOneTimeToken(db: DbHandle, id: string): Promise<boolean> {
  const rows = await db.orm
    .update(oneTimeTokens)
    .set({ usedAt: new Date() })
    .where(and(eq(oneTimeTokens.id, id), isNull(oneTimeTokens.usedAt)))
    .returning({ id: oneTimeTokens.id });
  return rows.length === 1;
}

/** Records a device; true when the user had not signed in from it before. */
export async function rememberDevice(db: DbHandle, userId: string, fingerprint: string): Promise<boolean> {
  const rows = await db.orm
    .insert(userDevices)
    .values({ userId, fingerprint })
    .onConflictDoUpdate({ target: [userDevices.userId, userDevices.fingerprint], set: { lastSeenAt: new Date() } })
    .returning({ firstSeenAt: userDevices.firstSeenAt, lastSeenAt: userDevices.lastSeenAt });
  const row = rows[0];
  return Boolean(row && row.firstSeenAt.getTime() === row.lastSeenAt.getTime());
}

export async function countDevices(db: DbHandle, userId: string): Promise<number> {
  const [row] = await db.orm.select({ n: sql<number>`count(*)::int` }).from(userDevices).where(eq(userDevices.userId, userId));
  return row?.n ?? 0;
}

/** The account of an address (case-insensitively) or of a verified phone number; the oldest when several. */
export async function findUserByContact(db: DbHandle, channel: 'email' | 'sms', recipient: string): Promise<UserRow | null> {
  const [row] = await db.orm
    .select()
    .from(users)
    .where(channel === 'email' ? sql`lower(${users.email}) = lower(${recipient.trim()})` : and(eq(users.phone, recipient.trim()), eq(users.phoneVerified, true)))
    .orderBy(users.createdAt, users.id)
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
    .where(and(eq(users.phone, phone), eq(users.phoneVerified, true), sql`${users.id} <> ${exceptUserId}`))
    .limit(1);
  return row?.id ?? null;
}
