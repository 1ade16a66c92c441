import { clientOf } from '../../platform/http/client.js';
import type { FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems } from '../../platform/http/schemas.js';
import { accountErrors, MfaRequired, Tokens, type AccountsService, type IssuedTokens, type MfaChallenge } from '../accounts/index.js';
import type { PasskeyService } from './passkeys.service.js';
import {
  CreationOptions, Passkey, PasskeyOptionsBody, PasskeyOptionsReply, PasskeyParams, PasskeyVerifyBody, RegisterBody, RenameBody, passkeyBody,
} from './passkeys.schema.js';

export interface PasskeyRoutesDeps {
  passkeys: PasskeyService;
  accounts: AccountsService;
  guards: Guards;
  /** How sign-ins answer (`accountRoutes(...).tokensReply`): tokens, or cookies with use_cookie. */
  tokensReply: (reply: FastifyReply, issued: IssuedTokens | MfaChallenge, useCookie: boolean | undefined) => unknown;
}

const AUTH = { rateLimit: 'auth' } as const;

/**
 * A passkey verified with user verification (PIN, biometric) is something you have plus something
 * you know or are: two factors. Without it, possession only.
 */
export function passkeyAmr(userVerified: boolean): string[] {
  return userVerified ? ['hwk', 'user', 'mfa'] : ['hwk'];
}

export function passkeyRoutes(server: HttpServer, deps: PasskeyRoutesDeps): void {
  const { passkeys, accounts, guards } = deps;
  // Enrolling a passkey is one way out of `mfa_enrollment_required`, so these stay open then.
  const secured = { preValidation: guards.authenticate, config: { duringMfaEnrollment: true } };
  const security = [{ bearer: [] }];

  async function currentUser(userId: string) {
    const user = await accounts.getUser(userId);
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
        response: { 200: Type.Object({ data: Type.Array(Passkey), next_cursor: Type.Null() }), ...problems(401) },
      },
    },
    async (request) => ({ data: (await passkeys.list(request.auth!.userId)).map(passkeyBody), next_cursor: null }),
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
        description: 'Without email: any passkey of this site (discoverable). With email: that account\'s passkeys; an unknown address answers the same way.',
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
      const client = clientOf(request);
      const assertion = await passkeys.verifyAuthentication(request.body.challenge_id, request.body.response, client);
      const user = await accounts.getUser(assertion.userId);
      if (!user) throw accountErrors.invalid_credentials('The account no longer exists');
      // With user verification the passkey is two factors; without, one, and a second factor the
      // account has is still asked for (the same gate as a password sign-in).
      const result = assertion.userVerified
        ? await accounts.signIn(user, passkeyAmr(true), client, 'auth.login_passkey')
        : await accounts.signInFirstFactor(user, passkeyAmr(false), client, 'auth.login_passkey');
      return deps.tokensReply(reply, result, request.body.use_cookie) as Static<typeof Tokens> | Static<typeof MfaRequired>;
    },
  );
}
