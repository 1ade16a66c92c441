import { clientOf } from '../../platform/http/client.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems, Timestamp, Nullable } from '../../platform/http/schemas.js';
import { type AccountsService } from '../accounts/index.js';
import { orgErrors } from './orgs.errors.js';
import { httpErrors } from '../../platform/http/errors.js';
import { BUILT_IN_ROLES, PERMISSIONS, PERMISSION_NAMES, isPermission, type Permission } from './orgs.permissions.js';
import { RESERVED_SLUGS, type OrgContext, type OrgsService } from './orgs.service.js';
import { API_KEY_PREFIX, type ApiKeysService } from './orgs.api-keys.service.js';
import type { OrgRow } from './orgs.queries.js';
import type { Tiers } from './orgs.tiers.js';

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

export const OrgId = Type.String({ pattern: '^org_[0-9a-z]{26}$' });
const UserId = Type.String({ pattern: '^usr_[0-9a-z]{26}$' });
const Limit = Nullable(Type.Integer({ minimum: 1 }));
/** A tier's limits; null is unlimited. */
export const TierLimitsSchema = Type.Object({ members: Limit, api_keys: Limit, webhooks: Limit, requests_per_minute: Limit });
/** `limits` (the limits of the organization's tier) only where one organization is read. */
export const Org = Type.Object({
  id: Type.String(), slug: Type.String(), name: Type.String(), tier: Type.String(), limits: Type.Optional(TierLimitsSchema), role: Type.String(), created_at: Timestamp, updated_at: Timestamp,
});
const Member = Type.Object({ user_id: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: Type.String(), joined_at: Timestamp });
/** A name is trimmed before it is stored: one that is only blanks would be stored empty. */
const OrgName = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
/** A role key: a built-in role's name or a custom role's id. */
export const Role = Type.String({ pattern: '^(owner|admin|member|viewer|rol_[0-9a-z]{26})$', description: 'owner, admin, member, viewer, or a custom role id (rol_…)' });

export function orgBody(org: OrgRow, role: string): Static<typeof Org> {
  return { id: org.id, slug: org.slug, name: org.name, tier: org.tier, role, created_at: org.createdAt.toISOString(), updated_at: org.updatedAt.toISOString() };
}

const ORG_ID = /^org_[0-9a-z]{26}$/;
export type OrgGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

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

