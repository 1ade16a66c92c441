import { and, eq } from 'drizzle-orm';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Recipients } from '../communications/index.js';
import { notificationPreferences } from './notifications.tables.js';
import { storeNotification } from './notifications.service.js';
import { deletePushSubscription, pushSubscriptionsOf } from './notifications.queries.js';

export { notificationChannel } from './notifications.service.js';

/**
 * What the communications path needs from the user side: the in-app store, push subscriptions,
 * preferences and unsubscribe links.
 */
export function createRecipients(deps: { db: Database; cache: Cache; unsubscribeUrl: Recipients['unsubscribeUrl']; onPublishError?: (error: unknown) => void }): Recipients {
  const { db } = deps;
  return {
    async storeInApp(input) {
      return (await storeNotification(deps, input)).id;
    },
    async pushTargets(userId) {
      const rows = await pushSubscriptionsOf(db, userId);
      return rows.map((row) => ({ id: row.id, target: { endpoint: row.endpoint, keys: { p256dh: row.p256dh, auth: row.auth } } }));
    },
    async forgetPushTarget(id) {
      await deletePushSubscription(db, id);
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
