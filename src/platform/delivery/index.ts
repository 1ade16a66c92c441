export * from './delivery.js';
export * from './outbound.js';
