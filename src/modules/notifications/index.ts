export { createRecipients, notificationChannel } from './notifications.recipients.js';
export {
  createNotificationsService, createPushSubscriptionsService, checkPushSubscription, pushDestinations, notificationBody, MAX_PUSH_SUBSCRIPTIONS, STREAM_REPLAY_LIMIT,
  type NotificationsService, type PushSubscriptionsService, type NotificationBody, type NotificationRow, type PushSubscriptionRow,
} from './notifications.service.js';
export { notificationRoutes, STREAM_HEARTBEAT_MS } from './notifications.routes.js';
export { pushSubscriptionRoutes } from './notifications.push.routes.js';
export { notificationErrors } from './notifications.errors.js';
export { createPreferencesService, defaultPreferences, type PreferencesService, type Preferences, type PreferencesPatch, type UnsubscribeClaim } from './notifications.preferences.service.js';
export { preferenceRoutes } from './notifications.preferences.routes.js';
export { createUnsubscribeLinks, unsubscribeRoutes, type UnsubscribeLinks } from './notifications.unsubscribe.js';
