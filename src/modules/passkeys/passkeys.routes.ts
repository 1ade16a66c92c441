import { clientOf } from '../../platform/http/client.js';
import { Page, wholeList } from '../../platform/http/pagination.js';
import type { FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems } from '../../platform/http/schemas.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { accountErrors, MfaRequired, Tokens, type SignInResult, type UserDirectory } from '../accounts/index.js';
import type { CredentialResponse, PasskeyService } from './passkeys.service.js';
import {
  CreationOptions, Passkey, PasskeyOptionsBody, PasskeyOptionsReply, PasskeyParams, PasskeyVerifyBody, RegisterBody, RenameBody, passkeyBody,
} from './passkeys.schema.js';

/** The sign-in these routes start (composed in app/sign-in.ts: the assertion, a second factor when due, the session). */
export interface PasskeySignInRoutes {
  passkey(challengeId: string, response: CredentialResponse, client: ClientInfo): Promise<SignInResult>;
}

export interface PasskeyRoutesDeps {
  passkeys: PasskeyService;
  users: Pick<UserDirectory, 'byId'>;
  signIn: PasskeySignInRoutes;
  guards: Guards;
  /** How sign-ins answer (`accountRoutes(...).tokensReply`): tokens, or cookies with use_cookie. */
  tokensReply: (reply: FastifyReply, issued: SignInResult, useCookie: boolean | undefined) => unknown;
}

const AUTH = { rateLimit: 'auth' } as const;

export function passkeyRoutes(server: HttpServer, deps: PasskeyRoutesDeps): void {
  const { passkeys, users, signIn, guards } = deps;
  // Enrolling a passkey is one way out of `mfa_enrollment_required`, so these stay open then.
  const secured = { preValidation: guards.authenticate, config: { duringMfaEnrollment: true } };
  const security = [{ bearer: [] }];

  async function currentUser(userId: string) {
    const user = await users.byId(userId);
    if (!user) throw accountErrors.invalid_credentials('The account no longer exists');
    return user;
  }

  server.post(
    '/v1/me/passkeys/options',
    {
      ...secured,
      schema: {
        tags: ['passkeys'],
        summary: 'Start adding a passkey: options for navigator.credentials.create (valid 5 minutes)',
        security,
        response: { 200: CreationOptions, ...problems(401, 403) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return passkeys.registrationOptions(await currentUser(request.auth!.userId));
    },
  );

  server.post(
    '/v1/me/passkeys',
    {
      ...secured,
      schema: {
        tags: ['passkeys'],
        summary: 'Finish adding a passkey with the response of navigator.credentials.create',
        description: 'Without pending options: 400 challenge_invalid. A response that does not verify (origin, challenge, attestation): 400 passkey_registration_failed. A passkey already registered: 409.',
        security,
        body: RegisterBody,
        response: { 201: Passkey, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const user = await currentUser(request.auth!.userId);
      const row = await passkeys.register(user, request.body.response, request.body.name, clientOf(request));
      return reply.code(201).send(passkeyBody(row));
    },
  );

  server.get(
    '/v1/me/passkeys',
    {
      ...secured,
      schema: {
        tags: ['passkeys'],
        summary: 'My passkeys, oldest first',
        security,
        response: { 200: Page(Passkey), ...problems(401) },
      },
    },
    async (request) => wholeList(await passkeys.list(request.auth!.userId), passkeyBody),
  );

  server.patch(
    '/v1/me/passkeys/:id',
    {
      ...secured,
      schema: {
        tags: ['passkeys'],
        summary: 'Rename one of my passkeys',
        security,
        params: PasskeyParams,
        body: RenameBody,
        response: { 200: Passkey, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => passkeyBody(await passkeys.rename(request.auth!.userId, request.params.id, request.body.name, clientOf(request))),
  );

  server.delete(
    '/v1/me/passkeys/:id',
    {
      preValidation: guards.requireRecentAuth,
      config: { duringMfaEnrollment: true },
      schema: {
        tags: ['passkeys'],
        summary: 'Remove one of my passkeys (needs a recent sign-in or step-up)',
        security,
        params: PasskeyParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await passkeys.remove(request.auth!.userId, request.params.id, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/auth/passkey/options',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Start a sign-in with a passkey: options for navigator.credentials.get (valid 5 minutes, usable once)',
        description:
          'Discoverable credentials: the options name no credential (no allowCredentials), whatever the address. With email, only a passkey of that address\'s account will pass at verification; the answer is the same for every address, known or not.',
        body: PasskeyOptionsBody,
        response: { 200: PasskeyOptionsReply, ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      const { options, challengeId } = await passkeys.authenticationOptions({ email: request.body.email ?? null });
      reply.header('cache-control', 'no-store');
      return { options, challenge_id: challengeId };
    },
  );

  server.post(
    '/v1/auth/passkey/verify',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with the response of navigator.credentials.get',
        description: 'An unknown or used challenge_id: 400 challenge_invalid. A passkey that does not verify (unknown credential, signature, origin, counter gone backwards): 401 passkey_verification_failed.',
        body: PasskeyVerifyBody,
        response: { 200: Type.Union([Tokens, MfaRequired]), ...problems(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const result = await signIn.passkey(request.body.challenge_id, request.body.response, clientOf(request));
      return deps.tokensReply(reply, result, request.body.use_cookie) as Static<typeof Tokens> | Static<typeof MfaRequired>;
    },
  );
}
