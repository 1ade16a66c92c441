import { clientOf } from '../../platform/http/client.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { ACCEPTED, Accepted, problems } from '../../platform/http/schemas.js';
import type { AccountsService } from './accounts.service.js';
import type { SessionService } from './accounts.sessions.js';
import { accountErrors } from './accounts.errors.js';
import { ChangeEmailBody, ChangePasswordBody, ProfileBody, Session, SessionParams, User, sessionBody, userBody } from './accounts.schema.js';

export function meRoutes(
  server: HttpServer,
  deps: { accounts: AccountsService; sessions: SessionService; guards: Guards; refreshIdleTimeoutSeconds: number },
): void {
  const { accounts, sessions, guards } = deps;
  const secured = { preValidation: guards.authenticate };
  /** Changing the password or the address needs a recent sign-in or step-up (POST /v1/auth/reauthenticate). */
  const stepUp = { preValidation: guards.requireRecentAuth };
  const security = [{ bearer: [] }];

  server.get(
    '/v1/me',
    { ...secured, config: { duringMfaEnrollment: true }, schema: { tags: ['me'], summary: 'The signed-in user', security, response: { 200: User, ...problems(401) } } },
    async (request) => {
      const user = await accounts.getUser(request.auth!.userId);
      if (!user) throw accountErrors.invalid_credentials('The account no longer exists');
      return userBody(user);
    },
  );

  server.patch(
    '/v1/me',
    {
      ...secured,
      schema: { tags: ['me'], summary: 'Update name, locale (BCP 47) or time zone (IANA)', security, body: ProfileBody, response: { 200: User, ...problems(400, 401, 403, 422) } },
    },
    async (request) => userBody(await accounts.updateProfile(request.auth!.userId, request.body, clientOf(request))),
  );

  server.post(
    '/v1/me/password',
    {
      ...stepUp,
      schema: {
        tags: ['me'],
        summary: 'Change the password; ends the other sessions',
        security,
        body: ChangePasswordBody,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const auth = request.auth!;
      await accounts.changePassword(auth.userId, auth.sessionId, { currentPassword: request.body.current_password, newPassword: request.body.new_password }, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/me/email',
    {
      ...stepUp,
      schema: {
        tags: ['me'],
        summary: 'Change the email address: a link and code go to the new address, confirmed at /v1/auth/verify-email',
        security,
        body: ChangeEmailBody,
        response: { 202: Accepted, ...problems(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      await accounts.requestEmailChange(request.auth!.userId, { newEmail: request.body.new_email, password: request.body.password }, clientOf(request));
      return reply.code(202).send(ACCEPTED);
    },
  );

  server.get(
    '/v1/me/sessions',
    {
      ...secured,
      schema: {
        tags: ['me'],
        summary: 'Live sessions of the signed-in user, newest first',
        security,
        response: { 200: Page(Session), ...problems(401) },
      },
    },
    async (request) => {
      const auth = request.auth!;
      return wholeList(await sessions.list(auth.userId), (row) => sessionBody(row, auth.sessionId, deps.refreshIdleTimeoutSeconds));
    },
  );

  server.delete(
    '/v1/me/sessions/:id',
    {
      ...secured,
      schema: { tags: ['me'], summary: 'End one of my sessions', security, params: SessionParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      const auth = request.auth!;
      const revoked = await sessions.revoke(request.params.id, 'revoked_by_user', { type: 'user', id: auth.userId }, clientOf(request), { userId: auth.userId });
      if (!revoked) throw accountErrors.session_not_found();
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/me/sessions/revoke-others',
    {
      ...secured,
      schema: { tags: ['me'], summary: 'End every session but this one', security, response: { 204: Type.Null(), ...problems(401, 403) } },
    },
    async (request, reply) => {
      const auth = request.auth!;
      await sessions.revokeAll(auth.userId, 'revoked_by_user', { client: clientOf(request), exceptSessionId: auth.sessionId });
      return reply.code(204).send(null);
    },
  );
}
