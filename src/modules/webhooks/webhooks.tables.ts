import { sql } from 'drizzle-orm';
import { boolean, foreignKey, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { organizations } from '../orgs/orgs.tables.js';

const ts = (name: string) => timestamp(name, { withTimezone: true });

/** An organization's webhook endpoint. Secrets are sealed with TESSERA_SECRET. */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    url: text('url').notNull(),
    description: text('description'),
    eventTypes: jsonb('event_types').$type<string[]>().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    secret: text('secret').notNull(),
    /** The secret before the last rotation: it keeps signing alongside the new one until `previous_secret_expires_at`. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    /** Failed attempts in a row; reset by a success. Reaching the limit disables the endpoint. */
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    disabledReason: text('disabled_reason'),
    createdBy: text('created_by'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.id] }), uniqueIndex('webhook_endpoints_id_key').on(t.id)],
);

/** One event for one endpoint: created by the dispatcher, moved along by each attempt. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    orgId: text('org_id').notNull(),
    id: text('id').notNull(),
    endpointId: text('endpoint_id').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    /** The body as sent: `{type, timestamp, data}`. */
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    /** pending → sending → succeeded, or retrying → sending → … → failed; paused while the endpoint is disabled. */
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at'),
    /** While `sending`: when the claim lapses (its instance died) and another may take it. */
    leaseUntil: ts('lease_until'),
    lastStatusCode: integer('last_status_code'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.id] }),
    foreignKey({ columns: [t.orgId, t.endpointId], foreignColumns: [webhookEndpoints.orgId, webhookEndpoints.id] }).onDelete('cascade'),
    // One delivery per event and endpoint: a dispatcher that runs twice creates nothing twice.
    uniqueIndex('webhook_deliveries_event_key').on(t.endpointId, t.eventId),
    index('webhook_deliveries_endpoint_idx').on(t.orgId, t.endpointId, t.id),
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`status IN ('pending', 'retrying', 'sending')`),
  ],
);

/** Each HTTP attempt of a delivery: what the receiver answered. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    orgId: text('org_id').notNull(),
    deliveryId: text('delivery_id').notNull(),
    attempt: integer('attempt').notNull(),
    attemptedAt: ts('attempted_at').notNull().defaultNow(),
    statusCode: integer('status_code'),
    latencyMs: integer('latency_ms'),
    /** The first KiB of the response body. */
    responseBody: text('response_body'),
    error: text('error'),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.deliveryId, t.attempt] }),
    foreignKey({ columns: [t.orgId, t.deliveryId], foreignColumns: [webhookDeliveries.orgId, webhookDeliveries.id] }).onDelete('cascade'),
  ],
);
