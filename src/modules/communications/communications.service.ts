import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';

import { communicationErrors } from './communications.errors.js';
import { deleteSuppression, insertSuppression, listLogs, listSuppressions, type LogFilter, type LogRow, type SuppressionRow } from './communications.queries.js';
import type { Channel } from './communications.settings.js';

export type { LogFilter, LogRow, SuppressionRow } from './communications.queries.js';

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
  /** Newest first (by id); `before` is the id of the last entry of the previous page. */
  logs(filter: LogFilter): Promise<LogRow[]>;
  /** By recipient, then channel; `after` is that key of the last entry of the previous page. */
  suppressions(options: { channel?: string; limit: number; after?: { recipient: string; channel: string } }): Promise<SuppressionRow[]>;
  suppress(channel: Channel, recipient: string, reason: string): Promise<void>;
  unsuppress(channel: Channel, recipient: string, actor: { id: string }, client: ClientInfo): Promise<void>;
}

export function createCommunicationsService(deps: { db: Database; audit: Audit }): CommunicationsService {
  const { db, audit } = deps;

  return {
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
