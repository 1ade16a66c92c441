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
import { installProblemHandlers, sendProblem, toAppError } from './problem.js';
import { httpErrors } from './errors.js';
import { CLIENT_REQUEST_ID_HEADER, clientRequestIdOf, newRequestId } from './request-id.js';
import { refuseDefectiveStrings, tightenFormats } from './input.js';

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
  /**
   * Whether a 500 names the class of the error (and the SQLSTATE of a database error) in its
   * detail, for development. Never the message: it may hold a query and its bound values.
   */
  exposeInternals: boolean;
}

/**
 * Fastify with the house defaults: the server's own request id on every request (a client's
 * X-Request-Id is only kept beside it, see request-id.ts) echoed in the response and in every log
 * line, problem+json for every error, JSON bodies only (415 for any other type unless a route's
 * scope adds a parser for it), request strings and timestamps checked for every route (input.ts),
 * security headers, CORS only for configured origins, a body limit, and OpenAPI 3.1 generated
 * from the route schemas.
 */
export async function createHttpServer(options: HttpOptions): Promise<HttpServer> {
  const server = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    genReqId: newRequestId,
    requestIdHeader: false,
    // Errors of the router (a path that is not percent-encoded UTF-8, an overlong parameter) answer
    // problem+json like every other refusal, instead of Fastify's own JSON.
    frameworkErrors(error, request, reply) {
      reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
      const clientRequestId = clientRequestIdOf(request.raw);
      if (clientRequestId) reply.header(CLIENT_REQUEST_ID_HEADER, clientRequestId);
      const appError =
        error.code === 'FST_ERR_BAD_URL'
          ? httpErrors.validation_failed('The path is not valid percent-encoded UTF-8', { errors: [{ path: 'params', message: 'is not valid percent-encoded UTF-8' }] })
          : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? httpErrors.uri_too_long('A path parameter is too long')
            : toAppError(error, false);
      if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
      void sendProblem(request, reply, appError);
    },
    childLoggerFactory(logger, bindings, childOptions, rawRequest) {
      const clientRequestId = clientRequestIdOf(rawRequest);
      return logger.child(clientRequestId ? { ...bindings, client_request_id: clientRequestId } : bindings, childOptions);
    },
    bodyLimit: options.bodyLimitBytes,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    // Our own hook below answers during shutdown, as problem+json like every other error.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: true },
      onCreate: tightenFormats,
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only. Fastify also parses text/plain, a type a browser may send cross-site without a
  // preflight (a form with enctype="text/plain"): such a body answers 415 before any schema sees it.
  // Routes that document another type (provider callbacks, one-click unsubscribe) add their
  // parsers in their own scope.
  server.removeContentTypeParser('text/plain');

  let closing = false;
  server.addHook('preClose', async () => {
    closing = true;
  });
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const clientRequestId = clientRequestIdOf(request.raw);
    if (clientRequestId) reply.header(CLIENT_REQUEST_ID_HEADER, clientRequestId);
    if (closing) {
      reply.header('connection', 'close');
      throw httpErrors.service_unavailable('The server is shutting down; retry on another instance');
    }
  });
  // First of its kind, so it runs before every route's own preValidation (guards included).
  server.addHook('preValidation', refuseDefectiveStrings);
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
    exposedHeaders: ['x-request-id', CLIENT_REQUEST_ID_HEADER, 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
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
