import type { Agent } from 'node:https';
import webpush from 'web-push';
import { DeliveryError, permanentHttpStatus } from '../delivery/index.js';
import type { PushProvider } from './push.js';

/*
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
 * the `web-push` package: one POST to the subscription's endpoint at the browser vendor's push
 * service, authorised by `Authorization: vapid t=<ES256 JWT, aud = the endpoint's origin>, k=<key>`.
 */

export interface WebPushOptions {
  /** VAPID key pair, URL-safe base64 (`npx web-push generate-vapid-keys`). */
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact sent to push services. */
  subject: string;
  /** Socket timeout per request; default 15 s. */
  timeoutMs?: number;
  /** An agent for the push services' HTTPS (a proxy, or extra trusted CAs: tests). */
  agent?: Agent;
}

/**
 * What a push service's refusal means. 404/410: the subscription is gone (permanent, with that
 * status: the caller forgets it). 429 and 5xx: try later. Any other 4xx (a payload too large, a
 * subscription made with another VAPID key) fails the same way every time: permanent.
 */
export function webPushPermanent(status: number): boolean {
  return status === 404 || status === 410 || permanentHttpStatus(status);
}

export function createWebPushProvider(options: WebPushOptions): PushProvider {
  const vapidDetails = { subject: options.subject, publicKey: options.publicKey, privateKey: options.privateKey };
  // A bad key pair or subject fails here, at start-up, not as a "permanent" failure of every message.
  webpush.getVapidHeaders('https://push.example', options.subject, options.publicKey, options.privateKey, 'aes128gcm');
  const timeout = options.timeoutMs ?? 15_000;

  return {
    kind: 'web-push',
    publicKey: options.publicKey,
    async send(message) {
      try {
        const result = await webpush.sendNotification(message.target, message.payload, {
          TTL: message.ttlSeconds,
          urgency: message.urgency ?? 'normal',
          contentEncoding: 'aes128gcm',
          vapidDetails,
          timeout,
          ...(options.agent ? { agent: options.agent } : {}),
        });
        // Push services name the message they took in Location (RFC 8030 §5).
        const location = result.headers.location;
        return { providerMessageId: typeof location === 'string' && location.length <= 500 ? location : null };
      } catch (error) {
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
