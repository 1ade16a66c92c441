import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { OrgGuard, OrgRouteKey } from './orgs.guard.js';
import { BUILT_IN_ROLE_BODIES, CreateRole, OrgParams, RoleBody, roleBody, RoleParams, UpdateRole } from './orgs.schema.js';
import type { RolesService } from './orgs.roles.service.js';

/** Custom roles of an organization (org-scoped, behind the org guard, listed in ORG_ROUTES). */
export function roleRoutes(server: HttpServer, deps: { roles: RolesService; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { roles, orgGuard } = deps;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

  server.get(
    '/v1/orgs/:org_id/roles',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/roles'),
      schema: {
        tags: ['orgs'], summary: 'The built-in roles, then the custom ones (oldest first)', security, params: OrgParams,
        response: { 200: Page(RoleBody), ...problems(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const custom = wholeList(await roles.list(request.org!), roleBody);
      return { ...custom, data: [...BUILT_IN_ROLE_BODIES, ...custom.data] };
    },
  );

  server.post(
    '/v1/orgs/:org_id/roles',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/roles'),
      schema: {
        tags: ['orgs'],
        summary: 'Create a custom role (only with permissions you hold; org:delete and org:transfer stay with owners)',
        security,
        params: OrgParams,
        body: CreateRole,
        response: { 201: RoleBody, ...problems(400, 401, 403, 404, 409, 422, 429) },
      },
    },
    async (request, reply) => reply.code(201).send(roleBody(await roles.create(request.org!, request.body, clientOf(request)))),
  );

  server.patch(
    '/v1/orgs/:org_id/roles/:role_id',
    {
      preValidation: orgGuard('PATCH /v1/orgs/:org_id/roles/:role_id'),
      schema: {
        tags: ['orgs'],
        summary: 'Rename a custom role or change its permissions (members holding it change with it)',
        security,
        params: RoleParams,
        body: UpdateRole,
        response: { 200: RoleBody, ...problems(400, 401, 403, 404, 409, 422, 429) },
      },
    },
    async (request) => roleBody(await roles.update(request.org!, request.params.role_id, request.body, clientOf(request))),
  );

  server.delete(
    '/v1/orgs/:org_id/roles/:role_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/roles/:role_id'),
      schema: {
        tags: ['orgs'],
        summary: 'Delete a custom role; 409 role_in_use (with the counts) while members hold it or pending invitations grant it',
        security,
        params: RoleParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      await roles.remove(request.org!, request.params.role_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
