import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Guards } from '../../platform/http/auth.js';
import { clientOf } from '../../platform/http/client.js';
import { Nullable, problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { InteractionService, SignedIn } from './oidc.interactions.service.js';
import type { OidcProvider } from './oidc.provider.js';

/**
 * The OpenID provider's own endpoints, answered by oidc-provider (it reads the request body itself,
 * so this scope parses none and hands the raw request over): discovery, `/oauth/…`. They speak
 * OAuth's error format, not problem+json.
 */
export async function oidcProviderRoutes(server: HttpServer, deps: { provider: OidcProvider }): Promise<void> {
  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      await deps.provider.handle(request.raw, reply.raw);
    };
    for (const url of ['/.well-known/openid-configuration', '/oauth/*']) {
      scope.route({ method: ['GET', 'HEAD', 'POST', 'OPTIONS', 'DELETE'], url, schema: { hide: true }, handler });
    }
  });
}

const Uid = Type.Object({ uid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });

const Interaction = Type.Object({
  uid: Type.String(),
  prompt: Type.Union([Type.Literal('select_account'), Type.Literal('login'), Type.Literal('consent')], { description: 'The step the request is at' }),
  reasons: Type.Array(Type.String(), { description: "oidc-provider's reasons for the step (no_session, login_prompt, max_age, op_scopes_missing, …)" }),
  client: Type.Object({ client_id: Type.String(), name: Type.String(), first_party: Type.Boolean() }),
  scopes: Type.Array(Type.String(), { description: 'OpenID Connect scopes asked for (not yet granted, at the consent step)' }),
  resources: Type.Array(
    Type.Object({
      indicator: Type.String(),
      name: Type.String(),
      scopes: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
    }),
    { description: 'API resource scopes asked for and not yet granted' },
  ),
  organization: Nullable(Type.String({ description: 'The organization_id of the request: an organization id, or `select` (the person chooses one)' })),
  login_hint: Nullable(Type.String()),
  ui_locales: Nullable(Type.String()),
  sign_in_after: Nullable(Type.String({ format: 'date-time', description: 'Only a sign-in after this counts (prompt=login, max_age)' })),
});

const Next = Type.Object({ redirect_to: Type.String({ description: 'Where the browser goes next (back into the provider, then to the application)' }) });

/**
 * What the hosted page `/authorize/{uid}` calls to carry out an authorization's steps. Reading the
 * request needs only the browser's interaction cookie; finishing a step needs the person's session
 * (cookie and CSRF token, like every other call of the hosted pages).
 */
export function interactionRoutes(server: HttpServer, deps: { interactions: InteractionService; guards: Guards }): void {
  const { interactions, guards } = deps;
  const tags = ['oidc'];
  const who = (request: { auth: { userId: string; sessionId: string | null; claims: Record<string, unknown> } | null }): SignedIn => ({
    userId: request.auth!.userId,
    sessionId: request.auth!.sessionId!,
    amr: Array.isArray(request.auth!.claims.amr) ? (request.auth!.claims.amr as string[]) : [],
  });

  server.get(
    '/v1/oidc/interactions/:uid',
    { config: { rateLimit: 'auth' }, schema: { tags, summary: 'An authorization request waiting for this browser: its step, application and scopes', params: Uid, response: { 200: Interaction, ...problems(400, 404) } } },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return interactions.details(request.raw, reply.raw, request.params.uid);
    },
  );

  server.post(
    '/v1/oidc/interactions/:uid/login',
    {
      config: { rateLimit: 'auth' },
      preValidation: guards.authenticate,
      schema: {
        tags, summary: 'Continue the authorization as the signed-in person, at its login or select_account step (403 fresh_sign_in_required when the application asks for a newer sign-in)',
        params: Uid, response: { 200: Next, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => ({ redirect_to: (await interactions.login(request.raw, reply.raw, request.params.uid, who(request))).redirectTo }),
  );

  server.post(
    '/v1/oidc/interactions/:uid/consent',
    {
      config: { rateLimit: 'auth' },
      preValidation: guards.authenticate,
      schema: {
        tags, summary: 'Grant the application the scopes it asked for (and, when it asked, the chosen organization)',
        params: Uid,
        body: Type.Object({ organization_id: Type.Optional(Type.String({ pattern: '^org_[A-Za-z0-9]+$' })) }, { additionalProperties: false }),
        response: { 200: Next, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const input = request.body.organization_id ? { organizationId: request.body.organization_id } : {};
      const { redirectTo } = await interactions.consent(request.raw, reply.raw, request.params.uid, who(request), input, clientOf(request));
      return { redirect_to: redirectTo };
    },
  );

  server.post(
    '/v1/oidc/interactions/:uid/abort',
    {
      config: { rateLimit: 'auth' },
      schema: { tags, summary: 'Decline the request: the application gets access_denied', params: Uid, response: { 200: Next, ...problems(400, 404) } },
    },
    async (request, reply) => ({ redirect_to: (await interactions.abort(request.raw, reply.raw, request.params.uid)).redirectTo }),
  );
}
