import { bigint, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { users } from '../accounts/accounts.tables.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/** A user's authenticator-app secret (sealed with TESSERA_SECRET). Active once confirmed. */
export const totpFactors = pgTable('mfa_totp', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secretSealed: text('secret_sealed').notNull(),
  confirmedAt: ts('confirmed_at'),
  /** The 30-second step of the last accepted code: a code of that step or earlier is a replay. */
  lastUsedStep: bigint('last_used_step', { mode: 'number' }).notNull().default(0),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/** Backup codes, as HMACs under a key derived from TESSERA_SECRET; each usable once. */
export const backupCodes = pgTable(
  'mfa_backup_codes',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: ts('used_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('mfa_backup_codes_user_idx').on(t.userId)],
);

/**
 * The mfa_tokens (second steps of sign-ins) that have been spent, by `jti`: recorded in the
 * transaction that spends the factor (a TOTP step, a backup code), so of two verifications with one
 * mfa_token exactly one spends anything. Rows past `expires_at` are useless and swept per user.
 */
export const mfaTokenUses = pgTable(
  'mfa_token_uses',
  {
    jti: text('jti').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    usedAt: ts('used_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('mfa_token_uses_user_idx').on(t.userId, t.expiresAt)],
);
