import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import type { Mail } from '../../platform/mail/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, sha256 } from '../../platform/crypto/tokens.js';
import {
  consumeOneTimeToken, findUserByEmail, findUsableOneTimeToken, insertOneTimeToken, retireOneTimeTokens,
  type OneTimeTokenRow, type TokenPurpose, type UserRow,
} from './accounts.queries.js';

/**
 * The links Tessera mails (and their 6-digit codes): email verification, email change, magic link,
 * password reset, MFA recovery. One token per link, stored as its SHA-256, usable once, each purpose
 * superseding the earlier unused ones. The MFA module issues its recovery links here too.
 */
export interface OneTimeLinks {
  /** Issues a new token of a purpose for the user in the caller's transaction (retiring their unused ones of that purpose); returns it, in clear, to mail. */
  issue(user: UserRow, purpose: TokenPurpose, ttlSeconds: number, options: { tx: DbHandle; code?: string; email?: string }): Promise<{ id: string; token: string }>;
  /** Uses a token atomically: the row when it was unused, unexpired and of one of the purposes; of two concurrent uses one wins. */
  consume(token: string, purposes: readonly TokenPurpose[], options?: { tx?: DbHandle }): Promise<OneTimeTokenRow | null>;
  /** The row of a usable token without using it (to check something else first, e.g. a password). */
  peek(token: string, purposes: readonly TokenPurpose[]): Promise<OneTimeTokenRow | null>;
  /** Voids every outstanding token of these purposes of the user; returns how many. */
  retire(userId: string, purposes: readonly TokenPurpose[], options?: { tx?: DbHandle }): Promise<number>;
  /** True at most once a minute per key (one mail of a kind per account per minute); true when the cache is down. */
  firstInWindow(key: string): Promise<boolean>;
  /**
   * Mails a link (magic link, password reset) to the account of an address, at most once a minute
   * per account; an unknown address gets nothing, and the caller answers 202 either way.
   */
  mail(email: string, link: { purpose: 'magic_link' | 'password_reset'; minutes: number; template: string; action: string }, client: ClientInfo): Promise<void>;
}

/**
 * The links a password voids when it changes or is reset: each either signs in without the password
 * (magic link), sets one (reset), removes the second factors with it (MFA recovery), or moves the
 * account to another address on the strength of the old password (email change). A verification
 * link stays: it proves a mailbox, not a password, and proving the address no longer vouches for a
 * password set before it (see accounts.proof.service.ts).
 */
export const PASSWORD_BOUND_PURPOSES: readonly TokenPurpose[] = Object.freeze(['magic_link', 'password_reset', 'mfa_recovery', 'email_change']);

/** One mail of a kind per address per minute: resend, magic link, forgot password, MFA recovery. */
const MAIL_THROTTLE_SECONDS = 60;

export function createOneTimeLinks(deps: { db: Database; cache: Cache; audit: Audit; mail: Mail }): OneTimeLinks {
  const { db, cache, audit, mail } = deps;

  const links: OneTimeLinks = {
    async issue(user, purpose, ttlSeconds, options) {
      await retireOneTimeTokens(options.tx, user.id, purpose);
      const id = newId('ott');
      const token = randomToken(32);
      await insertOneTimeToken(options.tx, {
        id,
        userId: user.id,
        purpose,
        tokenHash: sha256(token),
        codeHash: options.code ? sha256(`${id}:${options.code}`) : null,
        email: options.email ?? user.email,
        expiresAt: new Date(Date.now() + ttlSeconds * 1000),
      });
      return { id, token };
    },

    consume: (token, purposes, options = {}) => consumeOneTimeToken(options.tx ?? db, sha256(token), [...purposes]),

    peek: (token, purposes) => findUsableOneTimeToken(db, sha256(token), [...purposes]),

    retire: (userId, purposes, options = {}) => retireOneTimeTokens(options.tx ?? db, userId, purposes),

    async firstInWindow(key) {
      try {
        return await cache.set(`mail-throttle:${key}`, '1', { ttlSeconds: MAIL_THROTTLE_SECONDS, onlyIfAbsent: true });
      } catch {
        return true;
      }
    },

    async mail(email, link, client) {
      const user = await findUserByEmail(db, email.trim());
      if (!user || !(await links.firstInWindow(`${link.purpose}:${user.id}`))) return;
      await db.transaction(async (tx) => {
        const { token } = await links.issue(user, link.purpose, link.minutes * 60, { tx });
        await mail.send({ to: user.email, template: link.template, data: { token, expires_minutes: link.minutes } }, { tx });
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: link.action, target: { type: 'user', id: user.id }, context: client });
      });
    },
  };
  return links;
}
