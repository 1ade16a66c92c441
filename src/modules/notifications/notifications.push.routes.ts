import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import type { PushProvider } from '../../platform/push/index.js';
import { MAX_PUSH_SUBSCRIPTIONS, type PushSubscriptionRow, type PushSubscriptionsService } from './notifications.service.js';

const PushSubscriptionId = Type.String({ pattern: '^psh_[0-9a-z]{26}$' });
/** A browser's `PushSubscription.toJSON()`. */
const PushSubscriptionBody = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, maxLength: 2048, description: "The push service URL (https) the browser was given" }),
    keys: Type.Object(
      {
        p256dh: Type.String({ minLength: 1, maxLength: 200, description: 'base64url, 65 bytes: the uncompressed P-256 public key' }),
        auth: Type.String({ minLength: 1, maxLength: 100, description: 'base64url, 16 bytes: the authentication secret' }),
      },
      { additionalProperties: false },
    ),
    expirationTime: Type.Optional(Nullable(Type.Number({ description: 'Accepted and ignored: push services answer 404/410 once a subscription is gone, and it is dropped then' }))),
  },
  { additionalProperties: false },
);
const PushSubscription = Type.Object({
  id: PushSubscriptionId,
  endpoint: Type.String(),
  user_agent: Nullable(Type.String()),
  created_at: Timestamp,
  last_used_at: Nullable(Timestamp),
});

function subscriptionBody(row: PushSubscriptionRow): Static<typeof PushSubscription> {
  return { id: row.id, endpoint: row.endpoint, user_agent: row.userAgent, created_at: row.createdAt.toISOString(), last_used_at: row.lastUsedAt ? row.lastUsedAt.toISOString() : null };
}

/** Web Push: the VAPID public key browsers subscribe with, and the signed-in user's subscriptions. */
export function pushSubscriptionRoutes(
  server: HttpServer,
  deps: { subscriptions: PushSubscriptionsService; guards: Guards; pushProvider: Pick<PushProvider, 'publicKey'> },
): void {
  const { subscriptions, guards } = deps;
  const secured = { preValidation: guards.authenticate };
  const security = [{ bearer: [] }];
  const tags = ['notifications'];

  server.get(
    '/v1/push/vapid-public-key',
    {
      schema: {
        tags,
        summary: 'The VAPID application server key for PushManager.subscribe(); null when Web Push is not configured',
        response: { 200: Type.Object({ public_key: Nullable(Type.String({ description: 'URL-safe base64 (uncompressed P-256 point)' })) }) },
      },
    },
    async () => ({ public_key: deps.pushProvider.publicKey }),
  );

  server.post(
    '/v1/me/push-subscriptions',
    {
      ...secured,
      schema: {
        tags,
        summary: `Register this browser for push: 201 when new to me, 200 when it refreshes my own (at most ${MAX_PUSH_SUBSCRIPTIONS}; the oldest goes)`,
        description: 'An endpoint another account registered moves to me: the browser profile changed hands.',
        security,
        body: PushSubscriptionBody,
        response: { 200: PushSubscription, 201: PushSubscription, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const userAgent = request.headers['user-agent'];
      const { subscription, created } = await subscriptions.register(request.auth!.userId, request.body, { userAgent: userAgent ? userAgent.slice(0, 512) : null });
      return reply.code(created ? 201 : 200).send(subscriptionBody(subscription));
    },
  );

  server.get(
    '/v1/me/push-subscriptions',
    {
      ...secured,
      schema: {
        tags,
        summary: `My push subscriptions, newest first (at most ${MAX_PUSH_SUBSCRIPTIONS}: one page, next_cursor always null)`,
        security,
        response: { 200: Page(PushSubscription), ...problems(401) },
      },
    },
    async (request) => wholeList(await subscriptions.list(request.auth!.userId), subscriptionBody),
  );

  server.delete(
    '/v1/me/push-subscriptions/:id',
    {
      ...secured,
      schema: { tags, summary: 'Remove one of my push subscriptions', security, params: Type.Object({ id: PushSubscriptionId }), response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      await subscriptions.remove(request.auth!.userId, request.params.id);
      return reply.code(204).send(null);
    },
  );
}
