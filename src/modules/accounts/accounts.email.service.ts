import { randomInt } from 'node:crypto';
import type { ClientInfo } from '../../platform/http/client.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { safeEqual, sha256 } from '../../platform/crypto/tokens.js';
import { accountErrors } from './accounts.errors.js';
import {
  findActiveEmailChangeToken, findActiveOneTimeToken, findUserByEmail, findUserById, recordCodeAttempt, updateUser, useOneTimeToken,
  type OneTimeTokenRow, type UserRow,
} from './accounts.queries.js';
import type { OneTimeLinks } from './accounts.links.service.js';
import type { AddressProofs, ProvenAddress } from './accounts.proof.service.js';
import type { SessionService } from './accounts.sessions.js';
import type { SignInService } from './accounts.signin.service.js';

/** Who stands behind a verification besides the mailbox: a signed-in session, or the account's password. */
export interface Prover {
  /** The signed-in user and session of the request, if any: a session of the account keeps its password and stays. */
  session?: { userId: string; sessionId: string | null } | null;
  /** The account's password, shown with the link or code: it stays (a wrong one is 401 and uses nothing). */
  password?: string;
}

export interface VerifiedEmail {
  user: UserRow;
  /** The password set before the address was proven was removed (neither a session of the account nor the password came with the proof). */
  passwordCleared: boolean;
}

/** The address of an account: its verification, and changing it. */
export interface EmailService {
  /** Mails the verification link and 6-digit code of the account's address, in the caller's transaction. */
  sendVerification(user: UserRow, options: { tx: DbHandle }): Promise<void>;
  /**
   * Verifies an address with the mailed link token, or with the address and the code: the account's
   * own (see accounts.proof.service.ts for what the first proof ends), or the new address of an email change.
   */
  verifyEmail(input: { token: string } | { email: string; code: string }, client: ClientInfo, prover?: Prover): Promise<VerifiedEmail>;
  resendVerification(email: string): Promise<void>;
  /** Mails a link and code to the new address (the password confirmed); a taken address gets nothing and the same answer. */
  requestEmailChange(userId: string, input: { newEmail: string; password: string }, client: ClientInfo): Promise<void>;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,253}$/;
const VERIFY_TTL_HOURS = 24;
const MAX_CODE_ATTEMPTS = 5;

export function normaliseEmail(email: string): string {
  const trimmed = email.trim();
  if (!EMAIL.test(trimmed) || trimmed.length > 254) throw accountErrors.invalid_email(`${JSON.stringify(trimmed.slice(0, 80))} is not an email address`);
  return trimmed;
}

function sixDigitCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

