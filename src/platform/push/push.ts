import type { Database } from '../db/database.js';
import { newId } from '../crypto/ids.js';
import type { DeliveryReceipt } from '../delivery/index.js';
import { devOutbox } from '../mail/mail.tables.js';

/** A browser's PushSubscription as it serialises (`subscription.toJSON()`). */
export interface PushTarget {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface PushMessage {
  id: string;
  target: PushTarget;
  /** JSON text the service worker receives (`event.data.json()`). */
  payload: string;
  ttlSeconds: number;
  urgency?: 'very-low' | 'low' | 'normal' | 'high';
}

/**
 * Web Push (VAPID) or the development outbox. A subscription the push service no longer knows
 * (404/410) fails with a permanent DeliveryError whose status is 404 or 410: the caller forgets it.
 */
export interface PushProvider {
  readonly kind: 'web-push' | 'outbox';
  /** The VAPID public key browsers subscribe with; null for the outbox. */
  readonly publicKey: string | null;
  send(message: PushMessage): Promise<DeliveryReceipt>;
}

export function createOutboxPushProvider(db: Database): PushProvider {
  return {
    kind: 'outbox',
    publicKey: null,
    async send(message) {
      const id = newId('psh');
      await db.orm.insert(devOutbox).values({
        id, channel: 'push', recipient: message.target.endpoint, text: message.payload, payload: { message_id: message.id },
      });
      return { providerMessageId: id };
    },
  };
}
