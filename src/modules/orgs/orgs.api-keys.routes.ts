import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';

import { OrgId, type OrgGuard, type OrgRouteKey } from './orgs.routes.js';
import type { ApiKeyRow, ApiKeysService } from './orgs.api-keys.service.js';

const KeyId = Type.String({ pattern: '^key_[0-9a-z]{26}$' });
const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'The start of the secret, to tell keys apart' }),
  scopes: Type.Array(Type.String()),
  rate_limit_per_minute: Nullable(Type.Integer()),
  created_by: Nullable(Type.String()),
  created_at: Timestamp,
  expires_at: Nullable(Timestamp),
  last_used_at: Nullable(Timestamp),
  last_used_ip: Nullable(Type.String()),
});
const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

function keyBody(row: ApiKeyRow): Static<typeof ApiKey> {
  return {
    id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, rate_limit_per_minute: row.rateLimitPerMinute, created_by: row.createdBy,
    created_at: row.createdAt.toISOString(), expires_at: iso(row.expiresAt), last_used_at: iso(row.lastUsedAt), last_used_ip: row.lastUsedIp,
  };
}

/** API keys of an organization (org-scoped, behind the org guard, listed in ORG_ROUTES). */
export function apiKeyRoutes(server: HttpServer, deps: { apiKeys: ApiKeysService; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { apiKeys, orgGuard } = deps;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
  const orgParams = Type.Object({ org_id: OrgId });

  server.post(
    '/v1/orgs/:org_id/api-keys',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/api-keys'),
      schema: {
        tags: ['orgs'],
        summary: 'Create an API key (members only); the secret (tsk_live_…) is in this answer and never again',
        description: 'Scopes are permissions (GET /v1/permissions) you hold yourself. The key authenticates with `Authorization: Bearer` or `X-API-Key` on this organization\'s routes only.',
        security: [{ bearer: [] }],
        params: orgParams,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
            scopes: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 64, uniqueItems: true }),
            expires_at: Type.Optional(Type.String({ format: 'date-time' })),
            rate_limit_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Composite([ApiKey, Type.Object({ secret: Type.String() })]), ...problems(400, 401, 403, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      const { name, scopes, expires_at: expiresAt, rate_limit_per_minute: rateLimitPerMinute } = request.body;
      const { key, secret } = await apiKeys.create(
        request.org!,
        { name, scopes, ...(expiresAt ? { expiresAt: new Date(expiresAt) } : {}), ...(rateLimitPerMinute ? { rateLimitPerMinute } : {}) },
        clientOf(request),
      );
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ ...keyBody(key), secret });
    },
  );

  server.get(
    '/v1/orgs/:org_id/api-keys',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/api-keys'),
      schema: {
        tags: ['orgs'], summary: 'API keys not revoked (expired ones too, with their expiry), oldest first; never their secrets', security, params: orgParams,
        response: { 200: Type.Object({ data: Type.Array(ApiKey), next_cursor: Type.Null() }), ...problems(401, 403, 404, 429) },
      },
    },
    async (request) => ({ data: (await apiKeys.list(request.org!)).map(keyBody), next_cursor: null }),
  );

  server.delete(
    '/v1/orgs/:org_id/api-keys/:key_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/api-keys/:key_id'),
      schema: {
        tags: ['orgs'], summary: 'Revoke an API key: it stops working at once', security, params: Type.Object({ org_id: OrgId, key_id: KeyId }),
        response: { 204: Type.Null(), ...problems(401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.org!, request.params.key_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
