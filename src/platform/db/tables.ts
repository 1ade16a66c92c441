/** Every table, for drizzle-kit (migrations are generated from these) and typed queries. */
export * from '../../modules/accounts/accounts.tables.js';
export * from '../events/events.tables.js';
export * from '../mail/mail.tables.js';
export * from '../crypto/keys.tables.js';
export * from '../../modules/mfa/mfa.tables.js';
export * from '../../modules/passkeys/passkeys.tables.js';
export * from '../../modules/orgs/orgs.tables.js';
export * from '../../modules/communications/communications.tables.js';
export * from '../../modules/notifications/notifications.tables.js';
export * from '../../modules/otp/otp.tables.js';
export * from '../../modules/webhooks/webhooks.tables.js';
