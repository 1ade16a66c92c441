import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/** Users of the platform. Emails are unique case-insensitively (index on lower(email)). */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull(),
    emailVerified: boolean('email_verified').notNull().default(false),
    passwordHash: text('password_hash'),
    name: text('name'),
    locale: text('locale'),
    /** E.164 phone number, set only once proven by an SMS code (`POST /v1/me/phone`). */
    phone: text('phone'),
    phoneVerified: boolean('phone_verified').notNull().default(false),
    timezone: text('timezone'),
    isPlatformAdmin: boolean('is_platform_admin').notNull().default(false),
    failedLoginCount: integer('failed_login_count').notNull().default(0),
    lockedUntil: ts('locked_until'),
    passwordChangedAt: ts('password_changed_at'),
    lastLoginAt: ts('last_login_at'),
    /** Set by an MFA recovery: the user must enrol a second factor again before anything else. */
    mfaReenrollRequired: boolean('mfa_reenroll_required').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`)],
);

/**
 * A signed-in session: one refresh-token family. Revoking it ends its refresh tokens and (through
 * the revocation list in the cache) its access tokens at once.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    /** Absolute end: created_at + SESSION_MAX_LIFETIME_SECONDS. */
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
    revokedReason: text('revoked_reason'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    device: text('device'),
    /** Authentication methods used to start it (`pwd`, `email`, `otp`, `hwk`…). */
    amr: jsonb('amr').$type<string[]>().notNull().default([]),
    /** Last time the user proved who they are in this session (sign-in or step-up). */
    reauthenticatedAt: ts('reauthenticated_at'),
    /** The organization the session's tokens speak for (`org_id`/`org_role` claims), chosen at refresh. */
    orgId: text('org_id'),
  },
  (t) => [index('sessions_user_idx').on(t.userId, t.createdAt)],
);

/**
 * Refresh tokens, hashed; rotated on each use. A used token presented again revokes its session,
 * except within REFRESH_REUSE_GRACE_SECONDS by the client that spent it (`used_by`).
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    usedAt: ts('used_at'),
    /** SHA-256 of the IP address and User-Agent of the request that spent it: the client the reuse grace applies to. */
    usedBy: text('used_by'),
  },
  (t) => [uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash), index('refresh_tokens_session_idx').on(t.sessionId)],
);

/**
 * One-time tokens mailed to users: email verification (with a 6-digit code), magic links,
 * password resets, email changes. Only hashes are stored.
 */
export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').notNull(),
    tokenHash: text('token_hash').notNull(),
    /** SHA-256 of `<id>:<code>` for tokens that also carry a short code. */
    codeHash: text('code_hash'),
    codeAttempts: integer('code_attempts').notNull().default(0),
    /** The address being verified (email change: the new one). */
    email: text('email'),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [uniqueIndex('one_time_tokens_hash_key').on(t.tokenHash), index('one_time_tokens_user_idx').on(t.userId, t.purpose)],
);

/** Devices a user has signed in from, to mail a notice on a sign-in from a new one. */
export const userDevices = pgTable(
  'user_devices',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    fingerprint: text('fingerprint').notNull(),
    firstSeenAt: ts('first_seen_at').notNull().defaultNow(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.fingerprint] })],
);
