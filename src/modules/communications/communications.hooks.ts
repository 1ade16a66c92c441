import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';
import type { Database } from '../../platform/db/database.js';
import { safeEqual } from '../../platform/crypto/tokens.js';
import { hookErrors } from './communications.errors.js';
import { findLogByProviderMessage, insertSuppression } from './communications.queries.js';
import { advanceLog, noteLog } from './communications.hooks.queries.js';

/*
 * Delivery callbacks: what the providers tell us after they accepted a message. Resend posts
 * Svix-signed (Standard Webhooks) events to /v1/hooks/resend; Twilio posts form-encoded status
 * callbacks signed with the account's auth token to /v1/hooks/twilio. Each moves the message's log
 * entry forward (never back: a late "delivered" does not undo a bounce) and puts hard bounces,
 * complaints and unsubscribed numbers on the suppression list, in one transaction.
 */

/** What a provider callback did (logged; the provider always gets the same answer). */
export type HookOutcome = 'updated' | 'unchanged' | 'unknown_message' | 'ignored';

export interface ResendEvent {
  type: string;
  created_at?: string;
  data?: {
    email_id?: string;
    bounce?: { type?: string; subType?: string; message?: string };
    failed?: { reason?: string };
    [key: string]: unknown;
  };
}

/** The fields of Twilio's status callback that matter here (it sends more). */
export interface TwilioStatus {
  MessageSid?: string;
  MessageStatus?: string;
  ErrorCode?: string;
}

export interface DeliveryHooks {
  /** Verifies a Resend webhook over its raw body and Svix headers; throws 401 `invalid_signature`. */
  verifyResend(rawBody: string, headers: IncomingHttpHeaders): void;
  resendEvent(event: ResendEvent): Promise<HookOutcome>;
  /** Verifies `X-Twilio-Signature` over the callback URL and the form parameters; throws 401 `invalid_signature`. */
  verifyTwilio(params: readonly (readonly [string, string])[], signature: string | undefined): void;
  twilioStatus(params: TwilioStatus): Promise<HookOutcome>;
}

export interface DeliveryHooksDeps {
  db: Database;
  /** Resend's webhook signing secret (`whsec_…`); absent: every Resend callback is refused. */
  resendWebhookSecret?: string | undefined;
  /** Twilio's auth token and the StatusCallback URL given to Twilio (`${PUBLIC_URL}/v1/hooks/twilio`); absent: refused. */
  twilio?: { authToken: string; callbackUrl: string } | undefined;
}

/**
 * How far along a message is. A callback moves an entry only to a higher rank, so repeats and
 * out-of-order events change nothing: delivered stays delivered when a late "sent" arrives, and a
 * bounce or complaint is final.
 */
const RANK: Record<string, number> = { sent: 1, delivered: 2, failed: 3, bounced: 3, complained: 4 };
const below = (status: string): string[] => Object.keys(RANK).filter((other) => RANK[other]! < RANK[status]!);

/** Twilio error codes that mean the number cannot receive SMS at all: a hard bounce. */
const UNREACHABLE_NUMBER = new Set(['30005', '30006']);
/** The recipient replied STOP (Twilio refuses to text them until they reply START). */
const UNSUBSCRIBED_NUMBER = new Set(['21610']);
/** Svix's headers, or the Standard Webhooks names they are the branded form of. */
const SVIX = ['id', 'timestamp', 'signature'] as const;

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);
const clip = (text: string | undefined, length = 300): string => (text ?? '').replace(/\s+/g, ' ').trim().slice(0, length);

