import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';

import { BUILT_IN_ROLES } from './orgs.permissions.js';
import { OrgId, type OrgGuard, type OrgRouteKey } from './orgs.routes.js';
import type { RoleRow, RolesService } from './orgs.roles.service.js';

const RoleId = Type.String({ pattern: '^rol_[0-9a-z]{26}$' });
const RoleBody = Type.Object({
  id: Type.String({ description: 'A built-in role\'s name, or a custom role\'s id: what members\' `role` holds' }),
  name: Type.String(),
  description: Nullable(Type.String()),
  permissions: Type.Array(Type.String()),
  built_in: Type.Boolean(),
  created_at: Nullable(Timestamp),
  updated_at: Nullable(Timestamp),
});
const RoleName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
const Description = Nullable(Type.String({ maxLength: 500 }));
const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64, uniqueItems: true });

function roleBody(row: RoleRow): Static<typeof RoleBody> {
  return {
    id: row.id, name: row.name, description: row.description, permissions: row.permissions, built_in: false,
    created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString(),
  };
}

const builtIns: Static<typeof RoleBody>[] = Object.entries(BUILT_IN_ROLES).map(([name, role]) => ({
  id: name, name, description: role.description, permissions: [...role.permissions], built_in: true, created_at: null, updated_at: null,
}));

/** Custom roles of an organization (org-scoped, behind the org guard, listed in ORG_ROUTES). */
export function roleRoutes(server: HttpServer, deps: { roles: RolesService; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { roles, orgGuard } = deps;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
  const orgParams = Type.Object({ org_id: OrgId });
  const roleParams = Type.Object({ org_id: OrgId, role_id: RoleId });

  server.get(
    '/v1/orgs/:org_id/roles',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/roles'),
      schema: {
        tags: ['orgs'], summary: 'The built-in roles, then the custom ones (oldest first)', security, params: orgParams,
        response: { 200: Type.Object({ data: Type.Array(RoleBody), next_cursor: Type.Null() }), ...problems(401, 403, 404, 429) },
      },
    },
    async (request) => ({ data: [...builtIns, ...(await roles.list(request.org!)).map(roleBody)], next_cursor: null }),
  );

  server.post(
    '/v1/orgs/:org_id/roles',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/roles'),
      schema: {
        tags: ['orgs'],
        summary: 'Create a custom role (only with permissions you hold; org:delete and org:transfer stay with owners)',
        security,
        params: orgParams,
        body: Type.Object({ name: RoleName, description: Type.Optional(Description), permissions: Permissions }, { additionalProperties: false }),
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
        params: roleParams,
        body: Type.Object({ name: Type.Optional(RoleName), description: Type.Optional(Description), permissions: Type.Optional(Permissions) }, { additionalProperties: false, minProperties: 1 }),
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
        params: roleParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      await roles.remove(request.org!, request.params.role_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
