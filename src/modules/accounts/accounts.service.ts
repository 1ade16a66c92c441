import type { ClientInfo } from '../../platform/http/client.js';
import { randomInt } from 'node:crypto';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Audit, AuditEntry, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { hashPassword, needsRehash, verifyPassword } from '../../platform/crypto/passwords.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, safeEqual, sha256 } from '../../platform/crypto/tokens.js';
import type { AppError } from '../../platform/http/errors.js';
import { accountErrors } from './accounts.errors.js';
import {
  consumeOneTimeToken, countDevices, findActiveEmailChangeToken, findActiveOneTimeToken, findUserByEmail, findUserById, insertOneTimeToken,
  insertUser, recordCodeAttempt, recordFailedLogin, rememberDevice, retireOneTimeTokens,
  updateUser, useOneTimeToken, type TokenPurpose, type UserRow,
} from './accounts.queries.js';
import type { IssuedTokens, SessionService } from './accounts.sessions.js';
import { checkPassword, type PasswordPolicy } from './password-policy.js';
import { deviceFingerprint } from './device.js';

export interface AccountSettings {
  lockoutThreshold: number;
  lockoutDurationSeconds: number;
  allowUnverifiedLogin: boolean;
  passwordPolicy: PasswordPolicy;
}

export interface SignupInput {
  email: string;
  password: string;
  name?: string | null;
}

export interface ProfileChanges {
  name?: string | null;
  locale?: string | null;
  timezone?: string | null;
}

/** What a sign-in answers when the account has a second factor: the first step only. */
export interface MfaChallenge {
  mfaRequired: true;
  /** Short-lived (5 min), single-purpose: useless as an access token. */
  mfaToken: string;
  methods: string[];
  /** When the user has passkeys: request options for `navigator.credentials.get`. */
  passkeyOptions?: Record<string, unknown>;
}

/** The MFA module plugs in here: given a user who passed the first factor, is a second one due? */
export interface SecondFactorGate {
  /** `firstFactorAmr`: how the first factor was passed (`pwd`, `email`, `hwk`), carried into the final amr. */
  challenge(user: UserRow, client: ClientInfo, firstFactorAmr?: string[]): Promise<MfaChallenge | null>;
}

export interface AccountsService {
  /** Creates the account and mails a verification; for a taken address answers the same and mails the owner. */
  signup(input: SignupInput, client: ClientInfo): Promise<UserRow>;
  verifyEmail(input: { token: string } | { email: string; code: string }, client: ClientInfo): Promise<UserRow>;
  resendVerification(email: string): Promise<void>;
  login(input: { email: string; password: string }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge>;
  requestMagicLink(email: string, client: ClientInfo): Promise<void>;
  signInWithMagicLink(token: string, client: ClientInfo): Promise<IssuedTokens | MfaChallenge>;
  /** Completes a sign-in whose factors were checked elsewhere (MFA, passkeys): starts the session. */
  signIn(user: UserRow, amr: string[], client: ClientInfo, action: string): Promise<IssuedTokens>;
  /** A sign-in whose one factor was checked elsewhere: the MFA challenge when one is due, else the session. */
  signInFirstFactor(user: UserRow, amr: string[], client: ClientInfo, action: string): Promise<IssuedTokens | MfaChallenge>;
  /** The user when the password is theirs (wrong ones count toward the lockout); else 401 or 423. */
  confirmPassword(userId: string, password: string, client: ClientInfo): Promise<UserRow>;
  /** Installs the second-factor check of sign-ins (the MFA module). */
  setSecondFactorGate(gate: SecondFactorGate): void;
  forgotPassword(email: string, client: ClientInfo): Promise<void>;
  resetPassword(token: string, password: string, client: ClientInfo): Promise<void>;
  getUser(userId: string): Promise<UserRow | null>;
  updateProfile(userId: string, changes: ProfileChanges, client: ClientInfo): Promise<UserRow>;
  changePassword(userId: string, sessionId: string | null, input: { currentPassword: string; newPassword: string }, client: ClientInfo): Promise<void>;
  requestEmailChange(userId: string, input: { newEmail: string; password: string }, client: ClientInfo): Promise<void>;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,253}$/;
const VERIFY_TTL_HOURS = 24;
const MAGIC_LINK_TTL_MINUTES = 15;
const RESET_TTL_MINUTES = 60;
const MAX_CODE_ATTEMPTS = 5;
/** One mail of a kind per address per minute: resend, magic link, forgot password. */
const MAIL_THROTTLE_SECONDS = 60;

export function normaliseEmail(email: string): string {
  const trimmed = email.trim();
  if (!EMAIL.test(trimmed) || trimmed.length > 254) throw accountErrors.invalid_email(`${JSON.stringify(trimmed.slice(0, 80))} is not an email address`);
  return trimmed;
}

function sixDigitCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

function profileProblems(changes: ProfileChanges): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (changes.timezone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: changes.timezone });
    } catch {
      problems.push({ path: 'body.timezone', message: 'is not an IANA time zone (e.g. Europe/Paris)' });
    }
  }
  if (changes.locale) {
    try {
      Intl.getCanonicalLocales(changes.locale);
    } catch {
      problems.push({ path: 'body.locale', message: 'is not a BCP 47 language tag (e.g. en-GB)' });
    }
  }
  return problems;
}

