import { and, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { outboxEvents } from '../../platform/events/index.js';
import { webhookAttempts, webhookDeliveries, webhookEndpoints } from './webhooks.tables.js';

export type EndpointRow = typeof webhookEndpoints.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type AttemptRow = typeof webhookAttempts.$inferSelect;

// ---------------------------------------------------------------------------------------------
// Endpoints (org-scoped)

export async function insertEndpoint(tenant: TenantDb, row: Omit<typeof webhookEndpoints.$inferInsert, 'orgId'>): Promise<EndpointRow> {
  const [created] = await tenant.orm.insert(webhookEndpoints).values({ ...row, orgId: tenant.orgId }).returning();
  return created!;
}

export async function countEndpoints(tenant: TenantDb): Promise<number> {
  const [row] = await tenant.orm.select({ n: sql<number>`count(*)::int` }).from(webhookEndpoints).where(eq(webhookEndpoints.orgId, tenant.orgId));
  return row?.n ?? 0;
}

export async function listEndpoints(tenant: TenantDb): Promise<EndpointRow[]> {
  return tenant.orm.select().from(webhookEndpoints).where(eq(webhookEndpoints.orgId, tenant.orgId)).orderBy(webhookEndpoints.id);
}

export async function findEndpoint(tenant: TenantDb, id: string, options: { lock?: boolean } = {}): Promise<EndpointRow | null> {
  const query = tenant.orm.select().from(webhookEndpoints).where(and(eq(webhookEndpoints.orgId, tenant.orgId), eq(webhookEndpoints.id, id)));
  const [row] = options.lock ? await query.for('update') : await query;
  return row ?? null;
}

export async function updateEndpoint(tenant: TenantDb, id: string, changes: Partial<typeof webhookEndpoints.$inferInsert>): Promise<EndpointRow | null> {
  const [row] = await tenant.orm
    .update(webhookEndpoints)
    .set({ ...changes, updatedAt: new Date() })
    .where(and(eq(webhookEndpoints.orgId, tenant.orgId), eq(webhookEndpoints.id, id)))
    .returning();
  return row ?? null;
}

export async function deleteEndpoint(tenant: TenantDb, id: string): Promise<boolean> {
  const rows = await tenant.orm.delete(webhookEndpoints).where(and(eq(webhookEndpoints.orgId, tenant.orgId), eq(webhookEndpoints.id, id))).returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Deliveries

export async function listDeliveries(tenant: TenantDb, endpointId: string, options: { limit: number; before?: string }): Promise<DeliveryRow[]> {
  return tenant.orm
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.orgId, tenant.orgId), eq(webhookDeliveries.endpointId, endpointId), options.before ? lt(webhookDeliveries.id, options.before) : undefined))
    .orderBy(desc(webhookDeliveries.id))
    .limit(options.limit);
}

export async function attemptsOf(tenant: TenantDb, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  return tenant.orm
    .select()
    .from(webhookAttempts)
    .where(and(eq(webhookAttempts.orgId, tenant.orgId), inArray(webhookAttempts.deliveryId, deliveryIds)))
    .orderBy(webhookAttempts.deliveryId, webhookAttempts.attempt);
}

export async function findDelivery(tenant: TenantDb, endpointId: string, id: string): Promise<DeliveryRow | null> {
  const [row] = await tenant.orm
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.orgId, tenant.orgId), eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.id, id)));
  return row ?? null;
}

/** Inserts deliveries, skipping (endpoint, event) pairs that exist; returns the new ones. */
export async function insertDeliveries(db: DbHandle, rows: (typeof webhookDeliveries.$inferInsert)[]): Promise<DeliveryRow[]> {
  if (rows.length === 0) return [];
  return db.orm.insert(webhookDeliveries).values(rows).onConflictDoNothing().returning();
}

export async function updateDelivery(db: DbHandle, orgId: string, id: string, changes: Partial<typeof webhookDeliveries.$inferInsert>): Promise<void> {
  await db.orm.update(webhookDeliveries).set({ ...changes, updatedAt: new Date() }).where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, id)));
}

export async function insertAttempt(db: DbHandle, row: typeof webhookAttempts.$inferInsert): Promise<void> {
  await db.orm.insert(webhookAttempts).values(row).onConflictDoNothing();
}

/** Paused deliveries of an endpoint (it was disabled), to resume when it is enabled again. */
export async function pausedDeliveries(tenant: TenantDb, endpointId: string): Promise<DeliveryRow[]> {
  return tenant.orm
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.orgId, tenant.orgId), eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, 'paused')));
}

// ---------------------------------------------------------------------------------------------
// Platform-wide (the dispatcher and the delivery job run outside any tenant)

/**
 * Claims due deliveries for this instance: pending or retrying ones whose time has come, and
 * `sending` ones whose claim lapsed (their instance died mid-send). Others skip what is claimed.
 */
export async function claimDueDeliveries(db: DbHandle, limit: number, leaseSeconds: number): Promise<DeliveryRow[]> {
  const { rows } = await db.sql.query<{ org_id: string; id: string }>(
    `WITH due AS (
       SELECT org_id, id FROM webhook_deliveries
        WHERE status IN ('pending', 'retrying', 'sending') AND next_attempt_at <= now() AND (status <> 'sending' OR lease_until < now())
        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     UPDATE webhook_deliveries AS d SET status = 'sending', lease_until = now() + make_interval(secs => $2), updated_at = now()
       FROM due WHERE d.org_id = due.org_id AND d.id = due.id
     RETURNING d.org_id, d.id`,
    [limit, leaseSeconds],
  );
  if (rows.length === 0) return [];
  return db.orm.select().from(webhookDeliveries).where(inArray(webhookDeliveries.id, rows.map((row) => row.id)));
}

