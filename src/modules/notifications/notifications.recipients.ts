import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Recipients } from '../communications/index.js';
import { findPreference } from './notifications.preferences.queries.js';
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
      return (await findPreference(db, userId, category, channel)) ?? true;
    },
    unsubscribeUrl: deps.unsubscribeUrl,
  };
}
