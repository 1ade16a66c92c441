import { Type } from '@sinclair/typebox';
import type { Guards } from '../../platform/http/auth.js';
import { clientOf } from '../../platform/http/client.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import { OrgId } from '../orgs/index.js';
import {
  Application, ApplicationId, ApplicationParams, applicationBody, ApplicationWithSecret, CreateApplicationBody, Grants, GrantsBody, UpdateApplicationBody,
} from './oidc.applications.schema.js';
import type { ApplicationChanges, ApplicationsService } from './oidc.applications.service.js';

/** The applications (OAuth clients) of the OpenID provider: platform admins only. */
export function applicationRoutes(server: HttpServer, deps: { applications: ApplicationsService; guards: Guards }): void {
  const { applications, guards } = deps;
  const base = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;
  const tags = ['applications'];
  const security = [{ bearer: [] }];
  const actorOf = (request: { auth?: { userId: string } | null }) => ({ id: request.auth!.userId });

  server.post(
    '/v1/admin/applications',
    {
      ...base,
      schema: {
        tags, security,
        summary: 'Register an application; its client_secret (web, m2m) is in this answer and never again',
        body: CreateApplicationBody,
        response: { 201: ApplicationWithSecret, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const { application, secret } = await applications.create(
        {
          name: body.name, type: body.type,
          ...(body.redirect_uris ? { redirectUris: body.redirect_uris } : {}),
          ...(body.post_logout_redirect_uris ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
          ...(body.allowed_origins ? { allowedOrigins: body.allowed_origins } : {}),
          ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
          ...(body.first_party !== undefined ? { firstParty: body.first_party } : {}),
          ...(body.org_id !== undefined ? { orgId: body.org_id } : {}),
          ...(body.token_endpoint_auth_method ? { tokenEndpointAuthMethod: body.token_endpoint_auth_method } : {}),
        },
        actorOf(request), clientOf(request),
      );
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ ...applicationBody(application), ...(secret ? { client_secret: secret } : {}) });
    },
  );

  server.get(
    '/v1/admin/applications',
    {
      ...base,
      schema: {
        tags, security, summary: 'The applications, newest first (never their secrets)',
        querystring: Type.Object({ ...pageQuery({ cursor: ApplicationId }), org_id: Type.Optional(OrgId) }, { additionalProperties: false }),
        response: { 200: Page(Application), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor, org_id: orgId } = request.query as { limit: number; cursor?: string; org_id?: string };
      return paginate(limit, (take) => applications.list({ limit: take, ...(cursor ? { before: cursor } : {}), ...(orgId ? { orgId } : {}) }), (app) => app.id, applicationBody);
    },
  );

  server.get(
    '/v1/admin/applications/:app_id',
    { ...base, schema: { tags, security, summary: 'One application (never its secret)', params: ApplicationParams, response: { 200: Application, ...problems(400, 401, 403, 404) } } },
    async (request) => applicationBody(await applications.get(request.params.app_id)),
  );

  server.patch(
    '/v1/admin/applications/:app_id',
    {
      ...base,
      schema: {
        tags, security, summary: 'Change an application (its type and organization never change)', params: ApplicationParams, body: UpdateApplicationBody,
        response: { 200: Application, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const body = request.body;
      const changes: ApplicationChanges = {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.redirect_uris !== undefined ? { redirectUris: body.redirect_uris } : {}),
        ...(body.post_logout_redirect_uris !== undefined ? { postLogoutRedirectUris: body.post_logout_redirect_uris } : {}),
        ...(body.allowed_origins !== undefined ? { allowedOrigins: body.allowed_origins } : {}),
        ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
        ...(body.first_party !== undefined ? { firstParty: body.first_party } : {}),
        ...(body.token_endpoint_auth_method !== undefined ? { tokenEndpointAuthMethod: body.token_endpoint_auth_method } : {}),
      };
      return applicationBody(await applications.update(request.params.app_id, changes, actorOf(request), clientOf(request)));
    },
  );

  server.delete(
    '/v1/admin/applications/:app_id',
    { ...base, schema: { tags, security, summary: 'Delete an application and its grants', params: ApplicationParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } } },
    async (request, reply) => {
      await applications.remove(request.params.app_id, actorOf(request), clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/admin/applications/:app_id/secret',
    {
      ...base,
      schema: {
        tags, security, params: ApplicationParams,
        summary: 'A new client secret (shown once); the previous one keeps working until previous_secret_expires_at (APPLICATION_SECRET_OVERLAP_SECONDS)',
        response: { 200: ApplicationWithSecret, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { application, secret } = await applications.rotateSecret(request.params.app_id, actorOf(request), clientOf(request));
      reply.header('cache-control', 'no-store');
      return { ...applicationBody(application), client_secret: secret };
    },
  );

  server.get(
    '/v1/admin/applications/:app_id/grants',
    { ...base, schema: { tags, security, summary: "The application's resource scopes", params: ApplicationParams, response: { 200: Grants, ...problems(400, 401, 403, 404) } } },
    async (request) => ({ data: await applications.grants(request.params.app_id) }),
  );

  server.put(
    '/v1/admin/applications/:app_id/grants',
    {
      ...base,
      schema: {
        tags, security, params: ApplicationParams, body: GrantsBody,
        summary: "Replace the application's resource scopes ({resource: indicator, scopes}); an unknown resource or scope is refused and nothing changes",
        response: { 200: Grants, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => ({ data: (await applications.replaceGrants(request.params.app_id, request.body.grants, actorOf(request), clientOf(request))).grants }),
  );
}
