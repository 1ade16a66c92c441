import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { safeEqual } from '../crypto/tokens.js';
import type { AppError } from '../http/errors.js';
import { httpErrors } from '../http/errors.js';
import { PROBLEM_CONTENT_TYPE, problemType } from '../http/problem.js';
import type { Metrics } from './metrics.js';

/**
 * Who may read metrics. The API port serves `/metrics` only when METRICS_TOKEN is set, and then
 * only to that bearer token; METRICS_LISTEN adds a listener of its own on a loopback address (for a
 * scraper on the same host), which asks for the token too when one is set.
 */

/** Whether `authorization` carries the metrics token as a bearer token (constant-time comparison). */
export function metricsTokenMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/.exec(authorization ?? '');
  return match !== null && safeEqual(match[1]!, token);
}

export interface MetricsListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function sendProblem(res: ServerResponse, error: AppError): void {
  const body = JSON.stringify({ type: problemType(error.code), title: error.title, status: error.status, detail: error.detail, code: error.code });
  res.writeHead(error.status, { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...error.headers });
  res.end(body);
}

/** Starts the loopback metrics listener (`GET /metrics` and nothing else). */
export async function startMetricsListener(options: { metrics: Metrics; host: string; port: number; token?: string; logger: Logger }): Promise<MetricsListener> {
  const { metrics, token, logger } = options;
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return sendProblem(res, httpErrors.not_found(`No route for ${req.method ?? 'GET'} ${path}; metrics are at /metrics`));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendProblem(res, httpErrors.method_not_allowed(`${req.method} is not allowed here; allowed: GET, HEAD`, undefined, { allow: 'GET, HEAD' }));
    }
    if (token !== undefined && !metricsTokenMatches(req.headers.authorization, token)) {
      return sendProblem(res, httpErrors.unauthorized('Send Authorization: Bearer <METRICS_TOKEN>', undefined, { 'www-authenticate': 'Bearer' }));
    }
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : text);
  }
  const server = createServer((req, res) => {
    // Request bodies are not read: nothing here takes one.
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'metrics listener: request failed');
      if (!res.headersSent) sendProblem(res, httpErrors.internal_error('An unexpected error occurred; it has been logged'));
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  logger.info({ host: address.address, port: address.port }, 'metrics listener started');
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
