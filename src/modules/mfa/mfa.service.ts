import type { ClientInfo } from '../../platform/http/client.js';
import { createHmac, randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Jobs } from '../../platform/jobs/jobs.js';
import type { KeyStore } from '../../platform/crypto/keys.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken } from '../../platform/crypto/tokens.js';
import type { MfaChallenge, OneTimeLinks, SessionService, SignInService, UserDirectory, UserRow } from '../accounts/index.js';
import { mfaErrors } from './mfa.errors.js';
import type { EnrolmentCheck, MfaPolicy } from './mfa.policy.service.js';
import {
  claimMfaToken, confirmTotp, countUnusedBackupCodes, deleteBackupCodes, deleteTotp, findTotp, replaceBackupCodes, saveTotpSecret, useBackupCode, useTotpStep,
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
  removeAll(userId: string, client: ClientInfo): Promise<number>;
}

/** What MFA needs of the OTP service (structural, so neither module depends on the other's internals). */
export interface OtpFactor {
  /** Whether a code for this user could go out on the channel now (its own, or its fallback). */
  deliverable(channel: 'email' | 'sms', user: UserRow, options?: { fallback?: boolean }): Promise<boolean>;
  send(input: { channel: 'email' | 'sms'; to: string; purpose: 'mfa'; ip: string | null; userId: string; binding: string; fallback?: boolean }): Promise<{ otpId: string; expiresAt: Date; channel: 'email' | 'sms' }>;
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
  /** The second step of a sign-in: the user and the amr of both steps; the caller (the sign-in flow) opens the session. */
  verify(mfaToken: string, input: SecondFactorInput, client: ClientInfo): Promise<VerifiedSignIn>;
  /** Sends the code of an email_otp or sms_otp second factor for this sign-in. */
  sendOtp(mfaToken: string, method: OtpMethod, client: ClientInfo): Promise<{ otpId: string; expiresAt: Date; channel: 'email' | 'sms' }>;
  /**
   * Lost the second factor: queues the mailing of a recovery link. The request does the same work
   * for every address (a verified mfa_token, or any address, then one job); the job looks the account
   * up and mails a link only to one with a second factor.
   */
  requestRecovery(input: { mfaToken: string } | { email: string }, client: ClientInfo): Promise<void>;
  /** Uses a recovery link with the password: removes the second factors and ends every session; the caller opens the new one. */
  completeRecovery(token: string, password: string, client: ClientInfo): Promise<VerifiedSignIn>;
  /** Step-up: proves the user again with a password, a code or a passkey; marks the session. */
  reauthenticate(user: UserRow, sessionId: string, input: { password: string } | SecondFactorInput, client: ClientInfo): Promise<Date>;
}

/** A sign-in whose factors passed: who, and how (RFC 8176 amr values). */
export interface VerifiedSignIn {
  user: UserRow;
  amr: string[];
}

export interface MfaSettings {
  issuer: string;
}

/** The job that mails an MFA recovery link (deferred, so the request answers alike for every address). */
export const RECOVERY_QUEUE = 'mfa.recovery';

export interface RecoveryJob {
  /** The account: from a verified mfa_token ... */
  userId?: string;
  /** ... or as typed. */
  email?: string;
  client: ClientInfo;
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

/** Rolls back a transaction whose factor did not pass (the mfa_token it claimed stays unspent). */
class FactorRefused extends Error {}

export function createMfaService(deps: {
  db: Database;
  cache: Cache;
  jobs: Jobs;
  keys: KeyStore;
  box: SecretBox;
  audit: Audit;
  events: Events;
  mail: Mail;
  users: UserDirectory;
  /** Recovery links are one-time links of the accounts module. */
  links: OneTimeLinks;
  signIn: Pick<SignInService, 'confirmPassword'>;
  sessions: Pick<SessionService, 'revokeAll' | 'markReauthenticated'>;
  passkeys: PasskeyVerifier;
  otp: OtpFactor;
  policy: MfaPolicy;
  enrolment: EnrolmentCheck;
  settings: MfaSettings;
}): MfaService {
  const { db, cache, keys, box, audit, events, mail, users, links, passkeys, policy, settings } = deps;
  const backupKey = box.deriveKey('backup-codes');
  const hashBackupCode = (code: string): string => createHmac('sha256', backupKey).update(normaliseBackupCode(code)).digest('hex');

  /** The audit entry (and event) of an MFA action: in `options.tx` when the change has one, so both commit together. */
  async function record(
    user: UserRow,
    action: string,
    client: ClientInfo,
    extra: { result?: 'success' | 'failure'; reason?: string; event?: Record<string, unknown> } = {},
    options: { tx?: DbHandle } = {},
  ): Promise<void> {
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
    await (options.tx ? write(options.tx) : db.transaction(write));
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

  async function checkTotp(userId: string, code: string, handle: DbHandle): Promise<boolean> {
    const totp = await findTotp(handle, userId);
    if (!totp?.confirmedAt) return false;
    const step = matchingStep(box.open(totp.secretSealed, SECRET_PURPOSE), code);
    return step !== null && (await useTotpStep(handle, userId, step));
  }

  /** After a backup code was spent (committed): the audit entry, the event and the notice to the owner. */
  async function backupCodeUsed(user: UserRow, client: ClientInfo): Promise<void> {
    const remaining = await countUnusedBackupCodes(db, user.id);
    await db.transaction(async (tx) => {
      await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'mfa.backup_code_used', target: { type: 'user', id: user.id }, reason: `${remaining} left`, context: client });
      await events.publish(tx, { type: 'mfa.backup_code_used', data: { user_id: user.id, remaining } });
      await mail.send({ to: user.email, template: 'mfa.backup_code_used', data: { at: new Date().toISOString(), remaining, ip: client.ip } }, { tx });
    });
  }

