import { sql } from 'drizzle-orm';
import { index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { CommunicationSettings } from './communications.schema.js';

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
    locale: text('locale'),
    status: text('status').notNull(),
    reason: text('reason'),
    provider: text('provider'),
    providerMessageId: text('provider_message_id'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    /** What the provider charged, when it says (Twilio's `price`), in `cost_currency`. */
    cost: numeric('cost', { precision: 14, scale: 6 }),
    costCurrency: text('cost_currency'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('communication_logs_created_idx').on(t.createdAt),
    index('communication_logs_recipient_idx').on(sql`lower(${t.recipient})`),
    index('communication_logs_provider_message_idx').on(t.provider, t.providerMessageId),
  ],
);

/**
 * A message template: one per (name, channel, locale). Its content lives in versions; the active
 * one renders. System templates are seeded (version 1, created_by null) and never overwritten.
 */
export const communicationTemplates = pgTable(
  'communication_templates',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    channel: text('channel').notNull(),
    locale: text('locale').notNull(),
    category: text('category').notNull(),
    description: text('description'),
    activeVersion: integer('active_version').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('communication_templates_name_key').on(t.name, t.channel, t.locale)],
);

export const communicationTemplateVersions = pgTable(
  'communication_template_versions',
  {
    templateId: text('template_id')
      .notNull()
      .references(() => communicationTemplates.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    subject: text('subject'),
    html: text('html'),
    text: text('text').notNull(),
    /** Declared variable names; using any other is refused at save time. */
    variables: jsonb('variables').$type<string[]>().notNull().default([]),
    createdBy: text('created_by'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.templateId, t.version] })],
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
