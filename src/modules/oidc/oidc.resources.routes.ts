import { Type } from '@sinclair/typebox';
import type { Guards } from '../../platform/http/auth.js';
import { clientOf } from '../../platform/http/client.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import { CreateResourceBody, Resource, ResourceId, ResourceParams, resourceBody, UpdateResourceBody } from './oidc.resources.schema.js';
import type { ResourcesService } from './oidc.resources.service.js';

/** API resources (RFC 8707) and their scopes: platform admins only. */
export function resourceRoutes(server: HttpServer, deps: { resources: ResourcesService; guards: Guards }): void {
  const { resources, guards } = deps;
  const base = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;
  const tags = ['applications'];
  const security = [{ bearer: [] }];
  const actorOf = (request: { auth?: { userId: string } | null }) => ({ id: request.auth!.userId });
  const scopesOf = (scopes: { name: string; description?: string }[]) => scopes.map((scope) => ({ name: scope.name, description: scope.description ?? '' }));

  server.post(
    '/v1/admin/resources',
    {
      ...base,
      schema: { tags, security, summary: 'Define an API resource and its scopes', body: CreateResourceBody, response: { 201: Resource, ...problems(400, 401, 403, 409, 422) } },
    },
    async (request, reply) => {
      const { indicator, name, scopes } = request.body;
      const resource = await resources.create({ indicator, name, scopes: scopesOf(scopes ?? []) }, actorOf(request), clientOf(request));
      return reply.code(201).send(resourceBody(resource));
    },
  );

  server.get(
    '/v1/admin/resources',
    {
      ...base,
      schema: {
        tags, security, summary: 'The API resources, newest first',
        querystring: Type.Object(pageQuery({ cursor: ResourceId }), { additionalProperties: false }),
        response: { 200: Page(Resource), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query as { limit: number; cursor?: string };
      return paginate(limit, (take) => resources.list({ limit: take, ...(cursor ? { before: cursor } : {}) }), (resource) => resource.id, resourceBody);
    },
  );

  server.get(
    '/v1/admin/resources/:resource_id',
    { ...base, schema: { tags, security, summary: 'One API resource', params: ResourceParams, response: { 200: Resource, ...problems(400, 401, 403, 404) } } },
    async (request) => resourceBody(await resources.get(request.params.resource_id)),
  );

  server.patch(
    '/v1/admin/resources/:resource_id',
    {
      ...base,
      schema: {
        tags, security, params: ResourceParams, body: UpdateResourceBody,
        summary: "Rename a resource or replace its scopes (applications lose the grants of removed scopes); the indicator never changes",
        response: { 200: Resource, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { name, scopes } = request.body;
      const changes = { ...(name !== undefined ? { name } : {}), ...(scopes ? { scopes: scopesOf(scopes) } : {}) };
      return resourceBody(await resources.update(request.params.resource_id, changes, actorOf(request), clientOf(request)));
    },
  );

  server.delete(
    '/v1/admin/resources/:resource_id',
    { ...base, schema: { tags, security, summary: 'Delete an API resource (and every grant of it)', params: ResourceParams, response: { 204: Type.Null(), ...problems(400, 401, 403, 404) } } },
    async (request, reply) => {
      await resources.remove(request.params.resource_id, actorOf(request), clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
