import { createHmac } from 'node:crypto';
import { DeliveryError, permanentHttpStatus } from '../delivery/index.js';
import type { SmsProvider } from './sms.js';

/**
 * The generic HTTP SMS provider: the contract between Tessera and a gateway of your own
 * (`SMS_HTTP_URL`, `SMS_HTTP_SECRET`).
 *
 * **Request.** For each SMS Tessera sends
 * ```
 * POST <SMS_HTTP_URL>
 * Content-Type: application/json
 * Idempotency-Key: <id>
 * X-Tessera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(SMS_HTTP_SECRET, "<t>.<raw body>")>
 *
 * {"id": "com_01j…", "to": "+15555550123", "text": "Your code is 123456"}
 * ```
 * `id` is Tessera's id of the message; a retry of the same message carries the same `id` (and
 * `Idempotency-Key`), so the gateway can send it once. `to` is E.164.
 *
 * **Verifying.** Take the raw body bytes as received (before any JSON parsing), compute
 * HMAC-SHA256 with the secret over `<t>.<raw body>`, hex-encode it, and compare it with `v1` in
 * constant time; refuse a `t` more than 5 minutes from your clock (replays). During a secret
 * rotation the header may carry several `v1=` values: accept the request when any one matches.
 *
 * **Response.** Any 2xx accepts the message; a JSON body `{"id": "<your id>"}` is recorded as the
 * provider's message id. A 4xx refuses this message for good (an invalid number…), except 408,
 * 409, 425 and 429, and except 401/403 (the signature or the secret is wrong: a configuration
 * fault, not the message's), which like 5xx, timeouts (15 s) and connection failures make Tessera
 * try again later with backoff, behind a circuit breaker.
 */
export interface HttpSmsOptions {
  url: string;
  secret: string;
  /** Per request; default 15 s. */
  timeoutMs?: number;
  /** Clock for the signature's timestamp (tests). */
  now?: () => number;
}

/** The `X-Tessera-Signature` value for a body sent at `timestampSeconds`. */
export function smsHttpSignature(secret: string, body: string, timestampSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

function unreachable(error: unknown): DeliveryError {
  const cause = (error as { cause?: { code?: string } }).cause;
  const why = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? (error instanceof Error ? error.message : String(error)));
  return new DeliveryError(`could not reach the SMS gateway (${why})`, { permanent: false, cause: error });
}

export function createHttpSmsProvider(options: HttpSmsOptions): SmsProvider {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const now = options.now ?? Date.now;
  return {
    kind: 'http',
    async send(message) {
      const body = JSON.stringify({ id: message.id, to: message.to, text: message.text });
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'tessera',
            'idempotency-key': message.id,
            'x-tessera-signature': smsHttpSignature(options.secret, body, Math.floor(now() / 1000)),
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw unreachable(error);
      }
      const text = await response.text().catch(() => '');
      if (response.ok) {
        let id: unknown = null;
        try {
          id = (JSON.parse(text) as { id?: unknown } | null)?.id ?? null;
        } catch {
          id = null;
        }
        return { providerMessageId: typeof id === 'string' && id.length > 0 ? id.slice(0, 200) : null };
      }
      const permanent = response.status !== 401 && response.status !== 403 && permanentHttpStatus(response.status);
      throw new DeliveryError(`the SMS gateway refused the message (${response.status})`, { permanent, status: response.status });
    },
  };
}