/** Twilio's signature: base64 HMAC-SHA1 with the auth token over the URL followed by every parameter name and value, sorted by name. */
export function twilioSignature(authToken: string, url: string, params: readonly (readonly [string, string])[]): string {
  const sorted = [...params].sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const data = sorted.reduce((acc, [name, value]) => acc + name + value, url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export function createDeliveryHooks(deps: DeliveryHooksDeps): DeliveryHooks {
  const { db } = deps;
  // A secret that is not `whsec_` + base64 fails here, at start-up, rather than refusing every callback silently.
  let resend: Webhook | null = null;
  if (deps.resendWebhookSecret) {
    try {
      resend = new Webhook(deps.resendWebhookSecret);
    } catch {
      throw new Error('RESEND_WEBHOOK_SECRET is not a webhook signing secret (expected whsec_ followed by base64, as Resend shows it)');
    }
  }

  /**
   * Applies one callback to the entry the provider's message id names: suppression first (it holds
   * even when the entry has already moved on), then the status, forward only. One transaction.
   */
  async function apply(
    provider: string,
    providerMessageId: string,
    change: { status?: string; error?: string | null; note?: string; suppress?: string },
  ): Promise<HookOutcome> {
    return db.transaction(async (tx) => {
      const log = await findLogByProviderMessage(tx, provider, providerMessageId);
      if (!log) return 'unknown_message';
      let changed = false;
      if (change.suppress) {
        const recipient = log.channel === 'email' ? log.recipient.trim().toLowerCase() : log.recipient.trim();
        await insertSuppression(tx, { channel: log.channel, recipient, reason: change.suppress });
      }
      if (change.status) changed = await advanceLog(tx, log.id, { status: change.status, ...(change.error !== undefined ? { error: change.error } : {}) }, below(change.status));
      if (change.note && !(log.reason ?? '').includes(change.note)) {
        changed = await noteLog(tx, log.id, log.reason ? `${log.reason}; ${change.note}` : change.note, 'sent');
      }
      return changed ? 'updated' : 'unchanged';
    });
  }

  return {
    verifyResend(rawBody, headers) {
      if (!resend) throw hookErrors.invalid_signature('Resend delivery callbacks are not configured (RESEND_WEBHOOK_SECRET)');
      const values = SVIX.map((name) => first(headers[`svix-${name}`]) ?? first(headers[`webhook-${name}`]));
      if (values.some((value) => !value)) throw hookErrors.invalid_signature('The svix-id, svix-timestamp and svix-signature headers are required');
      const [id, timestamp, signature] = values as [string, string, string];
      try {
        resend.verify(rawBody, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, { jsonParse: false });
      } catch {
        throw hookErrors.invalid_signature('The signature does not verify, or its timestamp is more than 5 minutes away');
      }
    },

    async resendEvent(event) {
      const emailId = event.data?.email_id;
      if (!emailId || !event.type.startsWith('email.')) return 'ignored';
      switch (event.type) {
        case 'email.delivered':
          return apply('resend', emailId, { status: 'delivered' });
        case 'email.bounced': {
          const bounce = event.data?.bounce ?? {};
          // Resend passes on Amazon SES's bounce types: Permanent (hard), Transient (soft), Undetermined.
          const hard = /^(permanent|hard)$/i.test(bounce.type ?? '');
          const kind = [bounce.type, bounce.subType].filter(Boolean).join('/') || 'unknown';
          return apply('resend', emailId, { status: 'bounced', error: clip(`bounced (${kind})${bounce.message ? `: ${bounce.message}` : ''}`, 500), ...(hard ? { suppress: 'bounce' } : {}) });
        }
        case 'email.complained':
          return apply('resend', emailId, { status: 'complained', error: 'the recipient marked the message as spam', suppress: 'complaint' });
        case 'email.failed':
          return apply('resend', emailId, { status: 'failed', error: clip(`Resend could not send it${event.data?.failed?.reason ? `: ${event.data.failed.reason}` : ''}`, 500) });
        case 'email.delivery_delayed':
          return apply('resend', emailId, { note: 'delivery delayed: the receiving server deferred it, Resend keeps trying' });
        default:
          // email.sent, email.opened, email.clicked, email.scheduled…: nothing to record.
          return 'ignored';
      }
    },

    verifyTwilio(params, signature) {
      if (!deps.twilio) throw hookErrors.invalid_signature('Twilio status callbacks are not configured (TWILIO_AUTH_TOKEN)');
      if (!signature) throw hookErrors.invalid_signature('The X-Twilio-Signature header is required');
      if (!safeEqual(signature, twilioSignature(deps.twilio.authToken, deps.twilio.callbackUrl, params))) {
        throw hookErrors.invalid_signature('X-Twilio-Signature does not verify');
      }
    },

    async twilioStatus(params) {
      const sid = params.MessageSid;
      const status = params.MessageStatus;
      if (!sid || !status) return 'ignored';
      const code = params.ErrorCode && /^\d{1,6}$/.test(params.ErrorCode) ? params.ErrorCode : null;
      const error = `Twilio: ${status}${code ? ` (error ${code})` : ''}`;
      switch (status) {
        case 'delivered':
        case 'read':
          return apply('twilio', sid, { status: 'delivered' });
        case 'undelivered':
        case 'failed':
        case 'canceled':
          if (code && UNREACHABLE_NUMBER.has(code)) return apply('twilio', sid, { status: 'bounced', error, suppress: 'bounce' });
          if (code && UNSUBSCRIBED_NUMBER.has(code)) return apply('twilio', sid, { status: 'failed', error, suppress: 'unsubscribed' });
          return apply('twilio', sid, { status: 'failed', error });
        default:
          // accepted, queued, sending, sent…: the log already says sent.
          return 'ignored';
      }
    },
  };
}
