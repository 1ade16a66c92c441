import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import type { Guards } from '../../platform/http/auth.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { OrgGuard, OrgRouteKey } from './orgs.guard.js';
import { ChangeRole, Member, memberBody, MemberParams, MemberSearch, OrgParams, TransferOwnership, UserId } from './orgs.schema.js';
import type { OrgsService } from './orgs.service.js';

/** The members of an organization (org-scoped, behind the org guard, listed in ORG_ROUTES): list, change a role, remove, leave, transfer ownership. */
export function memberRoutes(server: HttpServer, deps: { orgs: OrgsService; guards: Guards; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { orgs, guards, orgGuard } = deps;
  const security = [{ bearer: [] }];

  server.get(
    '/v1/orgs/:org_id/members',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/members'),
      schema: {
        tags: ['orgs'],
        summary: 'Members, ordered by user id (the cursor is the last user id of a page); `q` searches email and name',
        security,
        params: OrgParams,
        querystring: Type.Object({ ...pageQuery({ cursor: UserId }), q: Type.Optional(MemberSearch) }, { additionalProperties: false }),
        response: { 200: Page(Member), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { limit, cursor, q } = request.query as { limit: number; cursor?: string; q?: string };
      return paginate(limit, (take) => orgs.members(request.org!, { limit: take, ...(cursor ? { after: cursor } : {}), ...(q ? { q } : {}) }), (m) => m.userId, memberBody);
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
        params: MemberParams,
        body: ChangeRole,
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
      schema: { tags: ['orgs'], summary: 'Remove a member (not the last owner)', security, params: MemberParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) } },
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
      schema: { tags: ['orgs'], summary: 'Leave an organization (not as its last owner)', security, params: OrgParams, response: { 204: Type.Null(), ...problems(401, 404, 409) } },
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
        params: OrgParams,
        body: TransferOwnership,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await orgs.transferOwnership(request.org!, request.body.user_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
