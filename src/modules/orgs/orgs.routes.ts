import type { FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import type { Guards } from '../../platform/http/auth.js';
import { wholeList, Page } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import { orgErrors } from './orgs.errors.js';
import { installOrgRouteTable, type OrgGuard, type OrgRouteKey } from './orgs.guard.js';
import { BUILT_IN_ROLES, PERMISSIONS, PERMISSION_NAMES, isPermission } from './orgs.permissions.js';
import { Allowed, CheckPermission, CreateOrg, Org, OrgParams, orgBody, PermissionCatalogue, UpdateOrg } from './orgs.schema.js';
import type { OrgsService } from './orgs.service.js';
import type { Tiers } from './orgs.tiers.js';

/**
 * Organizations themselves: the permission catalogue, creating and listing one's organizations, and
 * the org-scoped routes about the organization (read, rename, delete, check a permission). Installs
 * the org route table first: call before any other org-scoped routes.
 */
export function orgRoutes(server: HttpServer, deps: { orgs: OrgsService; guards: Guards; tiers: Tiers; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { orgs, guards, tiers, orgGuard } = deps;
  const security = [{ bearer: [] }];
  installOrgRouteTable(server);

  server.get(
    '/v1/permissions',
    {
      preValidation: guards.authenticate,
      schema: { tags: ['orgs'], summary: 'The permission catalogue and the built-in roles', security, response: { 200: PermissionCatalogue, ...problems(401) } },
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
      schema: { tags: ['orgs'], summary: 'Create an organization; the creator becomes its owner', security, body: CreateOrg, response: { 201: Org, ...problems(400, 401, 409, 422) } },
    },
    async (request, reply) => reply.code(201).send(orgBody(await orgs.create({ id: request.auth!.userId }, request.body, clientOf(request)), 'owner')),
  );

  server.get(
    '/v1/orgs',
    { preValidation: guards.authenticate, schema: { tags: ['orgs'], summary: 'My organizations, oldest first', security, response: { 200: Page(Org), ...problems(401) } } },
    async (request) => wholeList(await orgs.listMine(request.auth!.userId), ({ org, role }) => orgBody(org, role)),
  );

  const readOrg = async (request: FastifyRequest): Promise<Static<typeof Org>> => {
    const { org, role } = request.org!;
    return { ...orgBody(org, role), limits: tiers.limitsFor(org.tier) };
  };
  server.get(
    '/v1/orgs/:org_id',
    { preValidation: orgGuard('GET /v1/orgs/:org_id'), schema: { tags: ['orgs'], summary: 'An organization', security, params: OrgParams, response: { 200: Org, ...problems(401, 403, 404, 429) } } },
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
      schema: { tags: ['orgs'], summary: 'Rename an organization or change its slug', security, params: OrgParams, body: UpdateOrg, response: { 200: Org, ...problems(400, 401, 403, 404, 409, 422) } },
    },
    async (request) => orgBody(await orgs.update(request.org!, request.body, clientOf(request)), request.org!.role),
  );

  server.delete(
    '/v1/orgs/:org_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id'),
      preHandler: guards.requireRecentAuth,
      schema: { tags: ['orgs'], summary: 'Delete an organization (owner, with a recent sign-in)', security, params: OrgParams, response: { 204: Type.Null(), ...problems(401, 403, 404) } },
    },
    async (request, reply) => {
      await orgs.remove(request.org!, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  const checkPermission = async (request: FastifyRequest): Promise<Static<typeof Allowed>> => {
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
      schema: { tags: ['orgs'], summary: checkSummary, security, params: OrgParams, body: CheckPermission, response: { 200: Allowed, ...problems(400, 401, 403, 404, 422, 429) } },
    },
    checkPermission,
  );
  server.post(
    '/v1/org/check-permission',
    {
      preValidation: orgGuard('POST /v1/org/check-permission'),
      schema: { tags: ['orgs'], summary: `${checkSummary}; the organization as for GET /v1/org`, security, body: CheckPermission, response: { 200: Allowed, ...problems(400, 401, 403, 404, 422, 429) } },
    },
    checkPermission,
  );
}
