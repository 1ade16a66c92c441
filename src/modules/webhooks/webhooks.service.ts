import type { ClientInfo } from '../../platform/http/client.js';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Database } from '../../platform/db/database.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import type { Audit } from '../../platform/events/index.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import { newId } from '../../platform/crypto/ids.js';

import type { OrgContext, Tiers } from '../orgs/index.js';
import { SUBSCRIBABLE_TYPES } from './webhooks.catalogue.js';
import { webhookErrors } from './webhooks.errors.js';
import { unsafeUrlReason, type OutboundPolicy } from '../../platform/delivery/index.js';
import {
  attemptsOf, countEndpoints, deleteEndpoint, findDelivery, findEndpoint, insertDeliveries, insertEndpoint, listDeliveries, listEndpoints, pausedDeliveries,
  updateDelivery, updateEndpoint, type AttemptRow, type DeliveryRow, type EndpointRow,
} from './webhooks.queries.js';

export type { AttemptRow, DeliveryRow, EndpointRow } from './webhooks.queries.js';

const SECRET_PURPOSE = 'webhook-secret';
/** How long a rotated-out secret keeps signing beside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

/** `whsec_` + 32 random bytes in base64: the Standard Webhooks secret format. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The `webhook-signature` header: one `v1,…` per live secret, space-separated. */
export function signatureHeader(secrets: string[], id: string, at: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' ');
}

export interface EndpointInput {
  url: string;
  eventTypes: string[];
  description?: string | null;
}

export interface WebhooksService {
  create(ctx: OrgContext, input: EndpointInput, client: ClientInfo): Promise<{ endpoint: EndpointRow; secret: string }>;
  list(ctx: OrgContext): Promise<EndpointRow[]>;
  get(ctx: OrgContext, id: string): Promise<EndpointRow>;
  update(ctx: OrgContext, id: string, changes: Partial<EndpointInput> & { enabled?: boolean }, client: ClientInfo): Promise<EndpointRow>;
  remove(ctx: OrgContext, id: string, client: ClientInfo): Promise<void>;
  rotateSecret(ctx: OrgContext, id: string, client: ClientInfo): Promise<{ endpoint: EndpointRow; secret: string }>;
  /** Queues a `webhook.test` event for the endpoint; returns the delivery. */
  test(ctx: OrgContext, id: string): Promise<DeliveryRow>;
  /** Newest first (by id); `before` is the id of the last delivery of the previous page. */
  deliveries(ctx: OrgContext, id: string, options: { limit: number; before?: string }): Promise<{ delivery: DeliveryRow; attempts: AttemptRow[] }[]>;
  /** Sends a delivery that is not being attempted again now; answers it with its attempts so far. */
  retry(ctx: OrgContext, id: string, deliveryId: string, client: ClientInfo): Promise<{ delivery: DeliveryRow; attempts: AttemptRow[] }>;
  /** The secret of a row in clear (for signing). */
  secretsOf(endpoint: EndpointRow, now?: Date): string[];
}