export function createEmailService(deps: {
  db: Database;
  audit: Audit;
  events: Events;
  mail: Mail;
  sessions: SessionService;
  links: OneTimeLinks;
  proofs: AddressProofs;
  signIn: Pick<SignInService, 'confirmPassword'>;
}): EmailService {
  const { db, audit, events, mail, sessions, links, proofs } = deps;

  async function applyEmailChange(tx: DbHandle, user: UserRow, newEmail: string, client: ClientInfo): Promise<UserRow> {
    const holder = await findUserByEmail(tx, newEmail);
    if (holder && holder.id !== user.id) throw accountErrors.email_taken('Another account now uses this address');
    const updated = (await updateUser(tx, user.id, { email: newEmail, emailVerified: true }))!;
    await audit.record(tx, {
      actor: { type: 'user', id: user.id, display: user.email },
      action: 'user.email_changed',
      target: { type: 'user', id: user.id },
      changes: { email: { before: user.email, after: newEmail } },
      context: client,
    });
    await events.publish(tx, { type: 'user.updated', data: { id: user.id, changes: ['email'] } });
    await mail.send({ to: user.email, userId: user.id, template: 'accounts.email_changed', data: { new_email: newEmail, at: new Date().toISOString() } }, { tx });
    return updated;
  }

  /** Applies a used link or code: the change of address it was for, or the proof of the account's own. */
  async function apply(tx: DbHandle, row: OneTimeTokenRow, user: UserRow, client: ClientInfo, prover: Prover, passwordShown: boolean): Promise<ProvenAddress> {
    if (row.purpose === 'email_change') return { user: await applyEmailChange(tx, user, row.email!, client), revoked: [], passwordCleared: false };
    // A verification mailed to an address the account no longer has proves nothing.
    if (row.email?.toLowerCase() !== user.email.toLowerCase()) throw accountErrors.invalid_link();
    const proverSessionId = prover.session?.userId === user.id ? prover.session.sessionId : null;
    return proofs.proven(user, { how: 'verification', client, proverSessionId, passwordShown }, { tx });
  }

  /** Checks the password shown with a verification of the account's own address (before anything is used). */
  async function showsPassword(userId: string, purpose: string, prover: Prover, client: ClientInfo): Promise<boolean> {
    if (prover.password === undefined || purpose !== 'verify_email') return false;
    await deps.signIn.confirmPassword(userId, prover.password, client);
    return true;
  }

  const service: EmailService = {
    async sendVerification(user, options) {
      const code = sixDigitCode();
      const { token } = await links.issue(user, 'verify_email', VERIFY_TTL_HOURS * 3600, { tx: options.tx, code });
      await mail.send({ to: user.email, template: 'accounts.verify_email', data: { token, code, expires_hours: VERIFY_TTL_HOURS, name: user.name } }, { tx: options.tx });
    },

    async verifyEmail(input, client, prover = {}) {
      let proven: ProvenAddress;
      if ('token' in input) {
        // The password first (a wrong one counts toward the lockout), so a typo does not use the link.
        const pending = prover.password === undefined ? null : await links.peek(input.token, ['verify_email']);
        const passwordShown = pending ? await showsPassword(pending.userId, pending.purpose, prover, client) : false;
        proven = await db.transaction(async (tx) => {
          const row = await links.consume(input.token, ['verify_email', 'email_change'], { tx });
          if (!row) throw accountErrors.invalid_link();
          const user = await findUserById(tx, row.userId);
          if (!user) throw accountErrors.invalid_link();
          return apply(tx, row, user, client, prover, passwordShown && row.userId === pending?.userId);
        });
      } else {
        // The code confirms either an account's own address or the new address of an email change.
        const email = input.email.trim();
        const owner = await findUserByEmail(db, email);
        const row = (owner ? await findActiveOneTimeToken(db, owner.id, 'verify_email') : null) ?? (await findActiveEmailChangeToken(db, email));
        const user = row ? (owner?.id === row.userId ? owner : await findUserById(db, row.userId)) : null;
        if (!user || !row?.codeHash) throw accountErrors.invalid_code();
        if (!safeEqual(row.codeHash, sha256(`${row.id}:${input.code}`))) {
          await recordCodeAttempt(db, row.id, MAX_CODE_ATTEMPTS);
          throw accountErrors.invalid_code();
        }
        const passwordShown = await showsPassword(user.id, row.purpose, prover, client);
        proven = await db.transaction(async (tx) => {
          if (!(await useOneTimeToken(tx, row.id))) throw accountErrors.invalid_code();
          return apply(tx, row, user, client, prover, passwordShown);
        });
      }
      await sessions.announceRevoked(proven.revoked);
      return { user: proven.user, passwordCleared: proven.passwordCleared };
    },

    async resendVerification(email) {
      const user = await findUserByEmail(db, email.trim());
      if (!user || user.emailVerified) return;
      if (!(await links.firstInWindow(`verify:${user.id}`))) return;
      await db.transaction((tx) => service.sendVerification(user, { tx }));
    },

    async requestEmailChange(userId, input, client) {
      const newEmail = normaliseEmail(input.newEmail);
      const user = await deps.signIn.confirmPassword(userId, input.password, client);
      if (newEmail.toLowerCase() === user.email.toLowerCase()) return;
      // A taken address gets no mail and the same answer: the endpoint must not reveal accounts.
      if (await findUserByEmail(db, newEmail)) return;
      await db.transaction(async (tx) => {
        const code = sixDigitCode();
        const { token } = await links.issue(user, 'email_change', VERIFY_TTL_HOURS * 3600, { tx, code, email: newEmail });
        await mail.send({ to: newEmail, userId: user.id, template: 'accounts.email_change', data: { token, code, new_email: newEmail, expires_hours: VERIFY_TTL_HOURS } }, { tx });
        await audit.record(tx, { actor: { type: 'user', id: userId, display: user.email }, action: 'user.email_change_requested', target: { type: 'user', id: userId }, context: client });
      });
    },
  };
  return service;
}