  /** Wrong codes count per account across every mfa_token and step-up: past the limit, even a right code is refused until the window ends. */
  async function assertNotThrottled(user: UserRow): Promise<void> {
    const key = `mfa:failures:${user.id}`;
    if (Number((await cache.get(key)) ?? 0) >= MAX_FAILURES_PER_USER) {
      // The time left in the window (adding 0 reads its time to live and counts nothing), so a page can show it.
      const { ttlMs } = await cache.incr(key, FAILURE_WINDOW_SECONDS, 0);
      const retryAfter = Math.min(FAILURE_WINDOW_SECONDS, Math.max(1, Math.ceil(ttlMs / 1000)));
      throw mfaErrors.too_many_attempts(`Too many wrong codes for this account; try again in ${Math.ceil(retryAfter / 60)} min`, { retry_after: retryAfter }, {
        'retry-after': String(retryAfter),
      });
    }
  }

  /** A code of the account's own (TOTP or backup code), spent on `handle`: its amr values, or null. */
  async function spendCode(user: UserRow, input: { code: string } | { backup_code: string }, handle: DbHandle): Promise<string[] | null> {
    if ('code' in input) return (await checkTotp(user.id, input.code, handle)) ? ['otp'] : null;
    return (await useBackupCode(handle, user.id, hashBackupCode(input.backup_code))) ? ['backup_code'] : null;
  }

  /**
   * Checks one second factor; returns the amr values it stands for, or null when it failed. Wrong
   * codes count per account across every mfa_token and step-up (`MAX_FAILURES_PER_USER` in
   * `FAILURE_WINDOW_SECONDS`): past that, even a right code is refused until the window ends, so
   * guessing from many addresses or with many mfa_tokens gets nowhere. A TOTP step or backup code is
   * spent on `options.tx` when given (the caller's transaction), else at once.
   */
  async function checkFactor(
    user: UserRow,
    input: SecondFactorInput,
    client: ClientInfo,
    options: { tx?: DbHandle; passkeyChallenge?: string; mfaJti?: string } = {},
  ): Promise<string[] | null> {
    await assertNotThrottled(user);
    let factor: string[] | null;
    if ('otp_id' in input) {
      // Only within a sign-in: the code is bound to the mfa_token it was sent for (and its method).
      const { mfaJti } = options;
      const result = mfaJti ? await deps.otp.check({ otpId: input.otp_id, code: input.code, purpose: 'mfa', userId: user.id, binding: otpBinding(mfaJti, input.method) }) : null;
      factor = result?.ok ? OTP_AMR[result.channel] : null;
    } else if ('code' in input || 'backup_code' in input) {
      factor = await spendCode(user, input, options.tx ?? db);
    } else {
      const challengeId = input.challenge_id ?? options.passkeyChallenge;
      if (!challengeId) return null;
      const result = await passkeys.verifyAuthentication(challengeId, input.passkey_response, client, { expectedUserId: user.id });
      return result.userVerified ? ['hwk', 'user'] : ['hwk'];
    }
    if (!factor) await cache.incr(`mfa:failures:${user.id}`, FAILURE_WINDOW_SECONDS);
    return factor;
  }

  /**
   * Spends the mfa_token and, in the same transaction, what `check` spends (a TOTP step, a backup
   * code): of two verifications with one mfa_token exactly one spends anything. 'token_used' when
   * another request spent the token first; null when the factor did not pass (nothing spent).
   */
  async function withTokenSpent(jti: string, user: UserRow, expiresAt: Date, check: (tx: DbHandle) => Promise<string[] | null>): Promise<string[] | null | 'token_used'> {
    try {
      return await db.transaction(async (tx) => {
        if (!(await claimMfaToken(tx, { jti, userId: user.id, expiresAt }))) return 'token_used' as const;
        const factor = await check(tx);
        if (!factor) throw new FactorRefused();
        return factor;
      });
    } catch (error) {
      if (error instanceof FactorRefused) return null;
      throw error;
    }
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
    const user = claims.sub ? await users.byId(claims.sub) : null;
    if (!user) throw mfaErrors.invalid_mfa_token();
    return { claims, jti, user };
  }

