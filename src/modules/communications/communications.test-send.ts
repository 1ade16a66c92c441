import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import { testSendErrors } from './communications.errors.js';
import { isId } from '../../platform/crypto/ids.js';

import { channelDisabled, type Messenger, type NotifyInput } from './communications.messenger.js';
import { maskRecipient } from './communications.service.js';
import type { UserDirectory } from '../accounts/index.js';
import type { Channel } from './communications.settings.js';

export const TEST_TEMPLATE = 'communications.test';

export interface TestSendService {
  /**
   * Sends the `communications.test` template to `to` through the real path (log, channel switch,
   * suppression, rate limits, provider) as a `security` message, so no preference stops it. A channel
   * an admin switched off (with no enabled fallback reaching the recipient) refuses it at once: 422
   * channel_disabled, with the id of its log entry (blocked_channel_disabled). Audited. Returns the log id.
   */
  send(input: { channel: Channel; to: string }, actor: { id: string }, client: ClientInfo): Promise<string>;
}

const EMAIL = /^[^\s@<>()",;:\\]+@[^\s@<>()",;:\\]+\.[^\s@<>()",;:\\]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;

export function createTestSendService(deps: { db: Database; audit: Audit; messenger: Messenger; users: Pick<UserDirectory, 'byId'> }): TestSendService {
  const { db, audit, messenger } = deps;
  const refuse = (message: string) => testSendErrors.invalid_recipient(`to ${message}`, { errors: [{ path: 'body.to', message }] });

  return {
    async send({ channel, to }, actor, client) {
      const recipient = to.trim();
      let target: { to: string } | { userId: string };
      switch (channel) {
        case 'email':
          if (recipient.length > 320 || !EMAIL.test(recipient)) throw refuse('must be an email address for the email channel');
          target = { to: recipient };
          break;
        case 'sms':
          if (!E164.test(recipient)) throw refuse('must be a phone number in E.164 form (+14155550123) for the sms channel');
          target = { to: recipient };
          break;
        case 'push':
        case 'in_app':
          if (!isId(recipient, 'usr')) throw refuse(`must be a user id (usr_…) for the ${channel} channel`);
          if (!(await deps.users.byId(recipient))) throw testSendErrors.user_not_found(`No user ${recipient}`);
          target = { userId: recipient };
          break;
      }
      const message: NotifyInput = { channel, template: TEST_TEMPLATE, category: 'security', ...target };
      const off = await messenger.switchedOff(message);
      if (off) throw channelDisabled(off, { message_id: await messenger.logSwitchedOff(message, off) });
      return db.transaction(async (tx) => {
        const id = await messenger.notify(message, { tx });
        await audit.record(tx, {
          actor: { type: 'user', id: actor.id },
          action: 'communications.test_sent',
          target: { type: 'communication_log', id },
          reason: `${channel} test message to ${maskRecipient(recipient)}`,
          context: client,
        });
        return id;
      });
    },
  };
}
