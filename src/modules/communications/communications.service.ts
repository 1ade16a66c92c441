import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import type { MailPipeline, QueuedMessage } from '../../platform/mail/index.js';
import type { ClientInfo } from '../accounts/index.js';
import { communicationErrors } from './communications.errors.js';
import { deleteSuppression, findSuppression, insertLog, insertSuppression, listLogs, listSuppressions, updateLog, type LogFilter, type LogRow, type SuppressionRow } from './communications.queries.js';
import type { Channel, SettingsService } from './communications.settings.js';

/** Why a message was stopped before delivery (the log's `status`). */
export type BlockedStatus = 'blocked_channel_disabled' | 'suppressed' | 'opted_out' | 'rate_limited';

/** `j***@example.com`, `+1******4567`: enough to recognise, not enough to harvest. */
export function maskRecipient(recipient: string): string {
  const at = recipient.lastIndexOf('@');
  if (at > 0) return `${recipient[0]}***${recipient.slice(at)}`;
  if (/^\+?\d{6,}$/.test(recipient)) {
    const plus = recipient.startsWith('+') ? 2 : 0;
    return recipient.slice(0, plus) + '*'.repeat(recipient.length - plus - 4) + recipient.slice(-4);
  }
  return `${recipient.slice(0, 1)}***`;
}

const normalise = (channel: Channel, recipient: string): string => (channel === 'email' ? recipient.trim().toLowerCase() : recipient.trim());

export interface CommunicationsService {
  /** The stations of mail (the email channel): log, channel switch, suppression, rate limits. */
  readonly mailPipeline: MailPipeline;
  logs(filter: LogFilter): Promise<LogRow[]>;
  suppressions(options: { channel?: string; limit: number; after?: string }): Promise<SuppressionRow[]>;
  suppress(channel: Channel, recipient: string, reason: string): Promise<void>;
  unsuppress(channel: Channel, recipient: string, actor: { id: string }, client: ClientInfo): Promise<void>;
}

export function createCommunicationsService(deps: { db: Database; cache: Cache; audit: Audit; settings: SettingsService; onCacheError?: (error: unknown) => void }): CommunicationsService {
  const { db, cache, audit, settings } = deps;

  /** Counts one message against a window; true when it is over the limit. Fails open when the cache does not answer. */
  async function over(key: string, limit: number | null, windowSeconds: number): Promise<boolean> {
    if (limit === null) return false;
    try {
      return (await cache.incr(key, windowSeconds)).value > limit;
    } catch (error) {
      deps.onCacheError?.(error);
      return false;
    }
  }

  /** Why the message must not go out on `channel` now, or null. */
  async function stop(channel: Channel, message: QueuedMessage): Promise<{ status: BlockedStatus; reason: string } | null> {
    const { settings: current } = await settings.current();
    const rules = current.channels[channel];
    if (!rules.enabled) {
      const fallback = rules.fallback_channel;
      const why = message.category === 'security'
        ? `the ${channel} channel is disabled and ${fallback ? `its fallback ${fallback} cannot carry this message yet` : 'it has no fallback channel'}`
        : `the ${channel} channel is disabled`;
      return { status: 'blocked_channel_disabled', reason: why };
    }
    const recipient = normalise(channel, message.to);
    const suppressed = await findSuppression(db, channel, recipient);
    if (suppressed) return { status: 'suppressed', reason: `the recipient is on the suppression list (${suppressed.reason})` };
    if (await over(`comm:${channel}:recipient:${recipient}`, rules.rate_limit_per_recipient_per_hour, 3600)) {
      return { status: 'rate_limited', reason: `more than ${rules.rate_limit_per_recipient_per_hour} messages to this recipient within an hour` };
    }
    if (await over(`comm:${channel}:minute`, rules.rate_limit_per_minute, 60)) {
      return { status: 'rate_limited', reason: `more than ${rules.rate_limit_per_minute} ${channel} messages within a minute` };
    }
    return null;
  }

  const mailPipeline: MailPipeline = {
    async queued(tx, message) {
      const id = newId('com');
      await insertLog(tx ?? db, {
        id, channel: 'email', template: message.template, category: message.category, recipient: message.to, userId: message.userId ?? null, status: 'queued',
      });
      return id;
    },
    async admit(logId, message) {
      const stopped = await stop('email', message);
      if (!stopped) return true;
      await updateLog(db, logId, { status: stopped.status, reason: stopped.reason });
      return false;
    },
    async sent(logId, info) {
      await updateLog(db, logId, { status: 'sent', provider: info.provider, attempts: info.attempts, error: null });
    },
    async failed(logId, info) {
      // Until the last attempt the message is still on its way: it waits in the queue.
      await updateLog(db, logId, { status: info.final ? 'failed' : 'retrying', attempts: info.attempts, error: info.error.slice(0, 500) });
    },
  };

  return {
    mailPipeline,
    logs: (filter) => listLogs(db, filter),
    suppressions: (options) => listSuppressions(db, options),
    suppress: (channel, recipient, reason) => insertSuppression(db, { channel, recipient: normalise(channel, recipient), reason }),
    async unsuppress(channel, recipient, actor, client) {
      const normalised = normalise(channel, recipient);
      await db.transaction(async (tx) => {
        if (!(await deleteSuppression(tx, channel, normalised))) throw communicationErrors.suppression_not_found();
        // The stored (normalised) address: one entry reads the same whatever case the admin typed.
        await audit.record(tx, {
          actor: { type: 'user', id: actor.id }, action: 'communications.suppression_removed', target: { type: 'suppression', id: `${channel}:${maskRecipient(normalised)}` }, context: client,
        });
      });
    },
  };
}
