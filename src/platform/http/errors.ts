/**
 * One error type for the whole server. Every code is defined once, with its status and title, in a
 * catalogue built with `defineErrors` in a `*.errors.ts` file (this file holds the codes every route
 * may answer with). A module that means the same thing as another reuses that definition (spread it
 * into its catalogue) instead of defining the code again; `test/architecture/errors.test.ts` walks
 * every catalogue and fails on a code with two definitions. Routes and services throw the
 * `AppError`s these factories make; the one handler in `problem.ts` renders them as
 * application/problem+json (RFC 9457). An error carries its own title: nothing is looked up by code.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    /** Stable snake_case code clients can switch on. */
    readonly code: string,
    readonly status: number,
    /** Short, occurrence-independent summary of the code (the problem's `title`). */
    readonly title: string,
    /** Human-readable explanation of this occurrence; never holds secrets. */
    readonly detail: string,
    /** Extra members of the problem document (e.g. `errors`, `retry_after`). */
    readonly data?: Record<string, unknown>,
    /** Response headers to set with the problem (e.g. Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

export interface ErrorSpec {
  status: number;
  title: string;
}

/** Makes the error of one code; `detail` defaults to the title. Carries its definition. */
export interface ErrorFactory extends ErrorSpec {
  (detail?: string, data?: Record<string, unknown>, headers?: Record<string, string>): AppError;
  readonly code: string;
}

/** Every definition made in this process, by code: a second, different one is a programming error. */
const defined = new Map<string, ErrorFactory>();

/** The definitions made so far (the catalogue test reads them after importing every catalogue). */
export function definedErrors(): ReadonlyMap<string, ErrorFactory> {
  return defined;
}

/**
 * Builds a module's catalogue: `export const orgErrors = defineErrors({ last_owner: { status: 409, title: '…' } })`.
 * Throws when a code already has a definition (reuse that one instead).
 */
export function defineErrors<const C extends Record<string, ErrorSpec>>(catalogue: C): { [K in keyof C]: ErrorFactory } {
  const factories = {} as Record<string, ErrorFactory>;
  for (const [code, spec] of Object.entries(catalogue)) {
    const earlier = defined.get(code);
    if (earlier) {
      throw new Error(`error code ${code} is defined twice (${earlier.status} "${earlier.title}" and ${spec.status} "${spec.title}"): reuse the first definition`);
    }
    const factory = Object.assign(
      (detail?: string, data?: Record<string, unknown>, headers?: Record<string, string>) => new AppError(code, spec.status, spec.title, detail ?? spec.title, data, headers),
      { code, status: spec.status, title: spec.title },
    ) as ErrorFactory;
    defined.set(code, factory);
    factories[code] = factory;
  }
  return factories as { [K in keyof C]: ErrorFactory };
}

/** Errors every route may answer with; module catalogues add their own. */
export const httpErrors = defineErrors({
  validation_failed: { status: 400, title: 'The request does not match its schema' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  invalid_token: { status: 401, title: 'The access token is invalid or expired' },
  forbidden: { status: 403, title: 'Not allowed' },
  csrf_failed: { status: 403, title: 'Missing or wrong CSRF token' },
  reauthentication_required: { status: 403, title: 'This operation needs a recent sign-in' },
  mfa_enrollment_required: { status: 403, title: 'Enrol a second factor first' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed on this resource' },
  not_acceptable: { status: 406, title: 'None of the accepted media types can be produced' },
  request_timeout: { status: 408, title: 'The request took too long to arrive' },
  conflict: { status: 409, title: 'Conflicts with the current state' },
  payload_too_large: { status: 413, title: 'The body is too large' },
  uri_too_long: { status: 414, title: 'The request URI is too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  unprocessable: { status: 422, title: 'The request cannot be processed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  pages_not_built: { status: 503, title: 'The hosted pages are not built' },
});

/** The generic code of an HTTP status (errors raised by the framework rather than by our code). */
export function errorForStatus(status: number): ErrorFactory {
  const byStatus: Record<number, ErrorFactory> = {
    400: httpErrors.bad_request, 401: httpErrors.unauthorized, 403: httpErrors.forbidden, 404: httpErrors.not_found,
    405: httpErrors.method_not_allowed, 406: httpErrors.not_acceptable, 408: httpErrors.request_timeout, 409: httpErrors.conflict,
    413: httpErrors.payload_too_large, 414: httpErrors.uri_too_long, 415: httpErrors.unsupported_media_type,
    422: httpErrors.unprocessable, 429: httpErrors.rate_limited, 431: httpErrors.headers_too_large, 503: httpErrors.service_unavailable,
  };
  return byStatus[status] ?? (status >= 500 ? httpErrors.internal_error : httpErrors.bad_request);
}
