import { boolean, foreignKey, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { organizations } from '../orgs/orgs.tables.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/*
 * The OpenID provider's registry: applications (its clients) and API resources (RFC 8707) with the
 * scopes each application is granted. Platform-wide tables managed by platform admins: an
 * application may belong to an organization (`org_id`, for its events and later its console), but
 * it is not tenant data, so no row-level security; the queries that read them are platform-wide.
 */

/** An application (an OAuth client). Its id (`app_…`) is its client_id. Secrets are sealed with TESSERA_SECRET. */
export const oidcApplications = pgTable(
  'oidc_applications',
  {
    id: text('id').primaryKey(),
    /** The owning organization, or null for a platform-wide application; deleting the organization deletes its applications. */
    orgId: text('org_id').references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** web | spa | native | m2m | device; never changes. */
    type: text('type').notNull(),
    redirectUris: jsonb('redirect_uris').$type<string[]>().notNull(),
    postLogoutRedirectUris: jsonb('post_logout_redirect_uris').$type<string[]>().notNull(),
    allowedOrigins: jsonb('allowed_origins').$type<string[]>().notNull(),
    backchannelLogoutUri: text('backchannel_logout_uri'),
    firstParty: boolean('first_party').notNull().default(false),
    /** client_secret_basic | client_secret_post for confidential types, none for public ones. */
    tokenEndpointAuthMethod: text('token_endpoint_auth_method').notNull(),
    /** Sealed client secret (confidential types only): sealed, not hashed, because the provider compares the presented value. */
    secret: text('secret'),
    /** The secret before the last rotation, sealed: it is still accepted until `previous_secret_expires_at`. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    createdBy: text('created_by'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [index('oidc_applications_org_idx').on(t.orgId, t.id)],
);

/** An API resource (RFC 8707): its indicator is the `aud` of the access tokens issued for it. */
export const oidcResources = pgTable(
  'oidc_resources',
  {
    id: text('id').primaryKey(),
    /** Absolute URI without fragment; unique; never changes (resource servers check it as the audience). */
    indicator: text('indicator').notNull(),
    name: text('name').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('oidc_resources_indicator_key').on(t.indicator)],
);

/** The scopes a resource defines (`read:reports`), unique by name within the resource. */
export const oidcResourceScopes = pgTable(
  'oidc_resource_scopes',
  {
    resourceId: text('resource_id')
      .notNull()
      .references(() => oidcResources.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
  },
  (t) => [primaryKey({ columns: [t.resourceId, t.name] })],
);

/** The resource scopes an application may be given (client credentials, or a user's consent). A removed scope or resource takes its grants with it. */
export const oidcApplicationGrants = pgTable(
  'oidc_application_grants',
  {
    applicationId: text('application_id')
      .notNull()
      .references(() => oidcApplications.id, { onDelete: 'cascade' }),
    resourceId: text('resource_id').notNull(),
    scope: text('scope').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.applicationId, t.resourceId, t.scope] }),
    foreignKey({ name: 'oidc_application_grants_scope_fk', columns: [t.resourceId, t.scope], foreignColumns: [oidcResourceScopes.resourceId, oidcResourceScopes.name] }).onDelete('cascade'),
    index('oidc_application_grants_scope_idx').on(t.resourceId, t.scope),
  ],
);
