import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems, Timestamp, Nullable } from '../../platform/http/schemas.js';
import { clientOf, type AccountsService } from '../accounts/index.js';
import { orgErrors } from './orgs.errors.js';
import { httpErrors } from '../../platform/http/errors.js';
import { BUILT_IN_ROLES, PERMISSIONS, PERMISSION_NAMES, type Permission } from './orgs.permissions.js';
import type { OrgContext, OrgsService } from './orgs.service.js';
import type { OrgRow } from './orgs.queries.js';
import type { Tiers } from './orgs.tiers.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The organization of an org-scoped request and the caller's role in it (set by the org guard). */
    org: OrgContext | null;
  }
}

/**
 * Every org-scoped route, with the permission it needs (null: any member). The org guard reads it,
 * app start refuses an org-scoped route missing from it, and the cross-tenant test calls each one.
 */
export const ORG_ROUTES = [
  { method: 'GET', url: '/v1/orgs/:org_id', permission: 'org:read' },
  { method: 'PATCH', url: '/v1/orgs/:org_id', permission: 'org:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id', permission: 'org:delete' },
  { method: 'GET', url: '/v1/orgs/:org_id/members', permission: 'members:read' },
  { method: 'PATCH', url: '/v1/orgs/:org_id/members/:user_id', permission: 'members:write' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/members/:user_id', permission: 'members:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/leave', permission: null },
  { method: 'POST', url: '/v1/orgs/:org_id/transfer-ownership', permission: 'org:transfer' },
  { method: 'POST', url: '/v1/orgs/:org_id/check-permission', permission: null },
  { method: 'POST', url: '/v1/orgs/:org_id/invitations', permission: 'members:write' },
  { method: 'GET', url: '/v1/orgs/:org_id/invitations', permission: 'members:read' },
  { method: 'DELETE', url: '/v1/orgs/:org_id/invitations/:invitation_id', permission: 'members:write' },
  { method: 'POST', url: '/v1/orgs/:org_id/invitations/:invitation_id/resend', permission: 'members:write' },
] as const satisfies readonly { method: string; url: string; permission: Permission | null }[];

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
export const Role = Type.Union(Object.keys(BUILT_IN_ROLES).map((role) => Type.Literal(role)));

export function orgBody(org: OrgRow, role: string): Static<typeof Org> {
  return { id: org.id, slug: org.slug, name: org.name, tier: org.tier, role, created_at: org.createdAt.toISOString(), updated_at: org.updatedAt.toISOString() };
}

/** Authenticates, resolves the organization from the path, and checks the caller's permission there (per ORG_ROUTES). */
export function createOrgGuard(deps: { orgs: OrgsService; guards: Guards }): (key: OrgRouteKey) => (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const { orgs, guards } = deps;
  return function orgGuard(key) {
    const route = ORG_ROUTES.find((r) => `${r.method} ${r.url}` === key)!;
    return async (request, reply) => {
      await guards.authenticate(request, reply);
      const orgId = (request.params as { org_id?: string }).org_id ?? '';
      const membership = /^org_[0-9a-z]{26}$/.test(orgId) ? await orgs.membership(orgId, request.auth!.userId) : null;
      // Not a member and no such organization answer alike: ids of other tenants reveal nothing.
      if (!membership) throw orgErrors.org_not_found();
      if (route.permission && !membership.permissions.includes(route.permission)) {
        throw orgErrors.permission_denied(`The ${membership.role} role lacks ${route.permission}`, { permission: route.permission });
      }
      request.org = membership;
    };
  };
}

export function orgRoutes(server: HttpServer, deps: { orgs: OrgsService; accounts: AccountsService; guards: Guards; tiers: Tiers }): void {
  const { orgs, accounts, guards, tiers } = deps;
  const security = [{ bearer: [] }];
  server.decorateRequest('org', null);

  // An org-scoped route that is not in the table would skip the table-driven checks and tests.
  const known = new Set(ORG_ROUTES.map((route) => `${route.method} ${route.url}`));
  server.addHook('onRoute', (route) => {
    // Org-scoped: under /v1/orgs/:org_id. Platform routes about an organization (/v1/admin/orgs/:org_id) are not.
    if (!route.url.startsWith('/v1/orgs/') || !route.url.includes(':org_id')) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD' && !known.has(`${method} ${route.url}`)) throw new Error(`org-scoped route ${method} ${route.url} is missing from ORG_ROUTES`);
    }
  });

  const orgGuard = createOrgGuard({ orgs, guards });

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

  server.get(
    '/v1/orgs/:org_id',
    { preValidation: orgGuard('GET /v1/orgs/:org_id'), schema: { tags: ['orgs'], summary: 'An organization', security, params: orgParams, response: { 200: Org, ...problems(401, 403, 404) } } },
    async (request) => {
      const { org } = request.org as OrgContext & { org: OrgRow };
      return { ...orgBody(org, request.org!.role), limits: tiers.limitsFor(org.tier) };
    },
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

  server.post(
    '/v1/orgs/:org_id/check-permission',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/check-permission'),
      schema: {
        tags: ['orgs'],
        summary: 'Whether I (or another member: needs members:read) hold a permission here',
        security,
        params: orgParams,
        body: Type.Object({ permission: Type.String({ minLength: 1, maxLength: 64 }), user_id: Type.Optional(UserId) }, { additionalProperties: false }),
        response: { 200: Type.Object({ allowed: Type.Boolean() }), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { permission, user_id: userId } = request.body;
      if (!(PERMISSION_NAMES as string[]).includes(permission)) throw orgErrors.unknown_permission(`${JSON.stringify(permission)} is not a permission; see GET /v1/permissions`);
      if (userId && userId !== request.org!.userId && !request.org!.permissions.includes('members:read')) {
        throw orgErrors.permission_denied('Checking another member needs members:read');
      }
      return { allowed: await orgs.can(request.org!, permission as Permission, userId) };
    },
  );
}
