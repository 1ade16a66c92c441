import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/**
 * One-time codes sent by SMS or email (`/v1/otp/send`): stored hashed, bound to a purpose and a
 * recipient, single use, with an expiry and an attempt budget taken from the admin settings.
 */
export const otpCodes = pgTable(
  'otp_codes',
  {
    id: text('id').primaryKey(),
    purpose: text('purpose').notNull(),
    /** The channel asked for, and the one that carried the code (a fallback when they differ). */
    requestedChannel: text('requested_channel').notNull(),
    channel: text('channel').notNull(),
    recipient: text('recipient').notNull(),
    userId: text('user_id'),
    codeHash: text('code_hash').notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    expiresAt: ts('expires_at').notNull(),
    consumedAt: ts('consumed_at'),
    ip: text('ip'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('otp_codes_recipient_idx').on(t.recipient, t.purpose, t.createdAt)],
);
