import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Guards } from '../../platform/http/auth.js';
import { httpErrors } from '../../platform/http/errors.js';
import type { HttpServer } from '../../platform/http/server.js';
import { orgErrors } from './orgs.errors.js';
import type { Permission } from './orgs.permissions.js';
import { RESERVED_SLUGS, type OrgContext, type OrgRow, type OrgsService } from './orgs.service.js';
import { API_KEY_PREFIX, type ApiKeysService } from './orgs.api-keys.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The organization of an org-scoped request and the caller's role in it (set by the org guard). */
    org: (OrgContext & { org: OrgRow }) | null;
  }
}

/**
 * Every org-scoped route, with the permission it needs (null: any member; for an API key, the scope it
 * needs). The org guard reads it, app start refuses an org-scoped route missing from it, and the
 * cross-tenant test calls each one. `userOnly`: API keys are refused (things only a person does).
 * Routes under `/v1/org` take the organization from the subdomain, the X-Organization-Id header or
 * the token (see `tenantOf`); the others from the path.
 */
export const ORG_ROUTES = [
  { method: 'GET', url: '/v1/orgs/:org_id', permission: 'org:read' },
  { method: 'PATCH', url: '/v1/orgs/:org_id', permission: 'org:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id', permission: 'org:delete', userOnly: true },
  { method: 'GET', url: '/v1/orgs/:org_id/members', permission: 'members:read' },
  { method: 'PATCH', url: '/v1/orgs/:org_id/members/:user_id', permission: 'members:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/members/:user_id', permission: 'members:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/leave', permission: null, userOnly: true },
  { method: 'POST', url: '/v1/orgs/:org_id/transfer-ownership', permission: 'org:transfer', userOnly: true },
  { method: 'POST', url: '/v1/orgs/:org_id/check-permission', permission: null },
  { method: 'POST', url: '/v1/orgs/:org_id/invitations', permission: 'members:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/invitations', permission: 'members:read' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/invitations/:invitation_id', permission: 'members:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/invitations/:invitation_id/resend', permission: 'members:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/roles', permission: 'org:read' },
  { method: 'POST', url: '/v1/orgs/:org_id/roles', permission: 'roles:write' },
  { method: 'PATCH', url: '/v1/orgs/:org_id/roles/:role_id', permission: 'roles:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/roles/:role_id', permission: 'roles:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/api-keys', permission: 'api_keys:write', userOnly: true },
  { method: 'GET', url: '/v1/orgs/:org_id/api-keys', permission: 'api_keys:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/api-keys/:key_id', permission: 'api_keys:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/webhooks', permission: 'webhooks:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/webhooks', permission: 'webhooks:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/webhooks/:endpoint_id', permission: 'webhooks:write' },
  { method: 'PATCH', url: '/v1/orgs/:org_id/webhooks/:endpoint_id', permission: 'webhooks:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/webhooks/:endpoint_id', permission: 'webhooks:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/webhooks/:endpoint_id/rotate-secret', permission: 'webhooks:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/webhooks/:endpoint_id/test', permission: 'webhooks:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/webhooks/:endpoint_id/deliveries', permission: 'webhooks:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/webhooks/:endpoint_id/deliveries/:delivery_id/retry', permission: 'webhooks:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/audit-logs', permission: 'audit:read' },
  { method: 'GET', url: '/v1/orgs/:org_id/audit-logs/export', permission: 'audit:read' },
  { method: 'GET', url: '/v1/org', permission: 'org:read' },
  { method: 'POST', url: '/v1/org/check-permission', permission: null },
] as const satisfies readonly { method: string; url: string; permission: Permission | null; userOnly?: true }[];

/** Whether a route is org-scoped (and so must be in ORG_ROUTES). Platform routes about organizations (/v1/admin/orgs/…) are not. */
export const isOrgScopedUrl = (url: string): boolean => (url.startsWith('/v1/orgs/') && url.includes(':org_id')) || url === '/v1/org' || url.startsWith('/v1/org/');

export type OrgRouteKey = `${(typeof ORG_ROUTES)[number]['method']} ${(typeof ORG_ROUTES)[number]['url']}`;

export type OrgGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Installs the route table on the server, before any org-scoped route is registered: `request.org`,
 * and app start refusing an org-scoped route that is not in ORG_ROUTES (it would skip the
 * table-driven checks and tests).
 */
export function installOrgRouteTable(server: HttpServer): void {
  server.decorateRequest('org', null);
  const known = new Set(ORG_ROUTES.map((route) => `${route.method} ${route.url}`));
  server.addHook('onRoute', (route) => {
    if (!isOrgScopedUrl(route.url)) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD' && !known.has(`${method} ${route.url}`)) throw new Error(`org-scoped route ${method} ${route.url} is missing from ORG_ROUTES`);
    }
  });
}

