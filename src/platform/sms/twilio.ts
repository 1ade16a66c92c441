import { DeliveryError, permanentHttpStatus } from '../delivery/index.js';
import type { SmsProvider } from './sms.js';

/*
 * SMS through Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource):
 *   POST {apiUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic AccountSid:AuthToken,
 *   form-encoded To, From (or MessagingServiceSid for an `MG…` sender), Body, StatusCallback
 *   → 201 JSON {sid: 'SM…', status, price, price_unit, …}.
 * Errors come as JSON {code, message, more_info, status}. Delivery outcomes arrive later at
 * StatusCallback (`/v1/hooks/twilio`), signed with the auth token.
 */

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** An E.164 number, or a messaging service SID (`MG…`). */
  from: string;
  /** `https://api.twilio.com`, or a local server speaking the same format (tests). */
  apiUrl: string;
  /** Where Twilio posts the message's status changes (`${PUBLIC_URL}/v1/hooks/twilio`); none: no callbacks. */
  statusCallbackUrl?: string | null;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

interface TwilioMessage {
  sid?: unknown;
  status?: unknown;
  price?: unknown;
  price_unit?: unknown;
}

interface TwilioError {
  code?: unknown;
  message?: unknown;
}

/**
 * Whether Twilio's refusal is about the message (permanent: an invalid or unsubscribed number,
 * 21211, 21610, 21614…) or about the account or the service (transient: the circuit opens and
 * the messages wait): 401/403 are a wrong or suspended account, not a bad message.
 */
export function twilioPermanent(status: number): boolean {
  return status !== 401 && status !== 403 && permanentHttpStatus(status);
}

/** Twilio reports prices as negative amounts (money leaving the account): the cost is its absolute value. */
function costOf(answer: TwilioMessage): { amount: string; currency: string } | null {
  const price = typeof answer.price === 'string' ? answer.price : typeof answer.price === 'number' ? String(answer.price) : null;
  if (!price || !/^-?\d+(\.\d+)?$/.test(price) || typeof answer.price_unit !== 'string') return null;
  return { amount: price.replace(/^-/, ''), currency: answer.price_unit.toUpperCase() };
}

function unreachable(error: unknown): DeliveryError {
  const cause = (error as { cause?: { code?: string } }).cause;
  const why = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? (error instanceof Error ? error.message : String(error)));
  return new DeliveryError(`could not reach Twilio (${why})`, { permanent: false, cause: error });
}

export function createTwilioSmsProvider(options: TwilioOptions): SmsProvider {
  const url = `${options.apiUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const sender: [string, string] = /^MG[0-9a-f]{32}$/i.test(options.from) ? ['MessagingServiceSid', options.from] : ['From', options.from];

  return {
    kind: 'twilio',
    async send(message) {
      const form = new URLSearchParams([['To', message.to], sender, ['Body', message.text]]);
      if (options.statusCallbackUrl) form.set('StatusCallback', options.statusCallbackUrl);
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': 'tessera' },
          body: form.toString(),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw unreachable(error);
      }
      const text = await response.text().catch(() => '');
      let answer: (TwilioMessage & TwilioError) | null = null;
      try {
        answer = JSON.parse(text) as TwilioMessage & TwilioError;
      } catch {
        answer = null;
      }
      if (response.ok) {
        return { providerMessageId: typeof answer?.sid === 'string' ? answer.sid : null, cost: answer ? costOf(answer) : null };
      }
      const code = typeof answer?.code === 'number' || typeof answer?.code === 'string' ? `, error ${answer.code}` : '';
      const detail = typeof answer?.message === 'string' ? `: ${answer.message.slice(0, 300)}` : '';
      throw new DeliveryError(`Twilio refused the message (${response.status}${code})${detail}`, { permanent: twilioPermanent(response.status), status: response.status });
    },
  };
}
