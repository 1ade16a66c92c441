import { DeliveryError, permanentHttpStatus } from '../delivery/index.js';
import type { MailTransport } from './mail.js';

/*
 * Email through Resend's HTTP API (https://resend.com/docs/api-reference/emails/send-email):
 *   POST {apiUrl}/emails, Authorization: Bearer <key>, Idempotency-Key: <our message id>,
 *   JSON {from, to: [to], subject, html, text, headers} → 200 {id}.
 * Errors come as {statusCode, message, name}. The idempotency key makes a retry after a lost
 * answer (timeout, connection reset) deliver once, not twice: Resend answers the first result again.
 */

export interface ResendOptions {
  apiKey: string;
  /** `https://api.resend.com`, or a local server speaking the same format (tests). */
  apiUrl: string;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

interface ResendError {
  statusCode?: number;
  message?: string;
  name?: string;
}

/** How often `verify()` (the health check) may call Resend: a probe every second must not become an API call every second. */
const VERIFY_INTERVAL_MS = 30_000;

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * Whether a refused request says something about the message (permanent: sending it again fails
 * the same way) or about the provider or our account with it (transient: the circuit opens and the
 * messages wait until it is fixed). 401/403 are the second kind: a revoked or wrong key, an
 * unverified sending domain; failing every message for good over them would lose mail.
 */
export function resendPermanent(status: number): boolean {
  return status !== 401 && status !== 403 && permanentHttpStatus(status);
}

/** A network failure, described without the URL's secrets (there are none here, but none of the body either). */
function unreachable(error: unknown): DeliveryError {
  const cause = (error as { cause?: { code?: string } }).cause;
  const why = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? (error instanceof Error ? error.message : String(error)));
  return new DeliveryError(`could not reach Resend (${why})`, { permanent: false, cause: error });
}

export function createResendTransport(options: ResendOptions): MailTransport {
  const base = options.apiUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 15_000;
  const authorization = `Bearer ${options.apiKey}`;
  let checked: { at: number; error: Error | null } | null = null;

  return {
    kind: 'resend',
    async deliver(mail) {
      const body = JSON.stringify({
        from: mail.from,
        to: [mail.to],
        subject: mail.subject,
        text: mail.text,
        ...(mail.html ? { html: mail.html } : {}),
        ...(mail.headers && Object.keys(mail.headers).length > 0 ? { headers: mail.headers } : {}),
      });
      let response: Response;
      try {
        response = await fetch(`${base}/emails`, {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/json',
            'user-agent': 'tessera',
            ...(mail.id ? { 'idempotency-key': mail.id } : {}),
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw unreachable(error);
      }
      const answer = (await readJson(response)) as ({ id?: unknown } & ResendError) | null;
      if (response.ok) return { providerMessageId: typeof answer?.id === 'string' ? answer.id : null };
      const name = typeof answer?.name === 'string' ? answer.name : 'error';
      const message = typeof answer?.message === 'string' ? `: ${answer.message.slice(0, 300)}` : '';
      throw new DeliveryError(`Resend refused the email (${response.status} ${name})${message}`, {
        permanent: resendPermanent(response.status),
        status: response.status,
      });
    },
    /**
     * Whether the API answers and takes the key: GET /domains, at most once per 30 s (the result,
     * good or bad, is kept that long). A sending-only key is refused there with
     * `restricted_api_key`, which still proves the key is valid; a 429 proves the API answers.
     */
    async verify() {
      if (checked && Date.now() - checked.at < VERIFY_INTERVAL_MS) {
        if (checked.error) throw checked.error;
        return;
      }
      let error: Error | null = null;
      try {
        const response = await fetch(`${base}/domains`, { headers: { authorization, 'user-agent': 'tessera' }, signal: AbortSignal.timeout(timeoutMs) });
        const answer = (await readJson(response)) as ResendError | null;
        if (!response.ok && response.status !== 429 && answer?.name !== 'restricted_api_key') {
          error = new Error(`Resend answered ${response.status} ${typeof answer?.name === 'string' ? answer.name : ''}`.trim());
        }
      } catch (cause) {
        error = unreachable(cause);
      }
      checked = { at: Date.now(), error };
      if (error) throw error;
    },
    async close() {},
  };
}
