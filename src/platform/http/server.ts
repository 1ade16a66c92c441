import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { installProblemHandlers } from './problem.js';
import { httpErrors } from './errors.js';
import { requestIdFrom } from './request-id.js';

/** The server every module registers its routes on: Fastify with TypeBox schemas as types. */
export type HttpServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpOptions {
  logger: Logger;
  bodyLimitBytes: number;
  trustedProxies: readonly string[];
  corsOrigins: readonly string[];
  publicUrl: string;
  version: string;
  exposeInternals: boolean;
}

/**
 * Fastify with the house defaults: request ids (kept from X-Request-Id when sane) echoed in the
 * response and in every log line, problem+json for every error, security headers, CORS only for
 * configured origins, a body limit, and OpenAPI 3.1 generated from the route schemas.
 */
export async function createHttpServer(options: HttpOptions): Promise<HttpServer> {
  const server = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    genReqId: requestIdFrom,
    requestIdHeader: false,
    bodyLimit: options.bodyLimitBytes,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Our own hook below answers during shutdown, as problem+json like every other error.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: true },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  let closing = false;
  server.addHook('preClose', async () => {
    closing = true;
  });
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      throw httpErrors.service_unavailable('The server is shutting down; retry on another instance');
    }
  });
  installProblemHandlers(server, { exposeInternals: options.exposeInternals });

  await server.register(helmet, {
    // The API answers JSON; the docs page needs its own scripts and styles (swagger-ui sets its CSP).
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  await server.register(cookie);
  await server.register(cors, {
    origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
    credentials: true,
    exposedHeaders: ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
  });
  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tessera API', version: options.version, description: 'Identity and tenancy platform.' },
      servers: [{ url: options.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Access token, or (on organization routes) an API key' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'API key of the organization (tsk_live_…)' },
        },
      },
    },
  });
  await server.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { deepLinking: true } });
  server.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());
  return server;
}
