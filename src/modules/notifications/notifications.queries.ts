import { and, asc, count, desc, eq, gt, isNull, lt, notInArray, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { notifications, pushSubscriptions } from './notifications.tables.js';

export type NotificationRow = typeof notifications.$inferSelect;
export type PushSubscriptionRow = typeof pushSubscriptions.$inferSelect;

// In-app notifications: every statement is bound to its owner (`user_id`), so another user's id finds nothing.

export async function insertNotification(db: DbHandle, row: typeof notifications.$inferInsert): Promise<NotificationRow> {
  const [created] = await db.orm.insert(notifications).values(row).returning();
  return created!;
}

/** Newest first; `before` is the id of the last row of the previous page (ids are time-ordered). */
export async function listNotifications(db: DbHandle, userId: string, filter: { limit: number; before?: string; unread?: boolean }): Promise<NotificationRow[]> {
  return db.orm
    .select()
    .from(notifications)
    .where(
      and(
        eq(notifications.userId, userId),
        filter.before ? lt(notifications.id, filter.before) : undefined,
        filter.unread ? isNull(notifications.readAt) : undefined,
      ),
    )
    .orderBy(desc(notifications.id))
    .limit(filter.limit);
}

/** The newest `limit` notifications created after `afterId`, oldest first (the order a stream replays them in). */
export async function notificationsAfter(db: DbHandle, userId: string, afterId: string, limit: number): Promise<NotificationRow[]> {
  const rows = await db.orm
    .select()
    .from(notifications)
    .where(and(eq(notifications.userId, userId), gt(notifications.id, afterId)))
    .orderBy(desc(notifications.id))
    .limit(limit);
  return rows.reverse();
}

export async function countUnread(db: DbHandle, userId: string): Promise<number> {
  const [row] = await db.orm.select({ n: count() }).from(notifications).where(and(eq(notifications.userId, userId), isNull(notifications.readAt)));
  return Number(row?.n ?? 0);
}

/** Marks one notification read, keeping the first read time; null when the user has no such notification. */
export async function markRead(db: DbHandle, userId: string, id: string): Promise<NotificationRow | null> {
  const [row] = await db.orm
    .update(notifications)
    .set({ readAt: sql`coalesce(${notifications.readAt}, now())` })
    .where(and(eq(notifications.id, id), eq(notifications.userId, userId)))
    .returning();
  return row ?? null;
}

/** Marks every unread notification of the user read; returns how many changed. */
export async function markAllRead(db: DbHandle, userId: string): Promise<number> {
  const rows = await db.orm
    .update(notifications)
    .set({ readAt: sql`now()` })
    .where(and(eq(notifications.userId, userId), isNull(notifications.readAt)))
    .returning({ id: notifications.id });
  return rows.length;
}

export async function deleteNotification(db: DbHandle, userId: string, id: string): Promise<boolean> {
  const rows = await db.orm
    .delete(notifications)
    .where(and(eq(notifications.id, id), eq(notifications.userId, userId)))
    .returning({ id: notifications.id });
  return rows.length > 0;
}

// Web Push subscriptions. The endpoint is unique across users: one browser profile, one owner.

/** The subscription of an endpoint, row-locked until the transaction ends. */
export async function lockPushSubscriptionByEndpoint(tx: DbHandle, endpoint: string): Promise<PushSubscriptionRow | null> {
  const [row] = await tx.orm.select().from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, endpoint)).limit(1).for('update');
  return row ?? null;
}

export async function insertPushSubscription(db: DbHandle, row: typeof pushSubscriptions.$inferInsert): Promise<PushSubscriptionRow> {
  const [created] = await db.orm.insert(pushSubscriptions).values(row).returning();
  return created!;
}

export async function updatePushSubscriptionKeys(db: DbHandle, id: string, changes: { p256dh: string; auth: string; userAgent: string | null }): Promise<PushSubscriptionRow> {
  const [row] = await db.orm.update(pushSubscriptions).set(changes).where(eq(pushSubscriptions.id, id)).returning();
  return row!;
}

/** Newest first. */
export async function listPushSubscriptions(db: DbHandle, userId: string): Promise<PushSubscriptionRow[]> {
  return db.orm.select().from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId)).orderBy(desc(pushSubscriptions.id));
}

/** Oldest first: the order a push fans out in. */
export async function pushSubscriptionsOf(db: DbHandle, userId: string): Promise<PushSubscriptionRow[]> {
  return db.orm.select().from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId)).orderBy(asc(pushSubscriptions.id));
}

export async function deletePushSubscription(db: DbHandle, id: string, userId?: string): Promise<boolean> {
  const rows = await db.orm
    .delete(pushSubscriptions)
    .where(and(eq(pushSubscriptions.id, id), userId === undefined ? undefined : eq(pushSubscriptions.userId, userId)))
    .returning({ id: pushSubscriptions.id });
  return rows.length > 0;
}

/** Deletes the user's subscriptions beyond the `keep` newest; returns the ids deleted. */
export async function evictPushSubscriptions(db: DbHandle, userId: string, keep: number): Promise<string[]> {
  const newest = db.orm
    .select({ id: pushSubscriptions.id })
    .from(pushSubscriptions)
    .where(eq(pushSubscriptions.userId, userId))
    .orderBy(desc(pushSubscriptions.id))
    .limit(keep);
  const rows = await db.orm
    .delete(pushSubscriptions)
    .where(and(eq(pushSubscriptions.userId, userId), notInArray(pushSubscriptions.id, newest)))
    .returning({ id: pushSubscriptions.id });
  return rows.map((row) => row.id);
}

