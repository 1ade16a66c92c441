import { defineErrors } from '../../platform/http/errors.js';

export const notificationErrors = defineErrors({
  notification_not_found: { status: 404, title: 'No such notification' },
  push_subscription_not_found: { status: 404, title: 'No such push subscription' },
  invalid_push_subscription: { status: 400, title: 'The push subscription is not valid' },
});
