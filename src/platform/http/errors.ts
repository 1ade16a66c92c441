/**
 * One error type for the whole server. A module keeps its catalogue of codes in
 * `<name>.errors.ts` built with `defineErrors`; routes and services throw `AppError`s; the one
 * handler in `problem.ts` renders them as application/problem+json (RFC 9457).
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    /** Stable snake_case code clients can switch on. */
    readonly code: string,
    readonly status: number,
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

export type ErrorFactory = (detail?: string, data?: Record<string, unknown>, headers?: Record<string, string>) => AppError;

/** Builds a module's catalogue: `const errors = defineErrors({ last_owner: { status: 409, title: '…' } })`. */
export function defineErrors<const C extends Record<string, ErrorSpec>>(catalogue: C): { [K in keyof C]: ErrorFactory } {
  const factories = {} as { [K in keyof C]: ErrorFactory };
  for (const code of Object.keys(catalogue) as (keyof C & string)[]) {
    const spec = catalogue[code]!;
    registerTitle(code, spec.title);
    factories[code] = (detail, data, headers) => new AppError(code, spec.status, detail ?? spec.title, data, headers);
  }
  return factories;
}

const titles = new Map<string, string>();
function registerTitle(code: string, title: string): void {
  titles.set(code, title);
}
/** The short, occurrence-independent title for a code (the problem's `title`). */
export function titleFor(code: string, status: number): string {
  return titles.get(code) ?? STATUS_TITLES[status] ?? 'Error';
}

/** `assertThat(user, errors.not_found('No such user'))`: throws the error unless condition holds. */
export function assertThat(condition: unknown, error: AppError | (() => AppError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  423: 'Locked',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

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
  conflict: { status: 409, title: 'Conflicts with the current state' },
  payload_too_large: { status: 413, title: 'The body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
});
