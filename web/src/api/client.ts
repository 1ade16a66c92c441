import createClient from 'openapi-fetch';
import type { paths } from './schema';

/** The CSRF token of the cookie session (the readable `tessera_csrf` cookie), or null. */
export function csrfToken(): string | null {
  const entry = document.cookie.split('; ').find((part) => part.startsWith('tessera_csrf='));
  return entry ? decodeURIComponent(entry.slice('tessera_csrf='.length)) : null;
}

/** Whether this browser holds a session (the CSRF cookie outlives the short access cookie). */
export const hasSession = (): boolean => csrfToken() !== null;

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
let refreshing: Promise<boolean> | null = null;

/** One refresh at a time, however many calls found their access cookie expired together. */
function refreshOnce(): Promise<boolean> {
  refreshing ??= (async () => {
    const token = csrfToken();
    if (!token) return false;
    const response = await fetch('/v1/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ use_cookie: true }),
    });
    return response.ok;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/**
 * Fetch for the pages: same-origin cookies, the CSRF header on every state change, and once per
 * call a refresh of the session (cookie mode) when the access cookie has expired, then the call again.
 */
async function sessionFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const withCsrf = (req: Request): Request => {
    const token = csrfToken();
    if (token && !SAFE.has(req.method)) req.headers.set('x-csrf-token', token);
    return req;
  };
  const response = await fetch(withCsrf(request));
  const path = new URL(request.url).pathname;
  if (response.status !== 401 || !hasSession() || path === '/v1/auth/refresh') return response;
  // Only an expired or missing access cookie; a refused password (invalid_credentials) is final.
  const code = await response.clone().json().then((body: { code?: string }) => body.code, () => undefined);
  if (code !== 'invalid_token' && code !== 'unauthorized') return response;
  if (!(await refreshOnce())) return response;
  return fetch(withCsrf(retry));
}

/** The one API client of every page: typed from the server's OpenAPI document. */
export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin', fetch: sessionFetch });

/** A problem+json answer of the API (RFC 9457), with Tessera's `code` and optional field errors. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

/** An API call that failed: its problem, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
  get code(): string {
    return this.problem.code ?? (this.problem.status === 0 ? 'network_error' : 'unknown');
  }
  get status(): number {
    return this.problem.status;
  }
}

/**
 * The data of an openapi-fetch result, or throws ApiError with its problem. A fetch that failed
 * (offline, server down) becomes a problem with status 0, so every page can say so and offer a retry.
 */
export async function call<T>(promise: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await promise;
  } catch {
    throw new ApiError({ title: 'Network error', status: 0, code: 'network_error' });
  }
  if (result.response.ok) return result.data as T;
  const error = result.error;
  const problem: Problem =
    error && typeof error === 'object' && 'title' in error
      ? (error as Problem)
      : { title: result.response.statusText || 'Error', status: result.response.status };
  if (!problem.status) problem.status = result.response.status;
  // Timed refusals (423, 429) carry `retry_after` in the problem itself.
  throw new ApiError(problem);
}
