import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { CommunicationSettings } from './communications.settings.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/** Every version of the platform's communication settings; the highest version is in force. */
export const communicationSettings = pgTable('communication_settings', {
  version: integer('version').primaryKey(),
  settings: jsonb('settings').$type<CommunicationSettings>().notNull(),
  updatedBy: text('updated_by'),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/**
 * One row per outgoing message, written when it is queued (in the business transaction) and moved
 * along as it goes: queued → sent → delivered, or stopped (blocked_channel_disabled, suppressed,
 * opted_out, rate_limited) or failed/bounced/complained, with the reason.
 */
export const communicationLogs = pgTable(
  'communication_logs',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    /** The channel asked for, when a fallback carried the message instead. */
    requestedChannel: text('requested_channel'),
    template: text('template').notNull(),
    category: text('category').notNull(),
    recipient: text('recipient').notNull(),
    userId: text('user_id'),
    status: text('status').notNull(),
    reason: text('reason'),
    provider: text('provider'),
    providerMessageId: text('provider_message_id'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [index('communication_logs_created_idx').on(t.createdAt), index('communication_logs_recipient_idx').on(sql`lower(${t.recipient})`)],
);

/** Addresses that must not receive anything on a channel (hard bounce, complaint, unsubscribe, admin). */
export const communicationSuppressions = pgTable(
  'communication_suppressions',
  {
    channel: text('channel').notNull(),
    recipient: text('recipient').notNull(),
    reason: text('reason').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.channel, t.recipient] })],
);
