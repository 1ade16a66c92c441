import type { DbHandle } from '../../platform/db/database.js';
import { listOutbox, type OutboxEntry } from '../../platform/mail/index.js';

/** What the admin routes read that no other module's service answers: the development mail outbox. */
export interface AdminOutboxService {
  /** Mail the development outbox kept, newest first (by id: time-ordered and unique); `before` is the last id of the previous page. */
  list(options: { limit: number; before?: string }): Promise<OutboxEntry[]>;
}

export function createAdminOutboxService(deps: { db: DbHandle }): AdminOutboxService {
  return { list: (options) => listOutbox(deps.db, options) };
}
