import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import type { Guards } from '../../platform/http/auth.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { OrgGuard, OrgRouteKey } from './orgs.guard.js';
import { AcceptedInvitation, AcceptInvitation, CreateInvitation, Invitation, invitationBody, InvitationParams, orgBody, OrgParams } from './orgs.schema.js';
import type { InvitationsService } from './orgs.invitations.service.js';

/**
 * Invitations: the org-scoped routes (behind the org guard, listed in ORG_ROUTES) and the accept
 * route, which is not org-scoped: the token names the organization.
 */
export function invitationRoutes(server: HttpServer, deps: { invitations: InvitationsService; guards: Guards; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { invitations, guards, orgGuard } = deps;
  const security = [{ bearer: [] }];

  server.post(
    '/v1/orgs/:org_id/invitations',
    {
      preValidation: orgGuard('POST /v1/orgs/:org_id/invitations'),
      schema: {
        tags: ['orgs'],
        summary: 'Invite an email address with a role (only an owner invites an owner); mails a one-time link',
        description:
          'One pending invitation per address: another answers 409 `invitation_pending` (resend it instead). An organization mails one address at most INVITATION_DAILY_LIMIT invitations (resends included) a day; more answer 429 `invitation_limit_reached` with `Retry-After`.',
        security,
        params: OrgParams,
        body: CreateInvitation,
        response: { 201: Invitation, ...problems(400, 401, 403, 404, 409, 422, 429) },
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
        params: OrgParams,
        response: { 200: Page(Invitation), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => wholeList(await invitations.pending(request.org!), invitationBody),
  );

  server.delete(
    '/v1/orgs/:org_id/invitations/:invitation_id',
    {
      preValidation: orgGuard('DELETE /v1/orgs/:org_id/invitations/:invitation_id'),
      schema: { tags: ['orgs'], summary: 'Revoke an invitation: its link stops working', security, params: InvitationParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } },
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
        description: 'Counts against INVITATION_DAILY_LIMIT like an invitation: past it, 429 `invitation_limit_reached` with `Retry-After`.',
        security,
        params: InvitationParams,
        response: { 200: Invitation, ...problems(400, 401, 403, 404, 429) },
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
        body: AcceptInvitation,
        response: { 200: AcceptedInvitation, ...problems(400, 401, 403, 409) },
      },
    },
    async (request) => {
      const { org, role } = await invitations.accept(request.auth!.userId, request.body.token, clientOf(request));
      return { org: orgBody(org, role), role };
    },
  );
}
