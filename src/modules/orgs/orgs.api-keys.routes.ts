import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { OrgGuard, OrgRouteKey } from './orgs.guard.js';
import { ApiKey, CreateApiKey, CreatedApiKey, keyBody, KeyParams, OrgParams } from './orgs.schema.js';
import type { ApiKeysService } from './orgs.api-keys.service.js';

/** API keys of an organization (org-scoped, behind the org guard, listed in ORG_ROUTES). */
export function apiKeyRoutes(server: HttpServer, deps: { apiKeys: ApiKeysService; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { apiKeys, orgGuard } = deps;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

  server.post(
    '/v1/orgs/:org_id/api-keys',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/api-keys'),
      schema: {
        tags: ['orgs'],
        summary: 'Create an API key (members only); the secret (tsk_live_…) is in this answer and never again',
        description: 'Scopes are permissions (GET /v1/permissions) you hold yourself. The key authenticates with `Authorization: Bearer` or `X-API-Key` on this organization\'s routes only.',
        security: [{ bearer: [] }],
        params: OrgParams,
        body: CreateApiKey,
        response: { 201: CreatedApiKey, ...problems(400, 401, 403, 404, 422, 429) },
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
        tags: ['orgs'], summary: 'API keys not revoked (expired ones too, with their expiry), oldest first; never their secrets', security, params: OrgParams,
        response: { 200: Page(ApiKey), ...problems(401, 403, 404, 429) },
      },
    },
    async (request) => wholeList(await apiKeys.list(request.org!), keyBody),
  );

  server.delete(
    '/v1/orgs/:org_id/api-keys/:key_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/api-keys/:key_id'),
      schema: {
        tags: ['orgs'], summary: 'Revoke an API key: it stops working at once', security, params: KeyParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.org!, request.params.key_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
