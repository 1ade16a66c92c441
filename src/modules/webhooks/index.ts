export { createWebhooksService, newSigningSecret, signatureHeader, type WebhooksService } from './webhooks.service.js';
export { createWebhookDelivery, type WebhookDispatcher } from './webhooks.delivery.js';
export { webhookRoutes } from './webhooks.routes.js';
export { EVENT_TYPES, SUBSCRIBABLE_TYPES } from './webhooks.catalogue.js';
export { webhookErrors } from './webhooks.errors.js';
