import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import type { Guards } from '../../platform/http/auth.js';
import { Page, pageQuery, paginate, wholeList } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { OrgGuard, OrgRouteKey } from './orgs.guard.js';
import {
  AcceptedInvitation, AcceptInvitation, CreateInvitation, Invitation, invitationBody, InvitationId, InvitationParams, orgBody, OrgParams, ReceivedInvitation,
  receivedInvitationBody, ReceivedInvitationParams,
} from './orgs.schema.js';
import type { InvitationsService } from './orgs.invitations.service.js';

/**
 * Invitations: the org-scoped routes (behind the org guard, listed in ORG_ROUTES); the preview and
 * accept routes, which are not org-scoped (the token names the organization); and the invitee's own
 * invitations under /v1/me, found by the caller's verified address.
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

  server.post(
    '/v1/invitations/preview',
    {
      schema: {
        tags: ['orgs'],
        summary: 'What an invitation link offers, before anyone signs in: the organization, the role, the invited address, the inviter, the expiry',
        description:
          'Public: the token is the credential. An unknown, used, revoked or expired token answers 400 `invitation_invalid`, as accepting it would. Reads only: the token stays usable. Says nothing about whether the address has an account.',
        body: AcceptInvitation,
        response: { 200: ReceivedInvitation, ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      // The invited address and the organization, to the holder of a link: not for shared caches.
      reply.header('cache-control', 'no-store');
      return receivedInvitationBody(await invitations.preview(request.body.token));
    },
  );

  server.get(
    '/v1/me/invitations',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['me'],
        summary: 'Pending invitations addressed to my verified email address, across organizations, oldest first (the cursor is the last invitation id of a page)',
        description: 'Neither accepted, revoked nor expired. None while the address is unverified.',
        security,
        querystring: Type.Object(pageQuery({ cursor: InvitationId }), { additionalProperties: false }),
        response: { 200: Page(ReceivedInvitation), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query as { limit: number; cursor?: string };
      return paginate(limit, (take) => invitations.received(request.auth!.userId, { limit: take, ...(cursor ? { after: cursor } : {}) }), (view) => view.id, receivedInvitationBody);
    },
  );

  server.post(
    '/v1/me/invitations/:invitation_id/accept',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['me'],
        summary: 'Accept one of my pending invitations: join the organization with its role (as POST /v1/invitations/accept)',
        description:
          'Only an invitation GET /v1/me/invitations lists: any other id (another address\'s, accepted, revoked, expired, unknown) answers 404 `invitation_not_found`. 409 `already_member`; 403 `tier_limit_reached` when the organization is full.',
        security,
        params: ReceivedInvitationParams,
        response: { 200: AcceptedInvitation, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { org, role } = await invitations.acceptReceived(request.auth!.userId, request.params.invitation_id, clientOf(request));
      return { org: orgBody(org, role), role };
    },
  );

  server.post(
    '/v1/me/invitations/:invitation_id/decline',
    {
      preValidation: guards.authenticate,
      schema: {
        tags: ['me'],
        summary: 'Decline one of my pending invitations: its link stops working',
        description:
          'The invitation ends as revoked by the invitee (audited as `invitation.declined`; the organization\'s webhooks get `invitation.revoked` with `reason: "declined"`). Any id GET /v1/me/invitations does not list answers 404 `invitation_not_found`.',
        security,
        params: ReceivedInvitationParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await invitations.declineReceived(request.auth!.userId, request.params.invitation_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
