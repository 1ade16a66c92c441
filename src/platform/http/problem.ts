import { databaseErrorOf } from '../db/errors.js';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errorForStatus, httpErrors } from './errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  errors?: { path: string; message: string }[];
  [extra: string]: unknown;
}

export function problemType(code: string): string {
  return `urn:tessera:problem:${code}`;
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  const body: ProblemDocument = {
    ...error.data,
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    instance: request.url.split('?')[0],
    request_id: String(request.id),
  };
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `body` + `/user/email` → `body.user.email`; a missing property names itself. */
function validationErrors(context: string, errors: AjvError[]): { path: string; message: string }[] {
  return errors.map((error) => {
    const segments = error.instancePath.split('/').filter(Boolean);
    if (error.keyword === 'required' && typeof error.params.missingProperty === 'string') segments.push(error.params.missingProperty);
    if (error.keyword === 'additionalProperties' && typeof error.params.additionalProperty === 'string') {
      segments.push(error.params.additionalProperty);
      return { path: [context, ...segments].join('.'), message: 'is not allowed' };
    }
    if (error.keyword === 'format' && typeof error.params.format === 'string' && error.params.format in FORMAT_MESSAGES) {
      return { path: [context, ...segments].join('.'), message: FORMAT_MESSAGES[error.params.format]! };
    }
    return { path: [context, ...segments].join('.'), message: error.message ?? 'is invalid' };
  });
}

/** What the tightened formats (input.ts) accept, said in the refusal. */
const FORMAT_MESSAGES: Record<string, string> = {
  'date-time': 'must be an RFC 3339 date-time with a time zone (such as 2030-01-31T12:00:00Z) from year 0001 to 9999 UTC',
  date: 'must be a date YYYY-MM-DD from year 0001 to 9999',
};

/** Maps anything thrown to an AppError; unknown errors become a 500 with no internals. */
export function toAppError(error: unknown, exposeInternals: boolean): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fastifyError?.validation) {
    const errors = validationErrors(fastifyError.validationContext ?? 'body', fastifyError.validation);
    const detail = errors.map((e) => `${e.path} ${e.message}`).join('; ');
    return httpErrors.validation_failed(detail, { errors });
  }
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return httpErrors.unsupported_media_type(`Content-Type ${JSON.stringify(fastifyError.message.split(': ').pop() ?? '')} is not supported; send application/json`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return httpErrors.payload_too_large('The request body is larger than the server accepts');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return httpErrors.malformed_json('The body is empty but Content-Type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return httpErrors.malformed_json('The body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return httpErrors.bad_request('Content-Length does not match the body');
    default:
  }
  if (fastifyError instanceof SyntaxError && fastifyError.statusCode === 400) {
    return httpErrors.malformed_json('The body is not valid JSON');
  }
  const database = databaseErrorOf(error);
  if (database) {
    if (database.code === '23505') return httpErrors.conflict('A resource with the same unique value already exists');
    // Row-level security refused the row: to the caller it does not exist.
    if (database.code === '42501') return httpErrors.not_found('Not found');
  }
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return errorForStatus(status)(fastifyError.message);
  }
  return httpErrors.internal_error(unexpectedDetail(error, exposeInternals));
}

/**
 * The detail of a 500. Never the error's message, in any mode: a database error's message holds
 * the failed statement and its bound values (a password hash, an address). In development it names
 * the class of the error and, for a database error, its SQLSTATE: enough to find the log line.
 */
function unexpectedDetail(error: unknown, exposeInternals: boolean): string {
  const generic = 'An unexpected error occurred; it has been logged';
  if (!exposeInternals) return generic;
  const name = error instanceof Error ? error.constructor.name || error.name : typeof error;
  const safeName = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(name) ? name : 'Error';
  const database = databaseErrorOf(error);
  const what = database ? `${safeName}, SQLSTATE ${database.code}` : safeName;
  return `An unexpected error occurred (${what}); it has been logged with this request id`;
}

/**
 * Installs the error, not-found and method-not-allowed handlers. Routes are mirrored into a router
 * of our own so an unknown method on a known path answers 405 with `Allow`, not 404.
 */
export function installProblemHandlers(server: FastifyInstance, options: { exposeInternals: boolean }): void {
  const known = FindMyWay({ ignoreTrailingSlash: false, ignoreDuplicateSlashes: false });
  const methodsByPath = new Map<string, Set<string>>();
  server.addHook('onRoute', (route) => {
    // The CORS plugin's catch-all `OPTIONS *` says nothing about which paths exist.
    if (route.url === '*' || route.url === '/*') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!methodsByPath.has(route.url)) methodsByPath.set(route.url, new Set());
      const set = methodsByPath.get(route.url)!;
      if (set.has(method)) continue;
      set.add(method);
      known.on(method as HTTPMethod, route.url, () => undefined, { methods: set });
    }
  });

  server.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, options.exposeInternals);
    if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: appError.code, status: appError.status }, 'request refused');
    return sendProblem(request, reply, appError);
  });

  server.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = new Set<string>();
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const) {
      if (known.find(method, path)) allowed.add(method);
    }
    // A route of this method matched and found nothing (a missing static file): not found, not 405.
    if (allowed.has(request.method as 'GET')) return sendProblem(request, reply, httpErrors.not_found(`Nothing at ${path}`));
    if (allowed.size > 0) {
      if (allowed.has('GET')) allowed.add('HEAD');
      allowed.add('OPTIONS');
      const allow = [...allowed].sort().join(', ');
      return sendProblem(request, reply, httpErrors.method_not_allowed(`${request.method} is not allowed here; allowed: ${allow}`, undefined, { allow }));
    }
    return sendProblem(request, reply, httpErrors.not_found(`No route for ${request.method} ${path}`));
  });
}
