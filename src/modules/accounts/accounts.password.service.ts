import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { hashPassword } from '../../platform/crypto/passwords.js';
import { accountErrors } from './accounts.errors.js';
import { findUserById, updateUser } from './accounts.queries.js';
import { PASSWORD_BOUND_PURPOSES, type OneTimeLinks } from './accounts.links.service.js';
import type { AddressProofs } from './accounts.proof.service.js';
import type { SessionService } from './accounts.sessions.js';
import type { SignInService } from './accounts.signin.service.js';
import { checkPassword, type PasswordPolicy, type PasswordProblem } from './password-policy.js';
import { estimateStrength } from './password-strength.js';

/** What a strength meter shows while a password is typed. */
export interface PasswordCheck {
  /** Whether sign-up, reset and change would take it: no rule of the policy is broken. */
  acceptable: boolean;
  /** zxcvbn's 0–4, at most 1 while the policy refuses the password (a meter never shows a refused password as good). */
  score: 0 | 1 | 2 | 3 | 4;
  minLength: number;
  /** Every rule broken, as weak_password would list them. */
  problems: PasswordProblem[];
  /** The first broken rule as a sentence; else zxcvbn's warning, if any. */
  warning: string | null;
  suggestions: string[];
}

/** Forgotten, reset and changed passwords. */
export interface PasswordService {
  /** Mails a reset link (valid 1 hour, at most one a minute per account; nothing for an unknown address). */
  forgotPassword(email: string, client: ClientInfo): Promise<void>;
  /** Sets a new password with a reset link: proves the address, clears a lockout, ends every session, voids the other links. */
  resetPassword(token: string, password: string, client: ClientInfo): Promise<void>;
  /** Changes the password (the current one confirmed): ends the other sessions and voids the outstanding links. */
  changePassword(userId: string, sessionId: string | null, input: { currentPassword: string; newPassword: string }, client: ClientInfo): Promise<void>;
  /** 422 weak_password listing every rule the password breaks. */
  assertPolicy(password: string, email: string): void;
  /**
   * The policy's verdict on a password (the very check `assertPolicy` makes, with the email when
   * given) and an estimate of its strength (knowing the email and name), for a meter. Stores and
   * logs nothing.
   */
  checkPassword(password: string, context: { email?: string; name?: string }): Promise<PasswordCheck>;
}

const RESET_TTL_MINUTES = 60;

export function createPasswordService(deps: {
  db: Database;
  audit: Audit;
  mail: Mail;
  sessions: SessionService;
  links: OneTimeLinks;
  proofs: AddressProofs;
  signIn: Pick<SignInService, 'confirmPassword'>;
  policy: PasswordPolicy;
}): PasswordService {
  const { db, audit, mail, sessions, links, proofs } = deps;

  const service: PasswordService = {
    assertPolicy(password, email) {
      const problems = checkPassword(password, { email, policy: deps.policy });
      if (problems.length > 0) {
        throw accountErrors.weak_password(`The password ${problems.map((p) => p.message).join('; ')}`, {
          errors: problems.map((p) => ({ path: 'body.password', rule: p.rule, message: p.message })),
        });
      }
    },

    async checkPassword(password, context) {
      const problems = checkPassword(password, { ...(context.email === undefined ? {} : { email: context.email }), policy: deps.policy });
      const strength = await estimateStrength(password, context);
      const acceptable = problems.length === 0;
      return {
        acceptable,
        score: acceptable ? strength.score : (Math.min(strength.score, 1) as 0 | 1),
        minLength: deps.policy.minLength,
        problems,
        warning: problems[0] ? `The password ${problems[0].message}.` : strength.warning,
        suggestions: strength.suggestions,
      };
    },

    forgotPassword: (email, client) =>
      links.mail(email, { purpose: 'password_reset', minutes: RESET_TTL_MINUTES, template: 'accounts.password_reset', action: 'user.password_reset_requested' }, client),

    async resetPassword(token, password, client) {
      const revoked = await db.transaction(async (tx) => {
        const row = await links.consume(token, ['password_reset'], { tx });
        if (!row) throw accountErrors.invalid_link();
        const found = await findUserById(tx, row.userId);
        // A link mailed to an address the account no longer has (changed since) proves nothing.
        if (!found || row.email?.toLowerCase() !== found.email.toLowerCase()) throw accountErrors.invalid_link();
        // A weak password rolls the transaction back: the link stays usable.
        service.assertPolicy(password, found.email);
        const passwordHash = await hashPassword(password);
        // A reset proves the mailbox (and replaces whatever password was set before it).
        const proof = await proofs.proven(found, { how: 'password_reset', client, passwordShown: true }, { tx });
        await updateUser(tx, found.id, { passwordHash, passwordChangedAt: new Date(), failedLoginCount: 0, lockedUntil: null });
        await links.retire(found.id, PASSWORD_BOUND_PURPOSES, { tx });
        await audit.record(tx, { actor: { type: 'user', id: found.id, display: found.email }, action: 'user.password_reset', target: { type: 'user', id: found.id }, context: client });
        await mail.send({ to: found.email, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: client.ip, device: null } }, { tx });
        // Done without a session: every session ends.
        const ended = await sessions.revokeAll(found.id, 'password_reset', { client, tx });
        return [...proof.revoked, ...ended];
      });
      await sessions.announceRevoked(revoked);
    },

    async changePassword(userId, sessionId, input, client) {
      const user = await deps.signIn.confirmPassword(userId, input.currentPassword, client);
      service.assertPolicy(input.newPassword, user.email);
      const passwordHash = await hashPassword(input.newPassword);
      const revoked = await db.transaction(async (tx) => {
        await updateUser(tx, userId, { passwordHash, passwordChangedAt: new Date() });
        await links.retire(userId, PASSWORD_BOUND_PURPOSES, { tx });
        await audit.record(tx, { actor: { type: 'user', id: userId, display: user.email }, action: 'user.password_changed', target: { type: 'user', id: userId }, context: client });
        await mail.send({ to: user.email, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: client.ip, device: null } }, { tx });
        return sessions.revokeAll(userId, 'password_changed', { client, exceptSessionId: sessionId, tx });
      });
      await sessions.announceRevoked(revoked);
    },
  };
  return service;
}