export function createWebhooksService(deps: { db: Database; box: SecretBox; audit: Audit; tiers: Tiers; policy: OutboundPolicy }): WebhooksService {
  const { db, box, audit, tiers, policy } = deps;

  async function checkUrl(url: string): Promise<void> {
    const reason = await unsafeUrlReason(url, policy);
    if (reason) throw webhookErrors.unsafe_url(`The URL ${reason}`, { errors: [{ path: 'body.url', message: reason }] });
  }

  function checkTypes(types: string[]): string[] {
    const unknown = types.filter((type) => type !== '*' && !SUBSCRIBABLE_TYPES.includes(type));
    if (unknown.length > 0) {
      throw webhookErrors.unknown_event_type(`Unknown event types: ${unknown.join(', ')} (GET /v1/webhooks/event-types)`, {
        errors: unknown.map((type) => ({ path: 'body.event_types', message: `unknown event type ${type}` })),
      });
    }
    return [...new Set(types)];
  }

  async function mustFind(tenant: TenantDb, id: string, lock = false): Promise<EndpointRow> {
    const row = await findEndpoint(tenant, id, { lock });
    if (!row) throw webhookErrors.endpoint_not_found();
    return row;
  }

  const record = (tenant: TenantDb, ctx: OrgContext, action: string, id: string, client: ClientInfo, changes: Record<string, { before?: unknown; after?: unknown }> | null = null) =>
    audit.record(tenant, { actor: ctx.actor, orgId: tenant.orgId, action, target: { type: 'webhook_endpoint', id }, context: client, changes });

  const secretsOf = (endpoint: EndpointRow, now = new Date()): string[] => {
    const secrets = [box.open(endpoint.secret, SECRET_PURPOSE)];
    if (endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) secrets.push(box.open(endpoint.previousSecret, SECRET_PURPOSE));
    return secrets;
  };

  return {
    secretsOf,

    async create(ctx, input, client) {
      const eventTypes = checkTypes(input.eventTypes);
      await checkUrl(input.url);
      const secret = newSigningSecret();
      const endpoint = await withTenant(db, ctx.orgId, async (tenant) => {
        await tiers.assertWithinLimit(tenant, 'webhooks', { count: countEndpoints });
        const row = await insertEndpoint(tenant, {
          id: newId('whk'), url: input.url, description: input.description ?? null, eventTypes, secret: box.seal(secret, SECRET_PURPOSE), createdBy: ctx.userId,
        });
        await record(tenant, ctx, 'webhook.created', row.id, client, { url: { after: row.url }, event_types: { after: eventTypes } });
        return row;
      });
      return { endpoint, secret };
    },

    list: (ctx) => withTenant(db, ctx.orgId, listEndpoints),

    get: (ctx, id) => withTenant(db, ctx.orgId, (tenant) => mustFind(tenant, id)),

    async update(ctx, id, changes, client) {
      const eventTypes = changes.eventTypes ? checkTypes(changes.eventTypes) : undefined;
      if (changes.url !== undefined) await checkUrl(changes.url);
      return withTenant(db, ctx.orgId, async (tenant) => {
        const before = await mustFind(tenant, id, true);
        const set: Partial<EndpointRow> = {};
        if (changes.url !== undefined) set.url = changes.url;
        if (eventTypes) set.eventTypes = eventTypes;
        if (changes.description !== undefined) set.description = changes.description;
        if (changes.enabled !== undefined) set.enabled = changes.enabled;
        const reenabled = changes.enabled === true && !before.enabled;
        if (reenabled) Object.assign(set, { consecutiveFailures: 0, disabledReason: null });
        const after = (await updateEndpoint(tenant, id, set))!;
        if (reenabled) {
          // Re-enabling resumes: deliveries paused while it was disabled go out again.
          const paused = await pausedDeliveries(tenant, id);
          for (const delivery of paused) await updateDelivery(tenant, tenant.orgId, delivery.id, { status: 'pending', nextAttemptAt: new Date() });
        }
        const diff: Record<string, { before?: unknown; after?: unknown }> = {};
        for (const key of ['url', 'eventTypes', 'description', 'enabled'] as const) {
          if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) diff[key === 'eventTypes' ? 'event_types' : key] = { before: before[key], after: after[key] };
        }
        await record(tenant, ctx, 'webhook.updated', id, client, diff);
        return after;
      });
    },

    async remove(ctx, id, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        if (!(await deleteEndpoint(tenant, id))) throw webhookErrors.endpoint_not_found();
        await record(tenant, ctx, 'webhook.deleted', id, client);
      });
    },

    async rotateSecret(ctx, id, client) {
      const secret = newSigningSecret();
      const endpoint = await withTenant(db, ctx.orgId, async (tenant) => {
        const before = await mustFind(tenant, id, true);
        const row = (await updateEndpoint(tenant, id, {
          secret: box.seal(secret, SECRET_PURPOSE), previousSecret: before.secret, previousSecretExpiresAt: new Date(Date.now() + ROTATION_OVERLAP_MS),
        }))!;
        await record(tenant, ctx, 'webhook.secret_rotated', id, client);
        return row;
      });
      return { endpoint, secret };
    },

    async test(ctx, id) {
      return withTenant(db, ctx.orgId, async (tenant) => {
        const endpoint = await mustFind(tenant, id);
        const eventId = newId('evt');
        const [delivery] = await insertDeliveries(tenant, [{
          orgId: tenant.orgId, id: newId('whd'), endpointId: endpoint.id, eventId, eventType: 'webhook.test', status: 'pending', nextAttemptAt: new Date(),
          payload: { type: 'webhook.test', timestamp: new Date().toISOString(), data: { org_id: tenant.orgId, endpoint_id: endpoint.id } },
        }]);
        return delivery!;
      });
    },

    async deliveries(ctx, id, options) {
      return withTenant(db, ctx.orgId, async (tenant) => {
        await mustFind(tenant, id);
        const rows = await listDeliveries(tenant, id, options);
        const attempts = await attemptsOf(tenant, rows.map((row) => row.id));
        return rows.map((delivery) => ({ delivery, attempts: attempts.filter((attempt) => attempt.deliveryId === delivery.id) }));
        // One snapshot: a delivery's status and its attempts as one commit left them (regression: a
        // delivery listed as `sending` with the attempt that had already ended it).
      }, { snapshot: true });
    },

    async retry(ctx, id, deliveryId, client) {
      return withTenant(db, ctx.orgId, async (tenant) => {
        await mustFind(tenant, id);
        const delivery = await findDelivery(tenant, id, deliveryId);
        if (!delivery) throw webhookErrors.delivery_not_found();
        if (delivery.status === 'pending' || delivery.status === 'sending') throw webhookErrors.delivery_in_progress();
        await updateDelivery(tenant, tenant.orgId, deliveryId, { status: 'pending', nextAttemptAt: new Date() });
        await audit.record(tenant, { actor: ctx.actor, orgId: tenant.orgId, action: 'webhook.delivery_retried', target: { type: 'webhook_delivery', id: deliveryId }, context: client });
        return { delivery: { ...delivery, status: 'pending', nextAttemptAt: new Date() }, attempts: await attemptsOf(tenant, [deliveryId]) };
      });
    },
  };
}
