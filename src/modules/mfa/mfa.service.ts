import type { ClientInfo } from '../../platform/http/client.js';
import { createHmac, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { KeyStore } from '../../platform/crypto/keys.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, sha256 } from '../../platform/crypto/tokens.js';
import { consumeOneTimeToken, findUsableOneTimeToken, findUserByEmail, findUserById, insertOneTimeToken, retireOneTimeTokens, updateUser, type AccountsService, type IssuedTokens, type MfaChallenge, type SessionService, type UserRow } from '../accounts/index.js';
import { mfaErrors } from './mfa.errors.js';
import {
  confirmTotp, countUnusedBackupCodes, deleteBackupCodes, deleteTotp, findTotp, replaceBackupCodes, saveTotpSecret, useBackupCode, useTotpStep,
} from './mfa.queries.js';
import { matchingStep, newTotpSecret, otpauthUri } from './totp.js';

/** What MFA needs of the passkeys module (kept structural, so neither module imports the other's internals). */
export interface PasskeyVerifier {
  countFor(userId: string): Promise<number>;
  authenticationOptions(input: { userId?: string }): Promise<{ options: Record<string, unknown>; challengeId: string }>;
  verifyAuthentication(
    challengeId: string,
    response: Record<string, unknown>,
    client: ClientInfo,
    options?: { expectedUserId?: string },
  ): Promise<{ userId: string; passkeyId: string; userVerified: boolean }>;
  removeAll(userId: string): Promise<number>;
}

/** What MFA needs of the OTP service (structural, so neither module depends on the other's internals). */
export interface OtpFactor {
  /** Whether a code for this user could go out on the channel now (its own, or its fallback). */
  deliverable(channel: 'email' | 'sms', user: UserRow, options?: { fallback?: boolean }): Promise<boolean>;
  send(input: { channel: 'email' | 'sms'; to: string; purpose: 'mfa'; ip: string | null; userId: string; binding: string }): Promise<{ otpId: string; expiresAt: Date; channel: 'email' | 'sms' }>;
  check(input: { otpId: string; code: string; purpose: 'mfa'; userId: string; binding: string }): Promise<{ ok: true; channel: 'email' | 'sms' } | { ok: false }>;
}

export type OtpMethod = 'email_otp' | 'sms_otp';

export type SecondFactorInput =
  | { code: string }
  | { backup_code: string }
  | { passkey_response: Record<string, unknown>; challenge_id?: string }
  | { method: OtpMethod; otp_id: string; code: string };

export interface MfaStatus {
  totp: boolean;
  passkeys: number;
  backup_codes_remaining: number;
  enrollment_required: boolean;
}

export interface MfaService {
  status(userId: string): Promise<MfaStatus>;
  startTotp(user: UserRow): Promise<{ secret: string; otpauthUri: string; qrSvg: string }>;
  confirmTotp(user: UserRow, code: string, client: ClientInfo): Promise<string[]>;
  disableTotp(user: UserRow, client: ClientInfo): Promise<void>;
  regenerateBackupCodes(user: UserRow, client: ClientInfo): Promise<string[]>;
  /** The gate of sign-ins: a challenge when the user has a second factor. */
  challenge(user: UserRow, client: ClientInfo, firstFactorAmr?: string[]): Promise<MfaChallenge | null>;
  verify(mfaToken: string, input: SecondFactorInput, client: ClientInfo): Promise<IssuedTokens>;
  /** Sends the code of an email_otp or sms_otp second factor for this sign-in. */
  sendOtp(mfaToken: string, method: OtpMethod, client: ClientInfo): Promise<{ otpId: string; expiresAt: Date; channel: 'email' | 'sms' }>;
  requestRecovery(input: { mfaToken: string } | { email: string }, client: ClientInfo): Promise<void>;
  completeRecovery(token: string, password: string, client: ClientInfo): Promise<IssuedTokens>;
  /** Step-up: proves the user again with a password, a code or a passkey; marks the session. */
  reauthenticate(user: UserRow, sessionId: string, input: { password: string } | SecondFactorInput, client: ClientInfo): Promise<Date>;
  /** Whether the user must enrol a second factor before anything else (policy or a recovery). */
  enrollmentRequired(user: UserRow): Promise<boolean>;
}

export interface MfaSettings {
  issuer: string;
  policy: 'off' | 'all' | 'admins';
}

const MFA_TOKEN_TYPE = 'mfa+jwt';
const MFA_AUDIENCE = 'urn:tessera:mfa';
const MFA_TOKEN_TTL = 300;
const MAX_ATTEMPTS = 5;
const MAX_FAILURES_PER_USER = 10;
const FAILURE_WINDOW_SECONDS = 900;
const BACKUP_CODE_COUNT = 10;
const RECOVERY_TTL_MINUTES = 60;
const SECRET_PURPOSE = 'totp-secret';
/** Crockford-style alphabet without look-alikes: codes are typed by hand. */
const CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function newBackupCode(): string {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/** RFC 8176 values for a code by email or SMS (`otp` plus the channel that carried it). */
const OTP_AMR: Record<'email' | 'sms', string[]> = { email: ['otp', 'email'], sms: ['otp', 'sms'] };
const otpBinding = (jti: string, method: OtpMethod): string => `mfa:${jti}:${method}`;

function normaliseBackupCode(code: string): string {
  return code.trim().toLowerCase().replace(/[\s-]/g, '');
}

export function createMfaService(deps: {
  db: Database;
  cache: Cache;
  keys: KeyStore;
  box: SecretBox;
  audit: Audit;
  events: Events;
  mail: Mail;
  accounts: AccountsService;
  sessions: SessionService;
  passkeys: PasskeyVerifier;
  otp: OtpFactor;
  settings: MfaSettings;
  isPlatformAdmin(userId: string): Promise<boolean>;
}): MfaService {
  const { db, cache, keys, box, audit, events, mail, accounts, passkeys, settings } = deps;
  const backupKey = box.deriveKey('backup-codes');
  const hashBackupCode = (code: string): string => createHmac('sha256', backupKey).update(normaliseBackupCode(code)).digest('hex');

  /** The audit entry (and event) of an MFA action: in `tx` when the change has one, so both commit together. */
  async function record(user: UserRow, action: string, client: ClientInfo, extra: { result?: 'success' | 'failure'; reason?: string; event?: Record<string, unknown> } = {}, within?: DbHandle): Promise<void> {
    const write = async (tx: DbHandle): Promise<void> => {
      await audit.record(tx, {
        actor: { type: 'user', id: user.id, display: user.email },
        action,
        target: { type: 'user', id: user.id },
        result: extra.result ?? 'success',
        reason: extra.reason ?? null,
        context: client,
      });
      if (extra.event) await events.publish(tx, { type: action, data: { user_id: user.id, ...extra.event } });
    };
    await (within ? write(within) : db.transaction(write));
  }

  async function newBackupCodes(tx: DbHandle, user: UserRow): Promise<string[]> {
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
    await replaceBackupCodes(tx, user.id, codes.map((code) => ({ id: newId('ott'), codeHash: hashBackupCode(code) })));
    return codes;
  }

  async function hasSecondFactor(userId: string): Promise<{ totp: boolean; passkeys: number; backupCodes: number }> {
    const [totp, passkeyCount, backupCount] = await Promise.all([findTotp(db, userId), passkeys.countFor(userId), countUnusedBackupCodes(db, userId)]);
    return { totp: Boolean(totp?.confirmedAt), passkeys: passkeyCount, backupCodes: backupCount };
  }

  async function checkTotp(userId: string, code: string): Promise<boolean> {
    const totp = await findTotp(db, userId);
    if (!totp?.confirmedAt) return false;
    const step = matchingStep(box.open(totp.secretSealed, SECRET_PURPOSE), code);
    return step !== null && (await useTotpStep(db, userId, step));
  }

  async function checkBackupCode(user: UserRow, code: string, client: ClientInfo): Promise<boolean> {
    if (!(await useBackupCode(db, user.id, hashBackupCode(code)))) return false;
    const remaining = await countUnusedBackupCodes(db, user.id);
    await db.transaction(async (tx) => {
      await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'mfa.backup_code_used', target: { type: 'user', id: user.id }, reason: `${remaining} left`, context: client });
      await events.publish(tx, { type: 'mfa.backup_code_used', data: { user_id: user.id, remaining } });
      await mail.send({ to: user.email, template: 'mfa.backup_code_used', data: { at: new Date().toISOString(), remaining, ip: client.ip } }, { tx });
    });
    return true;
  }

  /**
   * Checks one second factor; returns the amr values it stands for, or null when it failed. Wrong
   * codes count per account across every mfa_token and step-up (`MAX_FAILURES_PER_USER` in
   * `FAILURE_WINDOW_SECONDS`): past that, even a right code is refused until the window ends, so
   * guessing from many addresses or with many mfa_tokens gets nowhere.
   */
  async function checkFactor(user: UserRow, input: SecondFactorInput, client: ClientInfo, passkeyChallenge?: string, mfaJti?: string): Promise<string[] | null> {
    const failures = `mfa:failures:${user.id}`;
    if (Number((await cache.get(failures)) ?? 0) >= MAX_FAILURES_PER_USER) {
      throw mfaErrors.too_many_attempts(`Too many wrong codes for this account; try again in ${FAILURE_WINDOW_SECONDS / 60} minutes`, undefined, {
        'retry-after': String(FAILURE_WINDOW_SECONDS),
      });
    }
    let factor: string[] | null;
    if ('otp_id' in input) {
      // Only within a sign-in: the code is bound to the mfa_token it was sent for (and its method).
      const result = mfaJti ? await deps.otp.check({ otpId: input.otp_id, code: input.code, purpose: 'mfa', userId: user.id, binding: otpBinding(mfaJti, input.method) }) : null;
      factor = result?.ok ? OTP_AMR[result.channel] : null;
    } else if ('code' in input) factor = (await checkTotp(user.id, input.code)) ? ['otp'] : null;
    else if ('backup_code' in input) factor = (await checkBackupCode(user, input.backup_code, client)) ? ['backup_code'] : null;
    else {
      const challengeId = input.challenge_id ?? passkeyChallenge;
      if (!challengeId) return null;
      const result = await passkeys.verifyAuthentication(challengeId, input.passkey_response, client, { expectedUserId: user.id });
      return result.userVerified ? ['hwk', 'user'] : ['hwk'];
    }
    if (!factor) await cache.incr(failures, FAILURE_WINDOW_SECONDS);
    return factor;
  }

  /**
   * The email_otp and sms_otp methods a user can use in this sign-in: a verified address or number
   * the code can reach now, and not the mailbox that was the first factor (a magic link).
   */
  async function otpMethods(user: UserRow, firstFactorAmr: string[]): Promise<OtpMethod[]> {
    const methods: OtpMethod[] = [];
    if (user.emailVerified && !firstFactorAmr.includes('email') && (await deps.otp.deliverable('email', user))) methods.push('email_otp');
    // After a magic link, an SMS code that would fall back to email is the same mailbox again: SMS only.
    if (user.phoneVerified && user.phone && (await deps.otp.deliverable('sms', user, { fallback: !firstFactorAmr.includes('email') }))) methods.push('sms_otp');
    return methods;
  }

  /** The mfa_token's claims, or 401 when it is invalid, expired or spent. */
  async function mfaClaims(mfaToken: string): Promise<{ claims: Awaited<ReturnType<KeyStore['verify']>>; jti: string; user: UserRow }> {
    let claims;
    try {
      claims = await keys.verify(mfaToken, { audience: MFA_AUDIENCE, type: MFA_TOKEN_TYPE });
    } catch {
      throw mfaErrors.invalid_mfa_token();
    }
    const jti = String(claims.jti);
    if (await cache.get(`mfa:dead:${jti}`)) throw mfaErrors.invalid_mfa_token('Too many wrong codes or already used: sign in again');
    const user = claims.sub ? await findUserById(db, claims.sub) : null;
    if (!user) throw mfaErrors.invalid_mfa_token();
    return { claims, jti, user };
  }

  async function policyRequires(user: UserRow): Promise<boolean> {
    return settings.policy === 'all' || (settings.policy === 'admins' && (await deps.isPlatformAdmin(user.id)));
  }

  const service: MfaService = {
    async status(userId) {
      const user = await findUserById(db, userId);
      const factors = await hasSecondFactor(userId);
      return {
        totp: factors.totp,
        passkeys: factors.passkeys,
        backup_codes_remaining: factors.backupCodes,
        enrollment_required: user ? await service.enrollmentRequired(user) : false,
      };
    },

    async startTotp(user) {
      const secret = newTotpSecret();
      if (!(await saveTotpSecret(db, user.id, box.seal(secret, SECRET_PURPOSE)))) throw mfaErrors.totp_already_enabled();
      const uri = otpauthUri(secret, settings.issuer, user.email);
      return { secret, otpauthUri: uri, qrSvg: await QRCode.toString(uri, { type: 'svg', margin: 1 }) };
    },

    async confirmTotp(user, code, client) {
      const totp = await findTotp(db, user.id);
      if (!totp) throw mfaErrors.totp_not_started();
      if (totp.confirmedAt) throw mfaErrors.totp_already_enabled();
      const step = matchingStep(box.open(totp.secretSealed, SECRET_PURPOSE), code);
      const codes = step === null ? null : await db.transaction(async (tx) => {
        if (!(await confirmTotp(tx, user.id, step))) return null;
        const fresh = await newBackupCodes(tx, user);
        await record(user, 'mfa.enabled', client, { event: { factor: 'totp' } }, tx);
        return fresh;
      });
      if (!codes) {
        await record(user, 'mfa.verification_failed', client, { result: 'failure', reason: 'wrong code at TOTP enrolment' });
        throw mfaErrors.invalid_mfa_code();
      }
      return codes;
    },

    async disableTotp(user, client) {
      const factors = await hasSecondFactor(user.id);
      if (!factors.totp) throw mfaErrors.totp_not_enabled();
      if (factors.passkeys === 0 && (await policyRequires(user))) {
        throw mfaErrors.mfa_required_by_policy('A second factor is required for this account: add a passkey before removing the app');
      }
      const noPasskeys = (await passkeys.countFor(user.id)) === 0;
      await db.transaction(async (tx) => {
        if (!(await deleteTotp(tx, user.id))) throw mfaErrors.totp_not_enabled();
        if (noPasskeys) await deleteBackupCodes(tx, user.id);
        await record(user, 'mfa.disabled', client, { event: { factor: 'totp' } }, tx);
      });
    },

    async regenerateBackupCodes(user, client) {
      const factors = await hasSecondFactor(user.id);
      if (!factors.totp && factors.passkeys === 0) throw mfaErrors.no_second_factor();
      return db.transaction(async (tx) => {
        const codes = await newBackupCodes(tx, user);
        await record(user, 'mfa.backup_codes_regenerated', client, {}, tx);
        return codes;
      });
    },

    async challenge(user, _client, firstFactorAmr = ['pwd']) {
      // On every sign-in: two look-ups for the common account without a second factor, three with one.
      const [totp, passkeyCount] = await Promise.all([findTotp(db, user.id), passkeys.countFor(user.id)]);
      const methods: string[] = [];
      if (totp?.confirmedAt) methods.push('totp');
      if (passkeyCount > 0) methods.push('passkey');
      // Email and SMS codes are alternatives once a TOTP app or passkey is enrolled, never the reason for a challenge.
      if (methods.length === 0) return null;
      methods.push(...(await otpMethods(user, firstFactorAmr)));
      if ((await countUnusedBackupCodes(db, user.id)) > 0) methods.push('backup_code');
      const factors = { passkeys: passkeyCount };
      const passkey = factors.passkeys > 0 ? await passkeys.authenticationOptions({ userId: user.id }) : null;
      const mfaToken = await keys.sign(
        { jti: randomToken(16), amr: firstFactorAmr, ...(passkey ? { pkc: passkey.challengeId } : {}) },
        { subject: user.id, audience: MFA_AUDIENCE, expiresInSeconds: MFA_TOKEN_TTL, type: MFA_TOKEN_TYPE },
      );
      return { mfaRequired: true, mfaToken, methods, ...(passkey ? { passkeyOptions: { ...passkey.options, challenge_id: passkey.challengeId } } : {}) };
    },

    async sendOtp(mfaToken, method, client) {
      const { claims, jti, user } = await mfaClaims(mfaToken);
      const firstFactor = Array.isArray(claims.amr) ? claims.amr.map(String) : ['pwd'];
      if (!(await otpMethods(user, firstFactor)).includes(method)) {
        throw mfaErrors.mfa_method_unavailable(
          method === 'email_otp' ? 'Email codes need a verified address that was not the first factor, and email delivery' : 'SMS codes need a verified phone number (POST /v1/me/phone) and SMS delivery',
        );
      }
      const channel = method === 'email_otp' ? 'email' : 'sms';
      const to = method === 'email_otp' ? user.email : user.phone!;
      return deps.otp.send({ channel, to, purpose: 'mfa', ip: client.ip, userId: user.id, binding: otpBinding(jti, method) });
    },

    async verify(mfaToken, input, client) {
      const { claims, jti, user } = await mfaClaims(mfaToken);
      let factor: string[] | null;
      try {
        factor = await checkFactor(user, input, client, typeof claims.pkc === 'string' ? claims.pkc : undefined, jti);
        // A code that reached the mailbox which was already the first factor proves nothing new.
        if (factor?.includes('email') && Array.isArray(claims.amr) && claims.amr.includes('email')) factor = null;
      } catch (error) {
        factor = null;
        if (!('passkey_response' in input)) throw error;
      }
      if (!factor) {
        const { value } = await cache.incr(`mfa:attempts:${jti}`, MFA_TOKEN_TTL);
        await record(user, 'mfa.verification_failed', client, { result: 'failure', reason: `attempt ${value} of ${MAX_ATTEMPTS}` });
        if (value >= MAX_ATTEMPTS) {
          await cache.set(`mfa:dead:${jti}`, '1', { ttlSeconds: MFA_TOKEN_TTL });
          throw mfaErrors.invalid_mfa_token('Too many wrong codes: sign in again');
        }
        throw mfaErrors.invalid_mfa_code('otp_id' in input ? 'The code is wrong, expired or already used: request a new one if it keeps failing' : undefined);
      }
      // Single use: of two requests with one mfa_token, one signs in.
      if (!(await cache.set(`mfa:dead:${jti}`, '1', { ttlSeconds: MFA_TOKEN_TTL, onlyIfAbsent: true }))) throw mfaErrors.invalid_mfa_token();
      const firstFactor = Array.isArray(claims.amr) ? claims.amr.map(String) : ['pwd'];
      return accounts.signIn(user, [...new Set([...firstFactor, ...factor, 'mfa'])], client, 'auth.login_mfa');
    },

    async requestRecovery(input, client) {
      let user: UserRow | null = null;
      if ('mfaToken' in input) {
        try {
          const claims = await keys.verify(input.mfaToken, { audience: MFA_AUDIENCE, type: MFA_TOKEN_TYPE });
          user = claims.sub ? await findUserById(db, claims.sub) : null;
        } catch {
          throw mfaErrors.invalid_mfa_token();
        }
      } else {
        user = await findUserByEmail(db, input.email.trim());
      }
      // Nothing for an unknown address or an account without a second factor: the answer is 202 anyway.
      if (!user) return;
      const factors = await hasSecondFactor(user.id);
      if (!factors.totp && factors.passkeys === 0) return;
      if (!(await cache.set(`mail-throttle:mfa_recovery:${user.id}`, '1', { ttlSeconds: 60, onlyIfAbsent: true }))) return;
      const found = user;
      await db.transaction(async (tx) => {
        await retireOneTimeTokens(tx, found.id, 'mfa_recovery');
        const token = randomToken(32);
        await insertOneTimeToken(tx, {
          id: newId('ott'),
          userId: found.id,
          purpose: 'mfa_recovery',
          tokenHash: sha256(token),
          email: found.email,
          expiresAt: new Date(Date.now() + RECOVERY_TTL_MINUTES * 60_000),
        });
        await mail.send({ to: found.email, template: 'mfa.recovery', data: { token, expires_minutes: RECOVERY_TTL_MINUTES } }, { tx });
        await audit.record(tx, { actor: { type: 'user', id: found.id, display: found.email }, action: 'mfa.recovery_requested', target: { type: 'user', id: found.id }, context: client });
      });
    },

    async completeRecovery(token, password, client) {
      // The password first (wrong ones count toward the lockout), so a typo does not burn the link.
      const pending = await findUsableOneTimeToken(db, sha256(token), ['mfa_recovery']);
      if (!pending) throw mfaErrors.recovery_invalid();
      const user = await accounts.confirmPassword(pending.userId, password, client);
      if (pending.email?.toLowerCase() !== user.email.toLowerCase()) throw mfaErrors.recovery_invalid();
      // Of two uses of one link, one wins.
      if (!(await db.transaction((tx) => consumeOneTimeToken(tx, sha256(token), ['mfa_recovery'])))) throw mfaErrors.recovery_invalid();
      // The duty to enrol again and the removal of the factors go together; passkeys follow (a crash
      // in between leaves passkeys, which then count as the new enrolment: never an account without both).
      await db.transaction(async (tx) => {
        await updateUser(tx, user.id, { mfaReenrollRequired: true });
        await deleteTotp(tx, user.id);
        await deleteBackupCodes(tx, user.id);
      });
      const removedPasskeys = await passkeys.removeAll(user.id);
      // Whoever holds the lost device's sessions is signed out.
      await deps.sessions.revokeAll(user.id, 'mfa_recovery', client);
      await db.transaction(async (tx) => {
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'mfa.recovery_used', target: { type: 'user', id: user.id }, reason: `second factors removed (${removedPasskeys} passkeys)`, context: client });
        await events.publish(tx, { type: 'mfa.recovery_used', data: { user_id: user.id } });
        await mail.send({ to: user.email, template: 'mfa.recovery_used', data: { at: new Date().toISOString(), ip: client.ip } }, { tx });
      });
      return accounts.signIn({ ...user, mfaReenrollRequired: true }, ['pwd', 'recovery'], client, 'auth.login_recovery');
    },

    async reauthenticate(user, sessionId, input, client) {
      let ok: boolean;
      if ('password' in input) {
        await accounts.confirmPassword(user.id, input.password, client);
        ok = true;
      } else {
        ok = (await checkFactor(user, input, client)) !== null;
      }
      if (!ok) {
        await record(user, 'auth.reauthentication_failed', client, { result: 'failure' });
        throw mfaErrors.reauthentication_failed();
      }
      await deps.sessions.markReauthenticated(sessionId);
      await record(user, 'auth.reauthenticated', client);
      return new Date();
    },

    async enrollmentRequired(user) {
      const required = user.mfaReenrollRequired || (await policyRequires(user));
      if (!required) return false;
      const factors = await hasSecondFactor(user.id);
      const enrolled = factors.totp || factors.passkeys > 0;
      // A recovered account that enrolled again is done with its recovery.
      if (enrolled && user.mfaReenrollRequired) await updateUser(db, user.id, { mfaReenrollRequired: false });
      return !enrolled;
    },
  };
  return service;
}
