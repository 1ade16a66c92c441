import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems, Timestamp, Nullable } from '../../platform/http/schemas.js';

import { Org, OrgId, orgBody, Role, type OrgRouteKey } from './orgs.routes.js';
import type { InvitationRow, InvitationsService } from './orgs.invitations.service.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

const InvitationId = Type.String({ pattern: '^inv_[0-9a-z]{26}$' });
const Invitation = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  invited_by: Nullable(Type.String()),
  created_at: Timestamp,
  expires_at: Timestamp,
});

function invitationBody(row: InvitationRow): Static<typeof Invitation> {
  return { id: row.id, email: row.email, role: row.role, invited_by: row.invitedBy, created_at: row.createdAt.toISOString(), expires_at: row.expiresAt.toISOString() };
}

/**
 * Invitations: the org-scoped routes (behind the org guard, listed in ORG_ROUTES) and the accept
 * route, which is not org-scoped: the token names the organization.
 */
export function invitationRoutes(
  server: HttpServer,
  deps: { invitations: InvitationsService; guards: Guards; orgGuard: (key: OrgRouteKey) => (request: FastifyRequest, reply: FastifyReply) => Promise<void> },
): void {
  const { invitations, guards, orgGuard } = deps;
  const security = [{ bearer: [] }];
  const orgParams = Type.Object({ org_id: OrgId });
  const invitationParams = Type.Object({ org_id: OrgId, invitation_id: InvitationId });

  server.post(
    '/v1/orgs/:org_id/invitations',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/invitations'),
      schema: {
        tags: ['orgs'],
        summary: 'Invite an email address with a role (only an owner invites an owner); mails a one-time link',
        security,
        params: orgParams,
        body: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }), role: Role }, { additionalProperties: false }),
        response: { 201: Invitation, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(invitationBody(await invitations.invite(request.org!, request.body, clientOf(request)))),
  );

  server.get(
    '/v1/orgs/:org_id/invitations',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/invitations'),
      schema: {
        tags: ['orgs'],
        summary: 'Pending invitations (neither accepted, revoked nor expired), oldest first',
        security,
        params: orgParams,
        response: { 200: Type.Object({ data: Type.Array(Invitation), next_cursor: Type.Null() }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ({ data: (await invitations.pending(request.org!)).map(invitationBody), next_cursor: null }),
  );

  server.delete(
    '/v1/orgs/:org_id/invitations/:invitation_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/invitations/:invitation_id'),
      schema: { tags: ['orgs'], summary: 'Revoke an invitation: its link stops working', security, params: invitationParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      await invitations.revoke(request.org!, request.params.invitation_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/orgs/:org_id/invitations/:invitation_id/resend',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/invitations/:invitation_id/resend'),
      schema: {
        tags: ['orgs'],
        summary: 'Mail an invitation again with a new link and a new expiry; the previous link stops working',
        security,
        params: invitationParams,
        response: { 200: Invitation, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => invitationBody(await invitations.resend(request.org!, request.params.invitation_id, clientOf(request))),
  );

  server.post(
    '/v1/invitations/accept',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['orgs'],
        summary: 'Accept an invitation as the signed-in user (same, verified email address): join the organization with its role',
        security,
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ org: Org, role: Type.String() }), ...problems(400, 401, 403, 409) },
      },
    },
    async (request) => {
      const { org, role } = await invitations.accept(request.auth!.userId, request.body.token, clientOf(request));
      return { org: orgBody(org, role), role };
    },
  );
}
