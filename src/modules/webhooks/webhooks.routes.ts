import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, pageQuery, paginate, wholeList } from '../../platform/http/pagination.js';

import { OrgId, type OrgGuard, type OrgRouteKey } from '../orgs/index.js';
import { EVENT_TYPES } from './webhooks.catalogue.js';
import type { AttemptRow, DeliveryRow, EndpointRow, WebhooksService } from './webhooks.service.js';

const EndpointId = Type.String({ pattern: '^whk_[0-9a-z]{26}$' });
const DeliveryId = Type.String({ pattern: '^whd_[0-9a-z]{26}$' });
const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 100, uniqueItems: true, description: 'Event types, or ["*"] for all' });
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Description = Nullable(Type.String({ maxLength: 500 }));
const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(Type.String()),
  consecutive_failures: Type.Integer(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
const Attempt = Type.Object({
  attempt: Type.Integer(),
  attempted_at: Timestamp,
  status_code: Nullable(Type.Integer()),
  latency_ms: Nullable(Type.Integer()),
  response_body: Nullable(Type.String({ description: 'The first KiB' })),
  error: Nullable(Type.String()),
});
const Delivery = Type.Object({
  id: Type.String(),
  event_id: Type.String(),
  event_type: Type.String(),
  status: Type.String({ description: 'pending, retrying, succeeded, failed, or paused (endpoint disabled)' }),
  attempt_count: Type.Integer(),
  next_attempt_at: Nullable(Timestamp),
  created_at: Timestamp,
  attempts: Type.Array(Attempt),
});
const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

function endpointBody(row: EndpointRow): Static<typeof Endpoint> {
  return {
    id: row.id, url: row.url, description: row.description, event_types: row.eventTypes, enabled: row.enabled, disabled_reason: row.disabledReason,
    consecutive_failures: row.consecutiveFailures, created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString(),
  };
}

function deliveryBody(row: DeliveryRow, attempts: AttemptRow[]): Static<typeof Delivery> {
  return {
    id: row.id, event_id: row.eventId, event_type: row.eventType, status: row.status, attempt_count: row.attempts, next_attempt_at: iso(row.nextAttemptAt),
    created_at: row.createdAt.toISOString(),
    attempts: attempts.map((a) => ({ attempt: a.attempt, attempted_at: a.attemptedAt.toISOString(), status_code: a.statusCode, latency_ms: a.latencyMs, response_body: a.responseBody, error: a.error })),
  };
}

/** Webhook endpoints of an organization (org-scoped, in ORG_ROUTES), and the event catalogue. */
export function webhookRoutes(server: HttpServer, deps: { webhooks: WebhooksService; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { webhooks, orgGuard } = deps;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
  const tags = ['webhooks'];
  const orgParams = Type.Object({ org_id: OrgId });
  const endpointParams = Type.Object({ org_id: OrgId, endpoint_id: EndpointId });

  server.get(
    '/v1/webhooks/event-types',
    {
      schema: {
        tags, summary: 'The event types endpoints may subscribe to, each with the JSON Schema of its data and an example',
        response: {
          200: Type.Object({ data: Type.Array(Type.Object({ type: Type.String(), description: Type.String(), schema: Type.Unknown(), example: Type.Unknown() })) }),
        },
      },
    },
    async () => ({
      data: Object.entries(EVENT_TYPES).map(([type, spec]) => ({
        type, description: spec.description, schema: spec.schema, example: { type, timestamp: '2026-01-01T12:00:00.000Z', data: spec.example },
      })),
    }),
  );

  server.post(
    '/v1/orgs/:org_id/webhooks',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/webhooks'),
      schema: {
        tags, summary: 'Add an endpoint; its signing secret (whsec_…) is in this answer and never again', security, params: orgParams,
        body: Type.Object({ url: Url, event_types: EventTypes, description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 201: Type.Composite([Endpoint, Type.Object({ secret: Type.String() })]), ...problems(400, 401, 403, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      const { url, event_types: eventTypes, description } = request.body;
      const { endpoint, secret } = await webhooks.create(request.org!, { url, eventTypes, ...(description !== undefined ? { description } : {}) }, clientOf(request));
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ ...endpointBody(endpoint), secret });
    },
  );

  server.get(
    '/v1/orgs/:org_id/webhooks',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/webhooks'),
      // A bounded set (the tier's endpoint limit): one page, next_cursor always null.
      schema: { tags, summary: 'The endpoints (never their secrets)', security, params: orgParams, response: { 200: Page(Endpoint), ...problems(401, 403, 404, 429) } },
    },
    async (request) => wholeList(await webhooks.list(request.org!), endpointBody),
  );

  server.get(
    '/v1/orgs/:org_id/webhooks/:endpoint_id',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/webhooks/:endpoint_id'),
      schema: { tags, summary: 'One endpoint', security, params: endpointParams, response: { 200: Endpoint, ...problems(400, 401, 403, 404, 429) } },
    },
    async (request) => endpointBody(await webhooks.get(request.org!, request.params.endpoint_id)),
  );

  server.patch(
    '/v1/orgs/:org_id/webhooks/:endpoint_id',
    {
      preValidation: orgGuard('PATCH /v1/orgs/:org_id/webhooks/:endpoint_id'),
      schema: {
        tags, summary: 'Change an endpoint; enabled: true re-enables a disabled one and resumes its paused deliveries', security, params: endpointParams,
        body: Type.Object(
          { url: Type.Optional(Url), event_types: Type.Optional(EventTypes), description: Type.Optional(Description), enabled: Type.Optional(Type.Boolean()) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Endpoint, ...problems(400, 401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const { url, event_types: eventTypes, description, enabled } = request.body;
      const changes = { ...(url !== undefined ? { url } : {}), ...(eventTypes ? { eventTypes } : {}), ...(description !== undefined ? { description } : {}), ...(enabled !== undefined ? { enabled } : {}) };
      return endpointBody(await webhooks.update(request.org!, request.params.endpoint_id, changes, clientOf(request)));
    },
  );

  server.delete(
    '/v1/orgs/:org_id/webhooks/:endpoint_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/webhooks/:endpoint_id'),
      schema: { tags, summary: 'Remove an endpoint and its delivery history', security, params: endpointParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 429) } },
    },
    async (request, reply) => {
      await webhooks.remove(request.org!, request.params.endpoint_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/orgs/:org_id/webhooks/:endpoint_id/rotate-secret',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/webhooks/:endpoint_id/rotate-secret'),
      schema: {
        tags, summary: 'A new signing secret (shown once); the old one keeps signing beside it for 24 hours', security, params: endpointParams,
        response: { 200: Type.Composite([Endpoint, Type.Object({ secret: Type.String() })]), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await webhooks.rotateSecret(request.org!, request.params.endpoint_id, clientOf(request));
      reply.header('cache-control', 'no-store');
      return { ...endpointBody(endpoint), secret };
    },
  );

  server.post(
    '/v1/orgs/:org_id/webhooks/:endpoint_id/test',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/webhooks/:endpoint_id/test'),
      schema: { tags, summary: 'Send a webhook.test event to the endpoint', security, params: endpointParams, response: { 202: Delivery, ...problems(400, 401, 403, 404, 429) } },
    },
    async (request, reply) => reply.code(202).send(deliveryBody(await webhooks.test(request.org!, request.params.endpoint_id), [])),
  );

  server.get(
    '/v1/orgs/:org_id/webhooks/:endpoint_id/deliveries',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/webhooks/:endpoint_id/deliveries'),
      schema: {
        tags, summary: 'Deliveries to the endpoint, newest first, each with its attempts', security, params: endpointParams,
        querystring: Type.Object(pageQuery({ max: 100, defaultLimit: 20, cursor: DeliveryId }), { additionalProperties: false }),
        response: { 200: Page(Delivery), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return paginate(
        limit,
        (take) => webhooks.deliveries(request.org!, request.params.endpoint_id, { limit: take, ...(cursor ? { before: cursor as string } : {}) }),
        ({ delivery }) => delivery.id,
        ({ delivery, attempts }) => deliveryBody(delivery, attempts),
      );
    },
  );

  server.post(
    '/v1/orgs/:org_id/webhooks/:endpoint_id/deliveries/:delivery_id/retry',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/webhooks/:endpoint_id/deliveries/:delivery_id/retry'),
      schema: {
        tags, summary: 'Send a delivery again now', security, params: Type.Object({ org_id: OrgId, endpoint_id: EndpointId, delivery_id: DeliveryId }),
        response: { 202: Delivery, ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const { delivery, attempts } = await webhooks.retry(request.org!, request.params.endpoint_id, request.params.delivery_id, clientOf(request));
      return reply.code(202).send(deliveryBody(delivery, attempts));
    },
  );
}
