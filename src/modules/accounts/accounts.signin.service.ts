import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import type { AppError } from '../../platform/http/errors.js';
import { hashPassword, needsRehash, verifyPassword } from '../../platform/crypto/passwords.js';
import { randomToken } from '../../platform/crypto/tokens.js';
import { accountErrors } from './accounts.errors.js';
import { countDevices, findUserByEmail, findUserById, recordFailedLogin, rememberDevice, updateUser, type UserRow } from './accounts.queries.js';
import type { OneTimeLinks } from './accounts.links.service.js';
import type { AddressProofs } from './accounts.proof.service.js';
import type { IssuedTokens, SessionService } from './accounts.sessions.js';
import { deviceFingerprint } from './device.js';

/** What a sign-in answers when the account has a second factor: the first step only. */
export interface MfaChallenge {
  mfaRequired: true;
  /** Short-lived (5 min), single-purpose: useless as an access token. */
  mfaToken: string;
  methods: string[];
  /** When the user has passkeys: request options for `navigator.credentials.get`. */
  passkeyOptions?: Record<string, unknown>;
}

/** What a first factor leads to: the session, or the second step. */
export type SignInResult = IssuedTokens | MfaChallenge;

export interface SignInSettings {
  lockoutThreshold: number;
  lockoutDurationSeconds: number;
  allowUnverifiedLogin: boolean;
}

/**
 * The accounts' steps of a sign-in: the first factors it owns (password with its lockout, magic
 * link), and the completion that opens the session. The second factor between them belongs to the
 * MFA module; app/sign-in.ts composes the whole flow.
 */
export interface SignInService {
  /** The password as a first factor: the user, or 401 invalid_credentials, 423 account_locked, 403 email_not_verified. */
  password(input: { email: string; password: string }, client: ClientInfo): Promise<UserRow>;
  /** Mails a one-time sign-in link (at most one a minute per account; nothing for an unknown address). */
  requestMagicLink(email: string, client: ClientInfo): Promise<void>;
  /** A magic link as a first factor: uses the link, which proves the address; the user. */
  magicLink(token: string, client: ClientInfo): Promise<UserRow>;
  /** The user when the password is theirs (wrong ones count toward the lockout); else 401 or 423. */
  confirmPassword(userId: string, password: string, client: ClientInfo): Promise<UserRow>;
  /** A second factor is due: clears the failure count and audits the first step. */
  firstFactorOnly(user: UserRow, amr: string[], client: ClientInfo): Promise<void>;
  /**
   * Completes a sign-in whose factors were checked: clears the failure count, notes the device
   * (mailing a notice for a new one), starts the session, audits `action`. With the password that
   * was checked, upgrades its hash when the parameters changed.
   */
  complete(user: UserRow, amr: string[], client: ClientInfo, action: string, options?: { password?: string }): Promise<IssuedTokens>;
}

const MAGIC_LINK_TTL_MINUTES = 15;