export function orgRoutes(server: HttpServer, deps: { orgs: OrgsService; accounts: AccountsService; guards: Guards; tiers: Tiers; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { orgs, accounts, guards, tiers, orgGuard } = deps;
  const security = [{ bearer: [] }];
  server.decorateRequest('org', null);

  // An org-scoped route that is not in the table would skip the table-driven checks and tests.
  const known = new Set(ORG_ROUTES.map((route) => `${route.method} ${route.url}`));
  server.addHook('onRoute', (route) => {
    if (!isOrgScopedUrl(route.url)) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD' && !known.has(`${method} ${route.url}`)) throw new Error(`org-scoped route ${method} ${route.url} is missing from ORG_ROUTES`);
    }
  });

  server.get(
    '/v1/permissions',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['orgs'],
        summary: 'The permission catalogue and the built-in roles',
        security,
        response: {
          200: Type.Object({
            data: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
            roles: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), permissions: Type.Array(Type.String()) })),
          }),
          ...problems(401),
        },
      },
    },
    async () => ({
      data: PERMISSION_NAMES.map((name) => ({ name, description: PERMISSIONS[name] })),
      roles: Object.entries(BUILT_IN_ROLES).map(([name, role]) => ({ name, description: role.description, permissions: [...role.permissions] })),
    }),
  );

  server.post(
    '/v1/orgs',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['orgs'],
        summary: 'Create an organization; the creator becomes its owner',
        security,
        body: Type.Object({ name: OrgName, slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false }),
        response: { 201: Org, ...problems(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const user = await accounts.getUser(request.auth!.userId);
      if (!user) throw httpErrors.invalid_token('The account of this access token no longer exists');
      const org = await orgs.create(user, request.body, clientOf(request));
      return reply.code(201).send(orgBody(org, 'owner'));
    },
  );

  server.get(
    '/v1/orgs',
    {
      preValidation: guards.authenticate,
      schema: { tags: ['orgs'], summary: 'My organizations', security, response: { 200: Type.Object({ data: Type.Array(Org), next_cursor: Type.Null() }), ...problems(401) } },
    },
    async (request) => ({ data: (await orgs.listMine(request.auth!.userId)).map(({ org, role }) => orgBody(org, role)), next_cursor: null }),
  );

  const orgParams = Type.Object({ org_id: OrgId });
  const memberParams = Type.Object({ org_id: OrgId, user_id: UserId });

  const readOrg = async (request: FastifyRequest): Promise<Static<typeof Org>> => {
    const { org, role } = request.org!;
    return { ...orgBody(org, role), limits: tiers.limitsFor(org.tier) };
  };
  server.get(
    '/v1/orgs/:org_id',
    { preValidation: orgGuard('GET /v1/orgs/:org_id'), schema: { tags: ['orgs'], summary: 'An organization', security, params: orgParams, response: { 200: Org, ...problems(401, 403, 404, 429) } } },
    readOrg,
  );
  server.get(
    '/v1/org',
    {
      preValidation: orgGuard('GET /v1/org'),
      schema: {
        tags: ['orgs'],
        summary: 'The organization of the request: from the subdomain under BASE_DOMAIN, the X-Organization-Id header, or the token (or API key)',
        security,
        response: { 200: Org, ...problems(400, 401, 403, 404, 429) },
      },
    },
    readOrg,
  );

  server.patch(
    '/v1/orgs/:org_id',
    {
      preValidation: orgGuard('PATCH /v1/orgs/:org_id'),
      schema: {
        tags: ['orgs'],
        summary: 'Rename an organization or change its slug',
        security,
        params: orgParams,
        body: Type.Object({ name: Type.Optional(OrgName), slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }, { additionalProperties: false, minProperties: 1 }),
        response: { 200: Org, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request) => orgBody(await orgs.update(request.org!, request.body, clientOf(request)), request.org!.role),
  );

  server.delete(
    '/v1/orgs/:org_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id'),
      preHandler: guards.requireRecentAuth,
      schema: { tags: ['orgs'], summary: 'Delete an organization (owner, with a recent sign-in)', security, params: orgParams, response: { 204: Type.Null(), ...problems(401, 403, 404) } },
    },
    async (request, reply) => {
      await orgs.remove(request.org!, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.get(
    '/v1/orgs/:org_id/members',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/members'),
      schema: {
        tags: ['orgs'],
        summary: 'Members, ordered by user id; `q` searches email and name',
        security,
        params: orgParams,
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), cursor: Type.Optional(UserId), q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(Member), next_cursor: Nullable(Type.String()) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { limit, cursor, q } = request.query;
      const rows = await orgs.members(request.org!, { limit: limit + 1, ...(cursor ? { after: cursor } : {}), ...(q ? { q } : {}) });
      const page = rows.slice(0, limit);
      return {
        data: page.map((m) => ({ user_id: m.userId, email: m.email, name: m.name, role: m.role, joined_at: m.joinedAt.toISOString() })),
        next_cursor: rows.length > limit ? page[page.length - 1]!.userId : null,
      };
    },
  );

  server.patch(
    '/v1/orgs/:org_id/members/:user_id',
    {
      preValidation: orgGuard('PATCH /v1/orgs/:org_id/members/:user_id'),
      schema: {
        tags: ['orgs'],
        summary: "Change a member's role (the last owner cannot be demoted)",
        security,
        params: memberParams,
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      await orgs.changeRole(request.org!, request.params.user_id, request.body.role, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.delete(
    '/v1/orgs/:org_id/members/:user_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/members/:user_id'),
      schema: { tags: ['orgs'], summary: 'Remove a member (not the last owner)', security, params: memberParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) } },
    },
    async (request, reply) => {
      await orgs.removeMember(request.org!, request.params.user_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/orgs/:org_id/leave',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/leave'),
      schema: { tags: ['orgs'], summary: 'Leave an organization (not as its last owner)', security, params: orgParams, response: { 204: Type.Null(), ...problems(401, 404, 409) } },
    },
    async (request, reply) => {
      await orgs.leave(request.org!, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/orgs/:org_id/transfer-ownership',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/transfer-ownership'),
      preHandler: guards.requireRecentAuth,
      schema: {
        tags: ['orgs'],
        summary: 'Make another member the owner; the current owner becomes an admin',
        security,
        params: orgParams,
        body: Type.Object({ user_id: UserId }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await orgs.transferOwnership(request.org!, request.body.user_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  const CheckPermission = Type.Object({ permission: Type.String({ minLength: 1, maxLength: 64 }), user_id: Type.Optional(UserId) }, { additionalProperties: false });
  const checkPermission = async (request: FastifyRequest): Promise<{ allowed: boolean }> => {
    const { permission, user_id: userId } = request.body as Static<typeof CheckPermission>;
    const ctx = request.org!;
    if (!isPermission(permission)) throw orgErrors.unknown_permission(`${JSON.stringify(permission)} is not a permission; see GET /v1/permissions`);
    if (userId && userId !== ctx.userId && !ctx.permissions.includes('members:read')) {
      throw orgErrors.permission_denied('Checking another member needs members:read');
    }
    return { allowed: await orgs.can(ctx, permission, userId) };
  };
  const checkSummary = 'Whether I (an API key: whether it has the scope; another member: needs members:read) hold a permission here';
  server.post(
    '/v1/orgs/:org_id/check-permission',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/check-permission'),
      schema: { tags: ['orgs'], summary: checkSummary, security, params: orgParams, body: CheckPermission, response: { 200: Type.Object({ allowed: Type.Boolean() }), ...problems(400, 401, 403, 404, 422, 429) } },
    },
    checkPermission,
  );
  server.post(
    '/v1/org/check-permission',
    {
      preValidation: orgGuard('POST /v1/org/check-permission'),
      schema: { tags: ['orgs'], summary: `${checkSummary}; the organization as for GET /v1/org`, security, body: CheckPermission, response: { 200: Type.Object({ allowed: Type.Boolean() }), ...problems(400, 401, 403, 404, 422, 429) } },
    },
    checkPermission,
  );

}