const ORG_ID = /^org_[0-9a-z]{26}$/;

/** The API key a request presents: the X-API-Key header, or a bearer token that is one. */
function presentedApiKey(request: FastifyRequest): string | null {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return bearer && bearer[1]!.startsWith(API_KEY_PREFIX) ? bearer[1]! : null;
}

/**
 * Authenticates (access token, or an API key of the organization), resolves the organization and
 * checks the caller's membership and permission there (per ORG_ROUTES), on every request.
 */
export function createOrgGuard(deps: { orgs: OrgsService; apiKeys: ApiKeysService; guards: Guards; baseDomain?: string }): (key: OrgRouteKey) => OrgGuard {
  const { orgs, apiKeys, guards, baseDomain } = deps;

  /**
   * The organization a request is about, in this order: the path's `org_id`, the subdomain of the
   * Host under BASE_DOMAIN (reserved names ignored), the X-Organization-Id header, then `fallback`
   * (the token's `org_id` claim, or an API key's organization). Null when what was named does not exist.
   */
  async function tenantOf(request: FastifyRequest, fallback: string | undefined): Promise<string | null> {
    const fromPath = (request.params as { org_id?: string }).org_id;
    if (fromPath !== undefined) return ORG_ID.test(fromPath) ? fromPath : null;
    // `acme.example.com.` (fully qualified, trailing dot) is the same host as `acme.example.com`.
    const host = request.hostname.toLowerCase().replace(/\.$/, '');
    if (baseDomain && host.endsWith(`.${baseDomain}`)) {
      const label = host.slice(0, -(baseDomain.length + 1));
      if (!label.includes('.') && !RESERVED_SLUGS.has(label)) return orgs.idOfSlug(label);
    }
    const header = request.headers['x-organization-id'];
    if (typeof header === 'string') return ORG_ID.test(header) ? header : null;
    if (fallback !== undefined) return fallback;
    throw orgErrors.organization_required('Name the organization: in the path, by subdomain, with the X-Organization-Id header, or with an organization token (POST /v1/auth/refresh with org_id)');
  }

  return function orgGuard(key) {
    const route: { permission: Permission | null; userOnly?: true } = ORG_ROUTES.find((r) => `${r.method} ${r.url}` === key)!;
    return async (request, reply) => {
      const secret = presentedApiKey(request);
      if (secret !== null) {
        const apiKey = await apiKeys.authenticate(secret, request.ip);
        if (!apiKey) throw httpErrors.invalid_token('The API key is invalid, revoked or expired', undefined, { 'www-authenticate': 'Bearer error="invalid_token"' });
        // A key acts in its own organization only; any other answers as if it did not exist.
        if ((await tenantOf(request, apiKey.orgId)) !== apiKey.orgId) throw orgErrors.org_not_found();
        if (route.userOnly) throw orgErrors.api_key_not_allowed();
        if (route.permission && !apiKey.scopes.includes(route.permission)) {
          throw orgErrors.scope_missing(`The API key lacks the ${route.permission} scope`, { scope: route.permission });
        }
        const window = await apiKeys.consume(apiKey);
        if (window) reply.header('ratelimit-limit', window.limit).header('ratelimit-remaining', window.remaining).header('ratelimit-reset', window.resetSeconds);
        const org = await orgs.get(apiKey.orgId);
        if (!org) throw orgErrors.org_not_found();
        request.org = { org, orgId: apiKey.orgId, actor: { type: 'api_key', id: apiKey.id }, userId: null, role: 'api_key', permissions: apiKey.scopes };
        return;
      }
      await guards.authenticate(request, reply);
      const claim = request.auth!.claims.org_id;
      const orgId = await tenantOf(request, typeof claim === 'string' ? claim : undefined);
      // Not a member and no such organization answer alike: ids of other tenants reveal nothing.
      const membership = orgId ? await orgs.membership(orgId, request.auth!.userId) : null;
      if (!membership) throw orgErrors.org_not_found();
      if (route.permission && !membership.permissions.includes(route.permission)) {
        throw orgErrors.permission_denied(`The ${membership.role} role lacks ${route.permission}`, { permission: route.permission });
      }
      request.org = membership;
    };
  };
}
