import { and, eq } from 'drizzle-orm';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import { newId } from '../../platform/crypto/ids.js';
import type { Recipients } from '../communications/index.js';
import { notificationPreferences, notifications, pushSubscriptions } from './notifications.tables.js';

/** The cache channel that carries a user's new in-app notifications to every instance's open streams. */
export const notificationChannel = (userId: string): string => `notifications:${userId}`;

/**
 * What the communications path needs from the user side: the in-app store, push subscriptions,
 * preferences and unsubscribe links.
 */
export function createRecipients(deps: { db: Database; cache: Cache; unsubscribeUrl: Recipients['unsubscribeUrl']; onPublishError?: (error: unknown) => void }): Recipients {
  const { db, cache } = deps;
  return {
    async storeInApp(input) {
      const id = newId('ntf');
      const [row] = await db.orm
        .insert(notifications)
        .values({ id, userId: input.userId, category: input.category, template: input.template, title: input.title, body: input.body, url: input.url })
        .returning();
      // Open streams learn of it through the cache; the row is the truth, so a lost announcement costs only liveness.
      try {
        await cache.publish(notificationChannel(input.userId), JSON.stringify({ id, category: row!.category, title: row!.title, body: row!.body, url: row!.url, created_at: row!.createdAt.toISOString() }));
      } catch (error) {
        deps.onPublishError?.(error);
      }
      return id;
    },
    async pushTargets(userId) {
      const rows = await db.orm.select().from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId));
      return rows.map((row) => ({ id: row.id, target: { endpoint: row.endpoint, keys: { p256dh: row.p256dh, auth: row.auth } } }));
    },
    async forgetPushTarget(id) {
      await db.orm.delete(pushSubscriptions).where(eq(pushSubscriptions.id, id));
    },
    async allows(userId, category, channel) {
      if (category === 'security') return true;
      const [row] = await db.orm
        .select({ enabled: notificationPreferences.enabled })
        .from(notificationPreferences)
        .where(and(eq(notificationPreferences.userId, userId), eq(notificationPreferences.category, category), eq(notificationPreferences.channel, channel)))
        .limit(1);
      return row?.enabled ?? true;
    },
    unsubscribeUrl: deps.unsubscribeUrl,
  };
}
