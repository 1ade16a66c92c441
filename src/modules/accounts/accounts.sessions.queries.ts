import { and, desc, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { refreshTokens, sessions } from './accounts.tables.js';
import type { SessionRow } from './accounts.schema.js';

export type { SessionRow };

export async function insertSession(db: DbHandle, row: typeof sessions.$inferInsert): Promise<SessionRow> {
  const [created] = await db.orm.insert(sessions).values(row).returning();
  return created!;
}

export async function findSession(db: DbHandle, id: string): Promise<SessionRow | null> {
  const [row] = await db.orm.select().from(sessions).where(eq(sessions.id, id)).limit(1);
  return row ?? null;
}

/** Live sessions of a user (not revoked, not past their absolute end), newest first. */
export async function listLiveSessions(db: DbHandle, userId: string): Promise<SessionRow[]> {
  return db.orm
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
    .orderBy(desc(sessions.createdAt));
}

export async function touchSession(db: DbHandle, id: string, seen: { ip: string | null; userAgent: string | null }): Promise<void> {
  await db.orm.update(sessions).set({ lastSeenAt: new Date(), ip: seen.ip, userAgent: seen.userAgent }).where(eq(sessions.id, id));
}

/** Which organization the session's tokens speak for (null: none). */
export async function setSessionOrg(db: DbHandle, id: string, orgId: string | null): Promise<void> {
  await db.orm.update(sessions).set({ orgId }).where(eq(sessions.id, id));
}

/** Revokes one session if it is live; returns whether it was. */
export async function revokeSession(db: DbHandle, id: string, reason: string): Promise<boolean> {
  const rows = await db.orm
    .update(sessions)
    .set({ revokedAt: new Date(), revokedReason: reason })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** Revokes every live session of a user except `exceptId`; returns the ids revoked. */
export async function revokeUserSessions(db: DbHandle, userId: string, reason: string, exceptId?: string): Promise<string[]> {
  const rows = await db.orm
    .update(sessions)
    .set({ revokedAt: new Date(), revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), exceptId ? ne(sessions.id, exceptId) : sql`true`))
    .returning({ id: sessions.id });
  return rows.map((row) => row.id);
}

export async function insertRefreshToken(db: DbHandle, row: typeof refreshTokens.$inferInsert): Promise<void> {
  await db.orm.insert(refreshTokens).values(row);
}

export async function findRefreshToken(db: DbHandle, tokenHash: string): Promise<typeof refreshTokens.$inferSelect | null> {
  const [row] = await db.orm.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1);
  return row ?? null;
}

/**
 * Spends a refresh token: marks it used, by `usedBy` (the client fingerprint); false when it already
 * was (a replay, or a concurrent rotation that won).
 */
export async function spendRefreshToken(db: DbHandle, id: string, usedBy: string): Promise<boolean> {
  const rows = await db.orm
    .update(refreshTokens)
    .set({ usedAt: new Date(), usedBy })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt)))
    .returning({ id: refreshTokens.id });
  return rows.length === 1;
}

export async function findRefreshTokenById(db: DbHandle, id: string): Promise<typeof refreshTokens.$inferSelect | null> {
  const [row] = await db.orm.select().from(refreshTokens).where(eq(refreshTokens.id, id)).limit(1);
  return row ?? null;
}

/** Whether a refresh token of the session was spent after `usedAt` (then a token spent at `usedAt` is no longer the latest rotation). */
export async function spentSince(db: DbHandle, sessionId: string, usedAt: Date): Promise<boolean> {
  const [row] = await db.orm
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.sessionId, sessionId), gt(refreshTokens.usedAt, usedAt)))
    .limit(1);
  return Boolean(row);
}

/** Sessions revoked since `since` (their access tokens may still be alive). */
export async function listRevokedSince(db: DbHandle, since: Date): Promise<{ id: string; revokedAt: Date }[]> {
  const rows = await db.orm
    .select({ id: sessions.id, revokedAt: sessions.revokedAt })
    .from(sessions)
    .where(gt(sessions.revokedAt, since));
  return rows.map((row) => ({ id: row.id, revokedAt: row.revokedAt! }));
}

export async function markReauthenticated(db: DbHandle, id: string): Promise<void> {
  await db.orm.update(sessions).set({ reauthenticatedAt: new Date() }).where(eq(sessions.id, id));
}