  /** The job: mails a recovery link to the account, when it has a second factor (at most one a minute). */
  async function mailRecoveryLink(job: RecoveryJob): Promise<void> {
    const user = job.userId ? await users.byId(job.userId) : job.email ? await users.byEmail(job.email.trim()) : null;
    // Nothing for an unknown address or an account without a second factor: the request answered 202 anyway.
    if (!user) return;
    const factors = await hasSecondFactor(user.id);
    if (!factors.totp && factors.passkeys === 0) return;
    if (!(await links.firstInWindow(`mfa_recovery:${user.id}`))) return;
    await db.transaction(async (tx) => {
      const { token } = await links.issue(user, 'mfa_recovery', RECOVERY_TTL_MINUTES * 60, { tx });
      await mail.send({ to: user.email, template: 'mfa.recovery', data: { token, expires_minutes: RECOVERY_TTL_MINUTES } }, { tx });
      await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'mfa.recovery_requested', target: { type: 'user', id: user.id }, context: job.client });
    });
  }
  deps.jobs.define<RecoveryJob>(RECOVERY_QUEUE, (job) => mailRecoveryLink(job), { retryLimit: 3, retryDelaySeconds: 5 });

  const service: MfaService = {
    async status(userId) {
      const user = await users.byId(userId);
      const factors = await hasSecondFactor(userId);
      return {
        totp: factors.totp,
        passkeys: factors.passkeys,
        backup_codes_remaining: factors.backupCodes,
        enrollment_required: user ? await deps.enrolment.required(user) : false,
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
        await record(user, 'mfa.enabled', client, { event: { factor: 'totp' } }, { tx });
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
      if (factors.passkeys === 0 && (await policy.requires(user.id))) {
        throw mfaErrors.mfa_required_by_policy('A second factor is required for this account: add a passkey before removing the app');
      }
      const noPasskeys = (await passkeys.countFor(user.id)) === 0;
      await db.transaction(async (tx) => {
        if (!(await deleteTotp(tx, user.id))) throw mfaErrors.totp_not_enabled();
        if (noPasskeys) await deleteBackupCodes(tx, user.id);
        await record(user, 'mfa.disabled', client, { event: { factor: 'totp' } }, { tx });
      });
    },

    async regenerateBackupCodes(user, client) {
      const factors = await hasSecondFactor(user.id);
      if (!factors.totp && factors.passkeys === 0) throw mfaErrors.no_second_factor();
      return db.transaction(async (tx) => {
        const codes = await newBackupCodes(tx, user);
        await record(user, 'mfa.backup_codes_regenerated', client, {}, { tx });
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
      // The factor itself (a verified address that was not the first factor, a verified phone); whether
      // its channel delivers is the OTP service's answer (422 channel_disabled, logged, when switched off).
      const hasFactor = method === 'email_otp' ? user.emailVerified && !firstFactor.includes('email') : user.phoneVerified && user.phone !== null;
      if (!hasFactor) {
        throw mfaErrors.mfa_method_unavailable(
          method === 'email_otp' ? 'Email codes need a verified address that was not the first factor' : 'SMS codes need a verified phone number (POST /v1/me/phone)',
        );
      }
      const channel = method === 'email_otp' ? 'email' : 'sms';
      const to = method === 'email_otp' ? user.email : user.phone!;
      // After a magic link, an SMS code falling back to email would be the same mailbox again.
      const fallback = !(method === 'sms_otp' && firstFactor.includes('email'));
      return deps.otp.send({ channel, to, purpose: 'mfa', ip: client.ip, userId: user.id, binding: otpBinding(jti, method), fallback });
    },

    async verify(mfaToken, input, client) {
      const { claims, jti, user } = await mfaClaims(mfaToken);
      const firstFactor = Array.isArray(claims.amr) ? claims.amr.map(String) : ['pwd'];
      const expiresAt = new Date((typeof claims.exp === 'number' ? claims.exp : Date.now() / 1000 + MFA_TOKEN_TTL) * 1000);
      let outcome: string[] | null | 'token_used';
      try {
        if ('backup_code' in input || ('code' in input && !('otp_id' in input))) {
          // A TOTP step or a backup code is spent only by the request that spends the mfa_token.
          outcome = await withTokenSpent(jti, user, expiresAt, (tx) => checkFactor(user, input, client, { tx }));
        } else {
          // A passkey challenge or a sent code is this sign-in's own, spent by its module: check, then spend the token.
          let factor = await checkFactor(user, input, client, { ...(typeof claims.pkc === 'string' ? { passkeyChallenge: claims.pkc } : {}), mfaJti: jti });
          // A code that reached the mailbox which was already the first factor proves nothing new.
          if (factor?.includes('email') && firstFactor.includes('email')) factor = null;
          outcome = factor ? await withTokenSpent(jti, user, expiresAt, async () => factor) : null;
        }
      } catch (error) {
        outcome = null;
        if (!('passkey_response' in input)) throw error;
      }
      // Single use: of two requests with one mfa_token, one signs in (and only it spent its factor).
      if (outcome === 'token_used') throw mfaErrors.invalid_mfa_token();
      if (!outcome) {
        const { value } = await cache.incr(`mfa:attempts:${jti}`, MFA_TOKEN_TTL);
        await record(user, 'mfa.verification_failed', client, { result: 'failure', reason: `attempt ${value} of ${MAX_ATTEMPTS}` });
        if (value >= MAX_ATTEMPTS) {
          await cache.set(`mfa:dead:${jti}`, '1', { ttlSeconds: MFA_TOKEN_TTL });
          throw mfaErrors.invalid_mfa_token('Too many wrong codes: sign in again');
        }
        throw mfaErrors.invalid_mfa_code('otp_id' in input ? 'The code is wrong, expired or already used: request a new one if it keeps failing' : undefined);
      }
      // Spent: refused at once from now on, sending a code included.
      await cache.set(`mfa:dead:${jti}`, '1', { ttlSeconds: MFA_TOKEN_TTL }).catch(() => undefined);
      if ('backup_code' in input) await backupCodeUsed(user, client);
      return { user, amr: [...new Set([...firstFactor, ...outcome, 'mfa'])] };
    },

    async requestRecovery(input, client) {
      let job: RecoveryJob;
      if ('mfaToken' in input) {
        let userId: string | undefined;
        try {
          userId = (await keys.verify(input.mfaToken, { audience: MFA_AUDIENCE, type: MFA_TOKEN_TYPE })).sub;
        } catch {
          throw mfaErrors.invalid_mfa_token();
        }
        if (!userId) throw mfaErrors.invalid_mfa_token();
        job = { userId, client };
      } else {
        job = { email: input.email, client };
      }
      // The same work for every address: one job; the look-up, the link and the mail happen in it.
      await deps.jobs.enqueue(RECOVERY_QUEUE, job);
    },

    async completeRecovery(token, password, client) {
      // The password first (wrong ones count toward the lockout), so a typo does not burn the link.
      const pending = await links.peek(token, ['mfa_recovery']);
      if (!pending) throw mfaErrors.recovery_invalid();
      const user = await deps.signIn.confirmPassword(pending.userId, password, client);
      if (pending.email?.toLowerCase() !== user.email.toLowerCase()) throw mfaErrors.recovery_invalid();
      // Of two uses of one link, one wins.
      if (!(await links.consume(token, ['mfa_recovery']))) throw mfaErrors.recovery_invalid();
      // The duty to enrol again and the removal of the factors go together; passkeys follow (a crash
      // in between leaves passkeys, which then count as the new enrolment: never an account without both).
      await db.transaction(async (tx) => {
        await users.setMfaReenrollRequired(user.id, true, { tx });
        await deleteTotp(tx, user.id);
        await deleteBackupCodes(tx, user.id);
      });
      const removedPasskeys = await passkeys.removeAll(user.id, client);
      // Whoever holds the lost device's sessions is signed out.
      await deps.sessions.revokeAll(user.id, 'mfa_recovery', { client });
      await db.transaction(async (tx) => {
        await audit.record(tx, { actor: { type: 'user', id: user.id, display: user.email }, action: 'mfa.recovery_used', target: { type: 'user', id: user.id }, reason: `second factors removed (${removedPasskeys} passkeys)`, context: client });
        await events.publish(tx, { type: 'mfa.recovery_used', data: { user_id: user.id } });
        await mail.send({ to: user.email, template: 'mfa.recovery_used', data: { at: new Date().toISOString(), ip: client.ip } }, { tx });
      });
      return { user: { ...user, mfaReenrollRequired: true }, amr: ['pwd', 'recovery'] };
    },

    async reauthenticate(user, sessionId, input, client) {
      let ok: boolean;
      if ('password' in input) {
        await deps.signIn.confirmPassword(user.id, input.password, client);
        ok = true;
      } else {
        ok = (await checkFactor(user, input, client)) !== null;
        if (ok && 'backup_code' in input) await backupCodeUsed(user, client);
      }
      if (!ok) {
        await record(user, 'auth.reauthentication_failed', client, { result: 'failure' });
        throw mfaErrors.reauthentication_failed();
      }
      await deps.sessions.markReauthenticated(sessionId);
      await record(user, 'auth.reauthenticated', client);
      return new Date();
    },
  };
  return service;
}