export function createAccountsService(deps: {
  db: Database;
  cache: Cache;
  audit: Audit;
  events: Events;
  mail: Mail;
  sessions: SessionService;
  settings: AccountSettings;
}): AccountsService {
  const { db, cache, audit, events, mail, sessions, settings } = deps;
  let dummyHash: Promise<string> | undefined;
  let gate: SecondFactorGate | undefined;

  /** After the first factor: the MFA challenge when one is due, else the session. */
  async function firstFactorPassed(user: UserRow, password: string | null, amr: string[], client: ClientInfo, action: string): Promise<IssuedTokens | MfaChallenge> {
    const challenge = gate ? await gate.challenge(user, client, amr) : null;
    if (!challenge) return completeSignIn(user, password, amr, client, action);
    await db.transaction(async (tx) => {
      await updateUser(tx, user.id, { failedLoginCount: 0, lockedUntil: null });
      await audit.record(tx, auditEntry({ actor: { type: 'user', id: user.id, display: user.email }, action: 'auth.first_factor', target: { type: 'user', id: user.id }, reason: `${amr.join('+')}; second factor due` }, client));
    });
    return challenge;
  }

  function assertPasswordPolicy(password: string, email: string): void {
    const problems = checkPassword(password, { email, policy: settings.passwordPolicy });
    if (problems.length > 0) {
      throw accountErrors.weak_password(`The password ${problems.map((p) => p.message).join('; ')}`, {
        errors: problems.map((p) => ({ path: 'body.password', rule: p.rule, message: p.message })),
      });
    }
  }

  /** True at most once per window per key: throttles mails without telling the caller. */
  async function firstInWindow(key: string): Promise<boolean> {
    try {
      return await cache.set(`mail-throttle:${key}`, '1', { ttlSeconds: MAIL_THROTTLE_SECONDS, onlyIfAbsent: true });
    } catch {
      return true;
    }
  }

  async function issueToken(tx: DbHandle, user: UserRow, purpose: TokenPurpose, ttlSeconds: number, extra: { code?: string; email?: string } = {}): Promise<string> {
    await retireOneTimeTokens(tx, user.id, purpose);
    const id = newId('ott');
    const token = randomToken(32);
    await insertOneTimeToken(tx, {
      id,
      userId: user.id,
      purpose,
      tokenHash: sha256(token),
      codeHash: extra.code ? sha256(`${id}:${extra.code}`) : null,
      email: extra.email ?? user.email,
      expiresAt: new Date(Date.now() + ttlSeconds * 1000),
    });
    return token;
  }

  async function sendVerification(tx: DbHandle, user: UserRow): Promise<void> {
    const code = sixDigitCode();
    const token = await issueToken(tx, user, 'verify_email', VERIFY_TTL_HOURS * 3600, { code });
    await mail.send({ to: user.email, template: 'accounts.verify_email', data: { token, code, expires_hours: VERIFY_TTL_HOURS, name: user.name } }, { tx });
  }

  function auditEntry(entry: Omit<AuditEntry, 'context'>, client: ClientInfo): AuditEntry {
    return { ...entry, context: client };
  }

  async function markVerified(tx: DbHandle, user: UserRow, client: ClientInfo): Promise<UserRow> {
    if (user.emailVerified) return user;
    const updated = (await updateUser(tx, user.id, { emailVerified: true }))!;
    await audit.record(tx, auditEntry({ actor: { type: 'user', id: user.id, display: user.email }, action: 'user.email_verified', target: { type: 'user', id: user.id } }, client));
    await events.publish(tx, { type: 'user.email_verified', data: { id: user.id, email: user.email } });
    return updated;
  }

  async function applyEmailChange(tx: DbHandle, user: UserRow, newEmail: string, client: ClientInfo): Promise<UserRow> {
    const holder = await findUserByEmail(tx, newEmail);
    if (holder && holder.id !== user.id) throw accountErrors.email_taken('Another account now uses this address');
    const updated = (await updateUser(tx, user.id, { email: newEmail, emailVerified: true }))!;
    await audit.record(tx, auditEntry({
      actor: { type: 'user', id: user.id, display: user.email },
      action: 'user.email_changed',
      target: { type: 'user', id: user.id },
      changes: { email: { before: user.email, after: newEmail } },
    }, client));
    await events.publish(tx, { type: 'user.updated', data: { id: user.id, changes: ['email'] } });
    await mail.send({ to: user.email, template: 'accounts.email_changed', data: { new_email: newEmail, at: new Date().toISOString() } }, { tx });
    return updated;
  }

  /** After a successful first factor: clears the failure count, upgrades the hash, notes the device. */
  async function completeSignIn(user: UserRow, password: string | null, amr: string[], client: ClientInfo, action: string): Promise<IssuedTokens> {
    const rehash = password && user.passwordHash && needsRehash(user.passwordHash) ? await hashPassword(password) : null;
    // Outside the transaction: the enrolment check reads through `db` (on PGlite it would wait for the transaction forever).
    const mustEnrol = await sessions.mustEnrol(user);
    const issued = await db.transaction(async (tx) => {
      const fresh = (await updateUser(tx, user.id, {
        failedLoginCount: 0,
        lockedUntil: null,
        lastLoginAt: new Date(),
        ...(rehash ? { passwordHash: rehash } : {}),
      }))!;
      const tokens = await sessions.start(fresh, { amr, client, mustEnrol }, tx);
      await audit.record(tx, auditEntry({
        actor: { type: 'user', id: user.id, display: user.email },
        action,
        target: { type: 'session', id: tokens.session.id },
      }, client));
      const isNewDevice = await rememberDevice(tx, user.id, deviceFingerprint(client.userAgent));
      if (isNewDevice && (await countDevices(tx, user.id)) > 1) {
        await mail.send({
          to: user.email,
          template: 'accounts.new_sign_in',
          data: { at: new Date().toISOString(), ip: client.ip, device: tokens.session.device },
        }, { tx });
      }
      return tokens;
    });
    return issued;
  }

  /**
   * Mails a one-time link (magic link, password reset) to an existing account, at most once a minute
   * per account; an unknown address gets nothing, and the caller answers 202 either way.
   */
  async function mailOneTimeLink(
    email: string,
    link: { purpose: 'magic_link' | 'password_reset'; minutes: number; template: string; action: string },
    client: ClientInfo,
  ): Promise<void> {
    const user = await findUserByEmail(db, email.trim());
    if (!user || !(await firstInWindow(`${link.purpose}:${user.id}`))) return;
    await db.transaction(async (tx) => {
      const token = await issueToken(tx, user, link.purpose, link.minutes * 60);
      await mail.send({ to: user.email, template: link.template, data: { token, expires_minutes: link.minutes } }, { tx });
      await audit.record(tx, auditEntry({ actor: { type: 'user', id: user.id, display: user.email }, action: link.action, target: { type: 'user', id: user.id } }, client));
    });
  }

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
      await audit.record(tx, auditEntry({ actor: { type: 'system' }, action: 'auth.lockout', target: { type: 'user', id: user.id }, reason: `${settings.lockoutThreshold} failed password attempts` }, client));
      await mail.send({
        to: user.email,
        template: 'accounts.account_locked',
        data: { minutes: Math.ceil(settings.lockoutDurationSeconds / 60), until: after.lockedUntil!.toISOString() },
      }, { tx });
    });
    throw lockedError(after.lockedUntil);
  }

  /**
   * The user, when `password` is theirs; otherwise 401 invalid_credentials with `detail`. Wrong
   * passwords count toward the lockout, so a stolen access token is no way to guess the password.
   */
  async function userWithPassword(userId: string, password: string, detail: string, client: ClientInfo): Promise<UserRow> {
    const user = await findUserById(db, userId);
    if (!user?.passwordHash) throw accountErrors.invalid_credentials(detail);
    if (isLocked(user)) throw lockedError(user.lockedUntil!);
    if (!(await verifyPassword(user.passwordHash, password))) {
      await countFailure(user, client);
      throw accountErrors.invalid_credentials(detail);
    }
    return user;
  }

  const service: AccountsService = {
    async signup(input, client) {
      const email = normaliseEmail(input.email);
      assertPasswordPolicy(input.password, email);
      // Hash before looking: a taken address costs the same time as a new one.
      const passwordHash = await hashPassword(input.password);
      return db.transaction(async (tx) => {
        const existing = await findUserByEmail(tx, email);
        if (existing) {
          await mail.send({ to: existing.email, template: 'accounts.signup_existing', data: {} }, { tx });
          await audit.record(tx, auditEntry({ actor: { type: 'user', display: email }, action: 'user.signup_existing', target: { type: 'user', id: existing.id }, result: 'failure', reason: 'email already registered' }, client));
          // The answer a new account would get, for an account that does not exist.
          const now = new Date();
          return { ...existing, id: newId('usr'), email, name: input.name ?? null, emailVerified: false, locale: null, timezone: null, createdAt: now, updatedAt: now };
        }
        const user = await insertUser(tx, { id: newId('usr'), email, passwordHash, name: input.name ?? null, passwordChangedAt: new Date() });
        await audit.record(tx, auditEntry({ actor: { type: 'user', id: user.id, display: email }, action: 'user.signed_up', target: { type: 'user', id: user.id } }, client));
        await events.publish(tx, { type: 'user.created', data: { id: user.id, email: user.email, name: user.name } });
        await sendVerification(tx, user);
        return user;
      });
    },

    async verifyEmail(input, client) {
      if ('token' in input) {
        return db.transaction(async (tx) => {
          const row = await consumeOneTimeToken(tx, sha256(input.token), ['verify_email', 'email_change']);
          if (!row) throw accountErrors.invalid_link();
          const user = await findUserById(tx, row.userId);
          if (!user) throw accountErrors.invalid_link();
          if (row.purpose === 'email_change') return applyEmailChange(tx, user, row.email!, client);
          // A verification mailed to an address the account no longer has proves nothing.
          if (row.email?.toLowerCase() !== user.email.toLowerCase()) throw accountErrors.invalid_link();
          return markVerified(tx, user, client);
        });
      }
      // The code confirms either an account's own address or the new address of an email change.
      const email = input.email.trim();
      const owner = await findUserByEmail(db, email);
      const row =
        (owner ? await findActiveOneTimeToken(db, owner.id, 'verify_email') : null) ?? (await findActiveEmailChangeToken(db, email));
      const user = row ? (owner?.id === row.userId ? owner : await findUserById(db, row.userId)) : null;
      if (!user || !row?.codeHash) throw accountErrors.invalid_code();
      if (!safeEqual(row.codeHash, sha256(`${row.id}:${input.code}`))) {
        await recordCodeAttempt(db, row.id, MAX_CODE_ATTEMPTS);
        throw accountErrors.invalid_code();
      }
      return db.transaction(async (tx) => {
        if (!(await useOneTimeToken(tx, row.id))) throw accountErrors.invalid_code();
        return row.purpose === 'email_change' ? applyEmailChange(tx, user, row.email!, client) : markVerified(tx, user, client);
      });
    },

    async resendVerification(email) {
      const user = await findUserByEmail(db, email.trim());
      if (!user || user.emailVerified) return;
      if (!(await firstInWindow(`verify:${user.id}`))) return;
      await db.transaction((tx) => sendVerification(tx, user));
    },

    async login(input, client) {
      const email = input.email.trim();
      const user = await findUserByEmail(db, email);
      const fail = async (reason: string, userId: string | null): Promise<void> => {
        await db.transaction((tx) =>
          audit.record(tx, auditEntry({ actor: { type: 'user', id: userId, display: email.slice(0, 254) }, action: 'auth.login', target: userId ? { type: 'user', id: userId } : null, result: 'failure', reason }, client)),
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
      return firstFactorPassed(user, input.password, ['pwd'], client, 'auth.login');
    },

    signIn: (user, amr, client, action) => completeSignIn(user, null, amr, client, action),

    signInFirstFactor: (user, amr, client, action) => firstFactorPassed(user, null, amr, client, action),

    confirmPassword: (userId, password, client) => userWithPassword(userId, password, 'The password is wrong', client),

    setSecondFactorGate(installed) {
      gate = installed;
    },

    requestMagicLink: (email, client) =>
      mailOneTimeLink(email, { purpose: 'magic_link', minutes: MAGIC_LINK_TTL_MINUTES, template: 'accounts.magic_link', action: 'auth.magic_link_requested' }, client),

    async signInWithMagicLink(token, client) {
      const user = await db.transaction(async (tx) => {
        const row = await consumeOneTimeToken(tx, sha256(token), ['magic_link']);
        if (!row) throw accountErrors.invalid_link();
        const found = await findUserById(tx, row.userId);
        if (!found || row.email?.toLowerCase() !== found.email.toLowerCase()) throw accountErrors.invalid_link();
        // Following the link proves the mailbox.
        return markVerified(tx, found, client);
      });
      return firstFactorPassed(user, null, ['email'], client, 'auth.login_magic_link');
    },

    forgotPassword: (email, client) =>
      mailOneTimeLink(email, { purpose: 'password_reset', minutes: RESET_TTL_MINUTES, template: 'accounts.password_reset', action: 'user.password_reset_requested' }, client),

    async resetPassword(token, password, client) {
      const tokenHash = sha256(token);
      const user = await db.transaction(async (tx) => {
        const row = await consumeOneTimeToken(tx, tokenHash, ['password_reset']);
        if (!row) throw accountErrors.invalid_link();
        const found = await findUserById(tx, row.userId);
        // A link mailed to an address the account no longer has (changed since) proves nothing.
        if (!found || row.email?.toLowerCase() !== found.email.toLowerCase()) throw accountErrors.invalid_link();
        assertPasswordPolicy(password, found.email);
        const passwordHash = await hashPassword(password);
        // A reset proves the mailbox and clears a lockout.
        await updateUser(tx, found.id, { passwordHash, passwordChangedAt: new Date(), failedLoginCount: 0, lockedUntil: null, emailVerified: true });
        await audit.record(tx, auditEntry({ actor: { type: 'user', id: found.id, display: found.email }, action: 'user.password_reset', target: { type: 'user', id: found.id } }, client));
        await mail.send({ to: found.email, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: client.ip, device: null } }, { tx });
        return found;
      });
      await sessions.revokeAll(user.id, 'password_reset', client);
    },

    getUser: (userId) => findUserById(db, userId),

    async updateProfile(userId, changes, client) {
      const problems = profileProblems(changes);
      if (problems.length > 0) throw accountErrors.invalid_profile(problems.map((p) => `${p.path} ${p.message}`).join('; '), { errors: problems });
      return db.transaction(async (tx) => {
        const before = await findUserById(tx, userId);
        if (!before) throw accountErrors.invalid_credentials();
        const set: ProfileChanges = {};
        const diff: Record<string, { before: unknown; after: unknown }> = {};
        for (const field of ['name', 'locale', 'timezone'] as const) {
          if (changes[field] === undefined || changes[field] === before[field]) continue;
          set[field] = changes[field];
          diff[field] = { before: before[field], after: changes[field] };
        }
        if (Object.keys(set).length === 0) return before;
        const after = (await updateUser(tx, userId, set))!;
        await audit.record(tx, auditEntry({ actor: { type: 'user', id: userId, display: before.email }, action: 'user.updated', target: { type: 'user', id: userId }, changes: diff }, client));
        await events.publish(tx, { type: 'user.updated', data: { id: userId, changes: Object.keys(diff) } });
        return after;
      });
    },

    async changePassword(userId, sessionId, input, client) {
      const user = await userWithPassword(userId, input.currentPassword, 'The current password is wrong', client);
      assertPasswordPolicy(input.newPassword, user.email);
      const passwordHash = await hashPassword(input.newPassword);
      await db.transaction(async (tx) => {
        await updateUser(tx, userId, { passwordHash, passwordChangedAt: new Date() });
        await audit.record(tx, auditEntry({ actor: { type: 'user', id: userId, display: user.email }, action: 'user.password_changed', target: { type: 'user', id: userId } }, client));
        await mail.send({ to: user.email, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: client.ip, device: null } }, { tx });
      });
      await sessions.revokeAll(userId, 'password_changed', client, sessionId ?? undefined);
    },

    async requestEmailChange(userId, input, client) {
      const newEmail = normaliseEmail(input.newEmail);
      const user = await userWithPassword(userId, input.password, 'The password is wrong', client);
      if (newEmail.toLowerCase() === user.email.toLowerCase()) return;
      // A taken address gets no mail and the same answer: the endpoint must not reveal accounts.
      if (await findUserByEmail(db, newEmail)) return;
      await db.transaction(async (tx) => {
        const code = sixDigitCode();
        const token = await issueToken(tx, user, 'email_change', VERIFY_TTL_HOURS * 3600, { code, email: newEmail });
        await mail.send({ to: newEmail, template: 'accounts.email_change', data: { token, code, new_email: newEmail, expires_hours: VERIFY_TTL_HOURS } }, { tx });
        await audit.record(tx, auditEntry({ actor: { type: 'user', id: userId, display: user.email }, action: 'user.email_change_requested', target: { type: 'user', id: userId } }, client));
      });
    },

  };
  return service;
}
