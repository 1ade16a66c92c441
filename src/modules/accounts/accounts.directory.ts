import type { Database, DbHandle } from '../../platform/db/database.js';
import { findOtherPhoneHolder, findUserByContact, findUserByEmail, findUserById, findUsersByIds, lockPhone, updateUser } from './accounts.queries.js';
import type { UserRow } from './accounts.schema.js';

/**
 * The accounts module's read side for other modules, and the few writes to a user row that other
 * modules' flows make (a verified phone number). Other modules never read or write `users` with
 * SQL of their own: they are given this directory (built in app/context.ts).
 * Every method runs on `options.tx` when given (inside the caller's transaction), else on its own.
 */
export interface UserDirectory {
  byId(id: string, options?: { tx?: DbHandle }): Promise<UserRow | null>;
  /** The users of these ids that exist, by id (one query: lists that name people, such as invitations and their inviters). */
  byIds(ids: readonly string[], options?: { tx?: DbHandle }): Promise<Map<string, UserRow>>;
  /** Case-insensitive. */
  byEmail(email: string, options?: { tx?: DbHandle }): Promise<UserRow | null>;
  /** The account an address (case-insensitively) or a verified phone number belongs to. */
  byContact(channel: 'email' | 'sms', recipient: string, options?: { tx?: DbHandle }): Promise<UserRow | null>;
  /**
   * Sets the user's verified phone number, in the caller's transaction: numbers are serialised, and
   * a number another account verified is refused (`taken`). Returns the row before and after.
   */
  setVerifiedPhone(tx: DbHandle, userId: string, phone: string): Promise<{ before: UserRow; after: UserRow } | 'taken' | null>;
  /** Removes the user's phone number, in the caller's transaction; null when there was none (or no such user). */
  clearPhone(tx: DbHandle, userId: string): Promise<{ before: UserRow; after: UserRow } | null>;
  /** Sets or clears the duty to enrol a second factor again (set by an MFA recovery, cleared once a factor is enrolled). */
  setMfaReenrollRequired(userId: string, required: boolean, options?: { tx?: DbHandle }): Promise<void>;
}

export function createUserDirectory(deps: { db: Database }): UserDirectory {
  const { db } = deps;
  return {
    byId: (id, options = {}) => findUserById(options.tx ?? db, id),
    async byIds(ids, options = {}) {
      const rows = await findUsersByIds(options.tx ?? db, [...new Set(ids)]);
      return new Map(rows.map((row) => [row.id, row]));
    },
    byEmail: (email, options = {}) => findUserByEmail(options.tx ?? db, email),
    byContact: (channel, recipient, options = {}) => findUserByContact(options.tx ?? db, channel, recipient),
    async setVerifiedPhone(tx, userId, phone) {
      await lockPhone(tx, phone);
      if (await findOtherPhoneHolder(tx, phone, userId)) return 'taken';
      const before = await findUserById(tx, userId);
      if (!before) return null;
      const after = (await updateUser(tx, userId, { phone, phoneVerified: true }))!;
      return { before, after };
    },
    async setMfaReenrollRequired(userId, required, options = {}) {
      await updateUser(options.tx ?? db, userId, { mfaReenrollRequired: required });
    },
    async clearPhone(tx, userId) {
      const before = await findUserById(tx, userId);
      if (!before?.phone) return null;
      const after = (await updateUser(tx, userId, { phone: null, phoneVerified: false }))!;
      return { before, after };
    },
  };
}
