import { sql } from 'drizzle-orm';
import { index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/**
 * Every oidc-provider model instance (sessions, interactions, authorization codes, access and
 * refresh tokens, grants, device codes, PAR requests…) in one table keyed by model and id, as
 * Logto stores them. The payload is oidc-provider's own; the columns beside it are what the
 * adapter looks rows up by: the grant (revokeByGrantId), the device flow's user code, the uid of
 * sessions and interactions. Expired rows are never answered and are removed by a job.
 */
export const oidcModels = pgTable(
  'oidc_models',
  {
    model: text('model').notNull(),
    id: text('id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    grantId: text('grant_id'),
    userCode: text('user_code'),
    uid: text('uid'),
    expiresAt: ts('expires_at'),
    consumedAt: ts('consumed_at'),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.id] }),
    index('oidc_models_grant_idx').on(t.grantId).where(sql`${t.grantId} IS NOT NULL`),
    uniqueIndex('oidc_models_user_code_key').on(t.model, t.userCode).where(sql`${t.userCode} IS NOT NULL`),
    index('oidc_models_uid_idx').on(t.model, t.uid).where(sql`${t.uid} IS NOT NULL`),
    index('oidc_models_expires_idx').on(t.expiresAt).where(sql`${t.expiresAt} IS NOT NULL`),
  ],
);
