import { globalAgent, type Agent } from 'node:https';
import webpush from 'web-push';
import { assertSafeTarget, DeliveryError, guardedHttpsAgent, permanentHttpStatus, UnsafeDestinationError, type OutboundPolicy } from '../delivery/index.js';
import type { PushProvider } from './push.js';

/*
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
 * the `web-push` package: one POST to the subscription's endpoint at the browser vendor's push
 * service, authorised by `Authorization: vapid t=<ES256 JWT, aud = the endpoint's origin>, k=<key>`.
 *
 * The endpoint is a browser's (anyone's) choice, so every request goes through the outbound guard
 * webhooks use: a forbidden IP literal is refused before connecting, a name is resolved and checked
 * on every connection (DNS rebinding), and a redirect is never followed (a 3xx is a failure).
 */

export interface WebPushOptions {
  /** VAPID key pair, URL-safe base64 (`npx web-push generate-vapid-keys`). */
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact sent to push services. */
  subject: string;
  /** Socket timeout per request; default 15 s. */
  timeoutMs?: number;
  /**
   * The TLS settings of the push services' HTTPS (extra trusted CAs: tests); default the process's
   * (`https.globalAgent`). Requests go through an agent of their own with the guarded lookup.
   */
  agent?: Agent;
  /** Where push services may be (default: public addresses over https only). */
  destinations?: OutboundPolicy;
}

/**
 * What a push service's refusal means. 404/410: the subscription is gone (permanent, with that
 * status: the caller forgets it). 429 and 5xx: try later. Any other 4xx (a payload too large, a
 * subscription made with another VAPID key) fails the same way every time: permanent.
 */
export function webPushPermanent(status: number): boolean {
  return status === 404 || status === 410 || permanentHttpStatus(status);
}

function endpointOf(endpoint: string): URL {
  try {
    return new URL(endpoint);
  } catch {
    throw new DeliveryError('the push subscription endpoint is not a URL', { permanent: true });
  }
}

export function createWebPushProvider(options: WebPushOptions): PushProvider {
  const vapidDetails = { subject: options.subject, publicKey: options.publicKey, privateKey: options.privateKey };
  // A bad key pair or subject fails here, at start-up, not as a "permanent" failure of every message.
  webpush.getVapidHeaders('https://push.example', options.subject, options.publicKey, options.privateKey, 'aes128gcm');
  const timeout = options.timeoutMs ?? 15_000;
  const destinations = options.destinations ?? { allowPrivateNetworks: false, requireHttps: true };
  const agent = guardedHttpsAgent(destinations, { ...(options.agent ?? globalAgent).options });

  return {
    kind: 'web-push',
    publicKey: options.publicKey,
    async send(message) {
      try {
        assertSafeTarget(endpointOf(message.target.endpoint), destinations);
        const result = await webpush.sendNotification(message.target, message.payload, {
          TTL: message.ttlSeconds,
          urgency: message.urgency ?? 'normal',
          contentEncoding: 'aes128gcm',
          vapidDetails,
          timeout,
          agent,
        });
        // Push services name the message they took in Location (RFC 8030 §5).
        const location = result.headers.location;
        return { providerMessageId: typeof location === 'string' && location.length <= 500 ? location : null };
      } catch (error) {
        if (error instanceof DeliveryError) throw error;
        // A push service on a private, loopback or reserved address (or a name resolving to one): never contacted.
        if (error instanceof UnsafeDestinationError) throw new DeliveryError(`the push service's address is not allowed (${error.message})`, { permanent: true, cause: error });
        if (error instanceof webpush.WebPushError) {
          throw new DeliveryError(`the push service answered ${error.statusCode}`, { permanent: webPushPermanent(error.statusCode), status: error.statusCode, cause: error });
        }
        // A socket error (it carries a code) or the socket timeout: the service may answer later.
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' || (error instanceof Error && error.message === 'Socket timeout')) {
          throw new DeliveryError(`could not reach the push service (${typeof code === 'string' ? code : 'timed out'})`, { permanent: false, cause: error });
        }
        // Anything else is thrown before a request is made: the subscription's keys are unusable.
        throw new DeliveryError(`the push subscription is unusable (${error instanceof Error ? error.message : String(error)})`, { permanent: true, cause: error });
      }
    },
  };
}
