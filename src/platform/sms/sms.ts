import type { Database } from '../db/database.js';
import { newId } from '../crypto/ids.js';
import type { DeliveryReceipt } from '../delivery/index.js';
import { devOutbox } from '../mail/mail.tables.js';

export interface SmsMessage {
  /** Tessera's id of the message (the communication log entry), sent along where the provider takes one. */
  id: string;
  /** E.164. */
  to: string;
  text: string;
}

/** Where SMS goes: Twilio, a generic HTTP endpoint, or the development outbox. */
export interface SmsProvider {
  readonly kind: 'twilio' | 'http' | 'outbox';
  /** Throws DeliveryError (permanent or not) when the provider refuses or cannot be reached. */
  send(message: SmsMessage): Promise<DeliveryReceipt>;
}

export function createOutboxSmsProvider(db: Database): SmsProvider {
  return {
    kind: 'outbox',
    async send(message) {
      const id = newId('sms');
      await db.orm.insert(devOutbox).values({ id, channel: 'sms', recipient: message.to, text: message.text, payload: { message_id: message.id } });
      return { providerMessageId: id };
    },
  };
}
