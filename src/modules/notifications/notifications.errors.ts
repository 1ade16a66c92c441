import { defineErrors } from '../../platform/http/errors.js';

export const notificationErrors = defineErrors({
  notification_not_found: { status: 404, title: 'No such notification' },
  push_subscription_not_found: { status: 404, title: 'No such push subscription' },
  invalid_push_subscription: { status: 400, title: 'The push subscription is not valid' },
});

/** Notification preferences and unsubscribe links. */
export const preferenceErrors = defineErrors({
  security_required: { status: 422, title: 'Security messages cannot be turned off' },
  invalid_unsubscribe_token: { status: 400, title: 'The unsubscribe link is not valid' },
});
