import type { DbHandle } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { updateUser, type UserRow } from './accounts.queries.js';
import type { SessionService } from './accounts.sessions.js';

/** How an address was proven: a link or code of the verification mail, a magic link, a password reset. */
export type AddressProof = 'verification' | 'magic_link' | 'password_reset';

export interface ProvenAddress {
  user: UserRow;
  /** Sessions ended in the transaction: announce them (`sessions.announceRevoked`) once it has committed. */
  revoked: string[];
  /** The password set before the proof was removed (only a reset or a magic link opens the account now). */
  passwordCleared: boolean;
}

/**
 * What proving an address means for an account that had not proven it yet (account pre-hijacking:
 * anyone can sign up with someone else's address before its owner does).
 *
 * - Every session opened before the proof ends (with its refresh tokens and access tokens), except
 *   the session that made the proof: whoever signed up with the address may hold one.
 * - A password set before the proof stays only when the prover showed it: the signed-in session
 *   of the account that verifies (`proverSessionId`), a verification that sends the password
 *   (`passwordShown`), or a reset that replaces it anyway. Otherwise it is removed (password_hash
 *   null): the mailbox's owner did not choose it, and only a reset (or a magic link) opens the
 *   account from then on.
 *
 * An account whose address was already proven is left as it is: the proof tells nothing new.
 */
export interface AddressProofs {
  /** In the caller's transaction; see the interface comment. */
  proven(user: UserRow, proof: { how: AddressProof; client: ClientInfo; proverSessionId?: string | null; passwordShown: boolean }, options: { tx: DbHandle }): Promise<ProvenAddress>;
}

export function createAddressProofs(deps: { audit: Audit; events: Events; sessions: SessionService }): AddressProofs {
  const { audit, events, sessions } = deps;
  return {
    async proven(user, proof, { tx }) {
      if (user.emailVerified) return { user, revoked: [], passwordCleared: false };
      const clear = user.passwordHash !== null && !proof.passwordShown && !proof.proverSessionId;
      const after = (await updateUser(tx, user.id, { emailVerified: true, ...(clear ? { passwordHash: null, passwordChangedAt: new Date() } : {}) }))!;
      const actor = { type: 'user' as const, id: user.id, display: user.email };
      await audit.record(tx, { actor, action: 'user.email_verified', target: { type: 'user', id: user.id }, reason: proof.how, context: proof.client });
      await events.publish(tx, { type: 'user.email_verified', data: { id: user.id, email: user.email } });
      if (clear) {
        await audit.record(tx, {
          actor,
          action: 'user.password_invalidated',
          target: { type: 'user', id: user.id },
          reason: `the password was set before the address was proven (${proof.how}) and the prover did not show it`,
          context: proof.client,
        });
      }
      const revoked = await sessions.revokeAll(user.id, 'address_proven', { client: proof.client, exceptSessionId: proof.proverSessionId ?? null, tx });
      return { user: after, revoked, passwordCleared: clear };
    },
  };
}
