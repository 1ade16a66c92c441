import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Request ids. The id of a request (`request.id`, the `x-request-id` response header, `reqId` in
 * every log line, `request_id` of problems and audit entries) is always the server's own: a client
 * cannot choose what is recorded about its requests. A client's `X-Request-Id`, when short and
 * plain, is kept beside it, marked as the client's: logged as `client_request_id` and echoed in the
 * `x-client-request-id` response header, so a client can still correlate its own calls.
 */

/** The response header that echoes the client's own id. */
export const CLIENT_REQUEST_ID_HEADER = 'x-client-request-id';

/** A client id is kept only when it is short and plain (safe in a header and a log line). */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The server's id of a new request. */
export function newRequestId(): string {
  return randomUUID();
}

/** The client's X-Request-Id when sane, else null. Never used as the request's id. */
export function clientRequestIdOf(req: Pick<IncomingMessage, 'headers'>): string | null {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : null;
}
