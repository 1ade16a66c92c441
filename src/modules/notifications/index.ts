export { createRecipients, notificationChannel } from './notifications.recipients.js';
