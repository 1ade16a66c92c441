export * from './push.js';
export { createWebPushProvider, webPushPermanent, type WebPushOptions } from './web-push.js';
