import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../events/index.js';

/** Who is asking, as services record it (audit entries, sessions, notices): never trusted for decisions. */
export interface ClientInfo extends RequestContext {
  ip: string | null;
  userAgent: string | null;
}

/** The client of a request: its address (after the trusted-proxy rules), user agent and the server's request id. */
export function clientOf(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: userAgent ? userAgent.slice(0, 512) : null, requestId: String(request.id) };
}

/** For work no request started (jobs, the CLI, start-up): no address, no agent. */
export const NO_CLIENT: ClientInfo = Object.freeze({ ip: null, userAgent: null });
