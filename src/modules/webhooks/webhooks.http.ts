import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { assertSafeTarget, guardedLookup, type OutboundPolicy } from '../../platform/delivery/index.js';

/*
 * Webhook deliveries over HTTP. The URL is a customer's choice, so every POST goes through the
 * shared outbound guard (`platform/delivery/outbound.ts`): forbidden IP literals refused before any
 * connection, names resolved and checked on every connection (DNS rebinding), redirects never
 * followed.
 */

export interface PostResult {
  status: number;
  /** The first KiB of the body. */
  body: string;
  latencyMs: number;
}

const BODY_KEPT = 1024;
/** After this much of an answer, the connection is closed: the status is known, the rest is not kept. */
const BODY_READ_LIMIT = 64 * 1024;

/**
 * POSTs `body` and reads at most a little of the answer. Never follows redirects (a 3xx is a
 * failure like any non-2xx). IP literals are checked here, names in `guardedLookup`.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, options: OutboundPolicy & { timeoutMs: number }): Promise<PostResult> {
  const target = new URL(url);
  assertSafeTarget(target, options);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const started = performance.now();
  const signal = AbortSignal.timeout(options.timeoutMs);
  return new Promise<PostResult>((resolve, reject) => {
    // An aborted request fails with "The operation was aborted": say what happened instead.
    const fail = (error: unknown): void => reject(signal.aborted ? new Error(`timed out: no answer within ${options.timeoutMs / 1000} s`) : error);
    const req = request(
      target,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Tessera-Webhooks/1', ...headers },
        lookup: guardedLookup(options),
        signal,
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          if (read < BODY_KEPT) chunks.push(chunk);
          read += chunk.length;
          // Enough read: the rest of a large (or endless) answer is not worth the time.
          if (read >= BODY_READ_LIMIT) response.destroy();
        });
        const finish = (): void =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, BODY_KEPT).toString('utf8'), latencyMs: Math.round(performance.now() - started) });
        response.on('end', finish);
        response.on('close', finish);
        response.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}