export async function endpointsByIds(db: DbHandle, ids: string[]): Promise<EndpointRow[]> {
  if (ids.length === 0) return [];
  return db.orm.select().from(webhookEndpoints).where(inArray(webhookEndpoints.id, ids));
}

export interface DeliveryOutcome {
  orgId: string;
  id: string;
  status: 'succeeded' | 'retrying' | 'failed' | 'paused';
  attempts: number;
  lastStatusCode: number | null;
  nextAttemptAt: Date | null;
}

/** Writes the outcome of many deliveries in one statement. */
export async function recordOutcomes(db: DbHandle, outcomes: DeliveryOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await db.sql.query(
    `UPDATE webhook_deliveries AS d
        SET status = v.status, attempts = v.attempts, last_status_code = v.code, next_attempt_at = v.next_at, lease_until = NULL, updated_at = now()
       FROM (SELECT unnest($1::text[]) AS org_id, unnest($2::text[]) AS id, unnest($3::text[]) AS status, unnest($4::int[]) AS attempts,
                    unnest($5::int[]) AS code, unnest($6::timestamptz[]) AS next_at) AS v
      WHERE d.org_id = v.org_id AND d.id = v.id`,
    [
      outcomes.map((o) => o.orgId), outcomes.map((o) => o.id), outcomes.map((o) => o.status), outcomes.map((o) => o.attempts),
      outcomes.map((o) => o.lastStatusCode), outcomes.map((o) => o.nextAttemptAt?.toISOString() ?? null),
    ],
  );
}

export async function insertAttempts(db: DbHandle, rows: (typeof webhookAttempts.$inferInsert)[]): Promise<void> {
  if (rows.length > 0) await db.orm.insert(webhookAttempts).values(rows).onConflictDoNothing();
}

/** Adds failures to an endpoint's count (after a reset when it also succeeded); returns the new count. */
export async function addFailures(db: DbHandle, orgId: string, endpointId: string, failures: number, reset: boolean): Promise<number> {
  const [row] = await db.orm
    .update(webhookEndpoints)
    .set({ consecutiveFailures: reset ? sql`${failures}` : sql`${webhookEndpoints.consecutiveFailures} + ${failures}` })
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, endpointId)))
    .returning({ n: webhookEndpoints.consecutiveFailures });
  return row?.n ?? 0;
}

/** Disables an enabled endpoint; true when this call did it (one notice, even with racing jobs). */
export async function disableEndpoint(db: DbHandle, orgId: string, endpointId: string, reason: string): Promise<boolean> {
  const rows = await db.orm
    .update(webhookEndpoints)
    .set({ enabled: false, disabledReason: reason, updatedAt: new Date() })
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.enabled, true)))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

export interface OutboxEvent {
  id: string;
  type: string;
  orgId: string | null;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/** The oldest undispatched events, locked for this transaction (others skip them). */
export async function claimEvents(db: DbHandle, limit: number): Promise<OutboxEvent[]> {
  const rows = await db.orm
    .select()
    .from(outboxEvents)
    .where(isNull(outboxEvents.dispatchedAt))
    .orderBy(outboxEvents.createdAt, outboxEvents.id)
    .limit(limit)
    .for('update', { skipLocked: true });
  return rows.map((row) => ({ id: row.id, type: row.type, orgId: row.orgId, payload: row.payload as Record<string, unknown>, createdAt: row.createdAt }));
}

export async function markDispatched(db: DbHandle, ids: string[]): Promise<void> {
  if (ids.length > 0) await db.orm.update(outboxEvents).set({ dispatchedAt: new Date() }).where(inArray(outboxEvents.id, ids));
}

/** Enabled endpoints of these organizations. */
export async function enabledEndpointsOf(db: DbHandle, orgIds: string[]): Promise<Pick<EndpointRow, 'orgId' | 'id' | 'eventTypes' | 'createdAt'>[]> {
  if (orgIds.length === 0) return [];
  return db.orm
    .select({ orgId: webhookEndpoints.orgId, id: webhookEndpoints.id, eventTypes: webhookEndpoints.eventTypes, createdAt: webhookEndpoints.createdAt })
    .from(webhookEndpoints)
    .where(and(inArray(webhookEndpoints.orgId, orgIds), eq(webhookEndpoints.enabled, true)));
}

/** Organizations each of these users belongs to, and since when. */
export async function orgsOfUsers(db: DbHandle, userIds: string[]): Promise<{ userId: string; orgId: string; since: Date }[]> {
  if (userIds.length === 0) return [];
  const { rows } = await db.sql.query<{ user_id: string; org_id: string; created_at: Date | string }>('SELECT user_id, org_id, created_at FROM org_members WHERE user_id = ANY($1)', [userIds]);
  return rows.map((row) => ({ userId: row.user_id, orgId: row.org_id, since: new Date(row.created_at) }));
}

/** Owners and admins of an organization, to tell about a disabled endpoint. */
export async function orgAdmins(db: DbHandle, orgId: string): Promise<string[]> {
  const { rows } = await db.sql.query<{ user_id: string }>(`SELECT user_id FROM org_members WHERE org_id = $1 AND role IN ('owner', 'admin')`, [orgId]);
  return rows.map((row) => row.user_id);
}
