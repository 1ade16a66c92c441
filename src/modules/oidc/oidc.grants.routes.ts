import { Type } from '@sinclair/typebox';
import type { Guards } from '../../platform/http/auth.js';
import { clientOf } from '../../platform/http/client.js';
import { problems } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';
import type { ConnectedApps } from './oidc.grants.service.js';

const ConnectedApp = Type.Object({
  client_id: Type.String(),
  name: Type.String(),
  first_party: Type.Boolean(),
  scopes: Type.Array(Type.String(), { description: 'OpenID Connect scopes granted' }),
  resources: Type.Array(Type.Object({ indicator: Type.String(), scopes: Type.Array(Type.String()) }), { description: 'API resource scopes granted' }),
  granted_at: Type.String({ format: 'date-time' }),
});

/** The account center's "Connected apps": what each application holds, and taking it back. */
export function connectedAppRoutes(server: HttpServer, deps: { connectedApps: ConnectedApps; guards: Guards }): void {
  const { connectedApps, guards } = deps;
  const tags = ['me'];
  const security = [{ bearer: [] }];
  server.get(
    '/v1/me/applications',
    { preValidation: guards.authenticate, schema: { tags, security, summary: 'Applications I signed in to through Tessera, with what they were granted', response: { 200: Type.Object({ data: Type.Array(ConnectedApp) }), ...problems(401) } } },
    async (request) => ({
      data: (await connectedApps.list(request.auth!.userId)).map((app) => ({
        client_id: app.clientId, name: app.name, first_party: app.firstParty, scopes: app.scopes, resources: app.resources, granted_at: app.grantedAt.toISOString(),
      })),
    }),
  );
  server.delete(
    '/v1/me/applications/:client_id',
    {
      preValidation: guards.authenticate,
      schema: {
        tags, security, summary: 'Take back what an application was granted: its codes and tokens stop working at once',
        params: Type.Object({ client_id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(401, 404) },
      },
    },
    async (request, reply) => {
      await connectedApps.revoke(request.auth!.userId, request.params.client_id, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
