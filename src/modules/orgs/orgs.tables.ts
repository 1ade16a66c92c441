import { index, integer, jsonb, pgTable, pgView, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { eq, sql } from 'drizzle-orm';
import { users } from '../accounts/accounts.tables.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/** Organizations: the unit of tenancy. */
export const organizations = pgTable(
  'organizations',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    tier: text('tier').notNull().default('free'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('organizations_slug_key').on(t.slug)],
);

/** Who belongs to which organization, with which role. Org-scoped: the key starts with org_id. */
export const orgMembers = pgTable(
  'org_members',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.userId] }), index('org_members_user_idx').on(t.userId)],
);

/**
 * The members of each organization with the address and name of their account: what the member list
 * reads and searches, in one query, without the orgs module reading `users` itself. `security_invoker`
 * makes PostgreSQL check the row-level-security policy of `org_members` as the querying role (a view
 * otherwise runs as its owner, for whom the policy may not apply), so inside a tenant transaction the
 * view shows that organization's members only.
 */
export const orgMemberDirectory = pgView('org_member_directory')
  .with({ securityInvoker: true })
  .as((qb) =>
    qb
      .select({
        orgId: orgMembers.orgId,
        userId: orgMembers.userId,
        role: orgMembers.role,
        /** When the member joined (the membership's `created_at`). */
        joinedAt: orgMembers.createdAt,
        email: users.email,
        name: users.name,
      })
      .from(orgMembers)
      .innerJoin(users, eq(users.id, orgMembers.userId)),
  );

/**
 * Invitations to join an organization. Org-scoped: the key starts with org_id. The token is stored as
 * its SHA-256 only; an invitation is pending while it is neither accepted nor revoked and not expired.
 * One address has at most one open (neither accepted nor revoked) invitation per organization: the
 * partial unique index refuses a second, also when two requests race; an expired one is revoked
 * before it is replaced. An invitee ends one by accepting or declining it (a decline is recorded as a
 * revocation by the invitee).
 */
export const orgInvitations = pgTable(
  'org_invitations',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    email: text('email').notNull(),
    role: text('role').notNull(),
    tokenHash: text('token_hash').notNull(),
    invitedBy: text('invited_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    acceptedAt: ts('accepted_at'),
    acceptedBy: text('accepted_by').references(() => users.id, { onDelete: 'set null' }),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.id] }),
    uniqueIndex('org_invitations_token_hash_key').on(t.tokenHash),
    index('org_invitations_org_email_idx').on(t.orgId, sql`lower(${t.email})`),
    uniqueIndex('org_invitations_open_email_key').on(t.orgId, sql`lower(${t.email})`).where(sql`${t.acceptedAt} IS NULL AND ${t.revokedAt} IS NULL`),
    // An invitee's open invitations across organizations, in id order (GET /v1/me/invitations).
    index('org_invitations_open_invitee_idx').on(sql`lower(${t.email})`, t.id).where(sql`${t.acceptedAt} IS NULL AND ${t.revokedAt} IS NULL`),
  ],
);

/**
 * Custom roles of an organization, beside the built-in ones. Org-scoped. A member holding a custom
 * role has its id (`rol_…`) in `org_members.role`; names are unique per organization, case-insensitively.
 */
export const orgRoles = pgTable(
  'org_roles',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    permissions: jsonb('permissions').$type<string[]>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.id] }), uniqueIndex('org_roles_org_name_key').on(t.orgId, sql`lower(${t.name})`)],
);

/**
 * API keys of an organization. Org-scoped. The secret is stored as its SHA-256 only (it has 256 bits
 * of entropy); `prefix` is the readable start shown in lists. A key is live while neither revoked
 * nor expired.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    scopes: jsonb('scopes').$type<string[]>().notNull(),
    /** Requests per minute for this key (null: the tier's limit alone). */
    rateLimitPerMinute: integer('rate_limit_per_minute'),
    createdBy: text('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at'),
    lastUsedAt: ts('last_used_at'),
    lastUsedIp: text('last_used_ip'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.id] }), uniqueIndex('api_keys_secret_hash_key').on(t.secretHash)],
);