export function createSignInService(deps: {
  db: Database;
  audit: Audit;
  mail: Mail;
  sessions: SessionService;
  links: OneTimeLinks;
  proofs: AddressProofs;
  settings: SignInSettings;
}): SignInService {
  const { db, audit, mail, sessions, links, proofs, settings } = deps;
  let dummyHash: Promise<string> | undefined;

  function isLocked(user: UserRow): boolean {
    return user.lockedUntil !== null && user.lockedUntil.getTime() > Date.now();
  }

  function lockedError(until: Date): AppError {
    const retryAfter = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
    return accountErrors.account_locked(
      `Too many failed password attempts; try again in ${Math.ceil(retryAfter / 60)} min or reset your password`,
      { retry_after: retryAfter },
      { 'retry-after': String(retryAfter) },
    );
  }

  /**
   * Counts a wrong password (at sign-in, or when confirming one for a sensitive change). The
   * attempt that reaches the threshold locks the account, mails the owner, and throws 423.
   */
  async function countFailure(user: UserRow, client: ClientInfo): Promise<void> {
    // A lock that has run out starts the count again.
    if (user.lockedUntil && !isLocked(user)) await updateUser(db, user.id, { failedLoginCount: 0, lockedUntil: null });
    const after = await recordFailedLogin(db, user.id, settings.lockoutThreshold, settings.lockoutDurationSeconds);
    if (!after?.lockedUntil || !isLocked(after) || after.failedLoginCount !== settings.lockoutThreshold) return;
    await db.transaction(async (tx) => {
      await audit.record(tx, { actor: { type: 'system' }, action: 'auth.lockout', target: { type: 'user', id: user.id }, reason: `${settings.lockoutThreshold} failed password attempts`, context: client });
      await mail.send({
        to: user.email,
        template: 'accounts.account_locked',
        data: { minutes: Math.ceil(settings.lockoutDurationSeconds / 60), until: after.lockedUntil!.toISOString() },
      }, { tx });
    });
    throw lockedError(after.lockedUntil);
  }

  const service: SignInService = {
    async password(input, client) {
      const email = input.email.trim();
      const user = await findUserByEmail(db, email);
      const fail = async (reason: string, userId: string | null): Promise<void> => {
        await db.transaction((tx) =>
          audit.record(tx, { actor: { type: 'user', id: userId, display: email.slice(0, 254) }, action: 'auth.login', target: userId ? { type: 'user', id: userId } : null, result: 'failure', reason, context: client }),
        );
      };
      if (!user || !user.passwordHash) {
        // Same work as a real check, so timing does not tell which addresses have accounts.
        dummyHash ??= hashPassword(randomToken(16));
        await verifyPassword(await dummyHash, input.password);
        await fail(user ? 'no_password' : 'unknown_email', user?.id ?? null);
        throw accountErrors.invalid_credentials();
      }
      if (isLocked(user)) {
        await fail('locked', user.id);
        throw lockedError(user.lockedUntil!);
      }
      if (!(await verifyPassword(user.passwordHash, input.password))) {
        await fail('wrong_password', user.id);
        await countFailure(user, client);
        throw accountErrors.invalid_credentials();
      }
      if (!user.emailVerified && !settings.allowUnverifiedLogin) {
        await fail('email_not_verified', user.id);
        throw accountErrors.email_not_verified('Verify your email address before signing in');
      }
      return user;
    },

    requestMagicLink: (email, client) =>
      links.mail(email, { purpose: 'magic_link', minutes: MAGIC_LINK_TTL_MINUTES, template: 'accounts.magic_link', action: 'auth.magic_link_requested' }, client),

    async magicLink(token, client) {
      const { user, revoked } = await db.transaction(async (tx) => {
        const row = await links.consume(token, ['magic_link'], { tx });
        if (!row) throw accountErrors.invalid_link();
        const found = await findUserById(tx, row.userId);
        if (!found || row.email?.toLowerCase() !== found.email.toLowerCase()) throw accountErrors.invalid_link();
        // Following the link proves the mailbox, but not a password set before: the session it opens is new.
        return proofs.proven(found, { how: 'magic_link', client, passwordShown: false }, { tx });
      });
      await sessions.announceRevoked(revoked);
      return user;
    },

    async confirmPassword(userId, password, client) {
      const user = await findUserById(db, userId);
      if (!user?.passwordHash) throw accountErrors.invalid_credentials('The password is wrong');
      if (isLocked(user)) throw lockedError(user.lockedUntil!);
      if (!(await verifyPassword(user.passwordHash, password))) {
        await countFailure(user, client);
        throw accountErrors.invalid_credentials('The password is wrong');
      }
      return user;
    },

    async firstFactorOnly(user, amr, client) {
      await db.transaction(async (tx) => {
        await updateUser(tx, user.id, { failedLoginCount: 0, lockedUntil: null });
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'auth.first_factor', target: { type: 'user', id: user.id }, reason: `${amr.join('+')}; second factor due`, context: client });
      });
    },

    async complete(user, amr, client, action, options = {}) {
      const password = options.password;
      const rehash = password && user.passwordHash && needsRehash(user.passwordHash) ? await hashPassword(password) : null;
      // Outside the transaction: the enrolment check reads through `db` (on PGlite it would wait for the transaction forever).
      const mustEnrol = await sessions.mustEnrol(user);
      return db.transaction(async (tx) => {
        const fresh = (await updateUser(tx, user.id, {
          failedLoginCount: 0,
          lockedUntil: null,
          lastLoginAt: new Date(),
          ...(rehash ? { passwordHash: rehash } : {}),
        }))!;
        const tokens = await sessions.start(fresh, { amr, client, mustEnrol }, { tx });
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action, target: { type: 'session', id: tokens.session.id }, context: client });
        const isNewDevice = await rememberDevice(tx, user.id, deviceFingerprint(client.userAgent));
        if (isNewDevice && (await countDevices(tx, user.id)) > 1) {
          await mail.send({ to: user.email, template: 'accounts.new_sign_in', data: { at: new Date().toISOString(), ip: client.ip, device: tokens.session.device } }, { tx });
        }
        return tokens;
      });
    },
  };
  return service;
}
