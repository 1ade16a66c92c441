import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import { newId } from '../../platform/crypto/ids.js';
import { httpErrors, type AppError } from '../../platform/http/errors.js';
import type { UserDirectory } from '../accounts/index.js';
import { channelDisabled, type Messenger, type NotifyInput, type SettingsService } from '../communications/index.js';
import { otpErrors, type OtpFailure } from './otp.errors.js';
import { consumeOtp, findOtp, insertOtp, lowerBudget, spendAttempt, type OtpRow } from './otp.queries.js';

/*
 * One-time codes by email or SMS (`/v1/otp/*`, phone verification, the email_otp and sms_otp
 * second factors).
 *
 * Sending: recipient checked → per-IP limit → channel decided from the admin settings (a disabled
 * channel takes its fallback when the purpose allows one and the recipient can be reached there;
 * otherwise 422 channel_disabled, and the code's message is logged as blocked_channel_disabled with
 * the reason, so the admin's log and statistics show what the switch stopped) →
 * resend cooldown per recipient and purpose → per-recipient limit → a code from the CSPRNG, stored
 * as HMAC-SHA256 under a key derived from TESSERA_SECRET, and handed to the messenger in the
 * transaction that stores it. Length, expiry, attempt budget and cooldown are read per send.
 *
 * Verifying: one attempt is spent atomically before the code is compared (in constant time), so
 * concurrent guesses never exceed the budget; the code is bound to its purpose, recipient, user and
 * (for internal flows) a binding string, and is single use.
 *
 * Enumeration: for purposes whose recipient must be an account (`login`, `password_reset`, `mfa`)
 * an unknown recipient gets the same 202 as a known one; nothing is stored or sent, but a decoy in
 * the cache makes its `otp_id` answer verification exactly as a real one would (invalid_code with
 * a decreasing attempts_left, then otp_locked; otp_expired after its expiry). Cooldown and rate
 * limits count unknown recipients too. `verify_email`, `verify_phone` and `transaction` codes go to
 * any address: they prove possession of it, not an account.
 */

export const OTP_PURPOSES = ['login', 'verify_email', 'verify_phone', 'password_reset', 'transaction', 'mfa'] as const;
export type OtpPurpose = (typeof OTP_PURPOSES)[number];
export const OTP_CHANNELS = ['email', 'sms'] as const;
export type OtpChannel = (typeof OTP_CHANNELS)[number];

/** Purposes whose recipient must be an account: unknown recipients get a decoy, not a refusal. */
const ACCOUNT_PURPOSES: ReadonlySet<OtpPurpose> = new Set(['login', 'password_reset', 'mfa']);
/** Purposes that prove the channel itself: a code by another channel would prove nothing. */
const CHANNEL_BOUND: Partial<Record<OtpPurpose, OtpChannel>> = { verify_email: 'email', verify_phone: 'sms' };

export const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface OtpLimits {
  /** Codes one recipient (address or number, every purpose together) may be sent per hour. */
  perRecipientPerHour: number;
  /** Codes one client IP may ask for per hour. */
  perIpPerHour: number;
  /** Verifications one client IP may attempt per hour at `/v1/otp/verify`. */
  verifyPerIpPerHour: number;
}

export const DEFAULT_OTP_LIMITS: OtpLimits = { perRecipientPerHour: 10, perIpPerHour: 30, verifyPerIpPerHour: 120 };

/** How a user is reached: what the OTP service needs to pick a channel (a row of the accounts directory). */
export interface OtpContact {
  id: string;
  email: string;
  emailVerified: boolean;
  phone: string | null;
  phoneVerified: boolean;
}

export interface SendOtpInput {
  channel: OtpChannel;
  to: string;
  purpose: OtpPurpose;
  ip: string | null;
  /** Internal flows (phone verification, MFA): the account the code is for; refusals are then honest 422s. */
  userId?: string;
  /** Internal flows: mixed into the code's HMAC, so the code verifies only with the same binding. */
  binding?: string;
  /** false: the code may not go by the channel's fallback (a disabled channel then refuses it). Default true. */
  fallback?: boolean;
}

export interface SentOtp {
  otpId: string;
  expiresAt: Date;
  /** The channel that carries the code; `requestedChannel` when they differ (a fallback). */
  channel: OtpChannel;
  requestedChannel: OtpChannel;
}

export interface CheckOtpInput {
  otpId: string;
  code: string;
  /** When given, must be the code's purpose, recipient (the `to` it was asked for), user, binding. */
  purpose?: OtpPurpose;
  to?: string;
  userId?: string;
  binding?: string;
}

export type CheckResult =
  | { ok: true; purpose: OtpPurpose; channel: OtpChannel; recipient: string; userId: string | null }
  | { ok: false; failure: OtpFailure; attemptsLeft?: number };

export interface OtpService {
  send(input: SendOtpInput): Promise<SentOtp>;
  /** Verifies and consumes a code; the result says why not (internal flows map it to their own answer). */
  check(input: CheckOtpInput): Promise<CheckResult>;
  /** `check` for `/v1/otp/verify`: per-IP limited, failures thrown as problems. */
  verify(input: CheckOtpInput & { ip: string | null }): Promise<Extract<CheckResult, { ok: true }>>;
  /** Whether a code for this user could go out on `channel` now (own channel, or its fallback). */
  deliverable(channel: OtpChannel, user: Pick<OtpContact, 'email' | 'emailVerified' | 'phone' | 'phoneVerified'>, options?: { fallback?: boolean }): Promise<boolean>;
}

/** A stand-in for a code that was not sent (unknown recipient): answers verification like a real one. */
interface Decoy {
  maxAttempts: number;
  expiresAt: number;
}

const HOUR = 3600;
/** How long an unknown or decoy id keeps answering like a code (its attempts, its expiry). */
const PHANTOM_TTL_SECONDS = 24 * HOUR;

/** The form a recipient is compared and counted in. */
export function normaliseRecipient(channel: OtpChannel, to: string): string {
  return channel === 'email' ? to.trim().toLowerCase() : to.trim();
}

/** The problem of a failed check. */
export function failureProblem(result: Extract<CheckResult, { ok: false }>): AppError {
  const data = result.attemptsLeft === undefined ? undefined : { attempts_left: result.attemptsLeft };
  return otpErrors[result.failure](undefined, data);
}

/** `n` decimal digits from the CSPRNG, leading zeros kept. */
export function newCode(length: number): string {
  return String(randomInt(0, 10 ** length)).padStart(length, '0');
}

export function createOtpService(deps: {
  db: Database;
  /** The accounts module's directory: the account of a recipient, or of an internal flow. */
  users: Pick<UserDirectory, 'byId' | 'byContact'>;
  cache: Cache;
  box: SecretBox;
  settings: SettingsService;
  messenger: Messenger;
  limits?: Partial<OtpLimits>;
  onCacheError?: (error: unknown) => void;
  now?: () => number;
}): OtpService {
  const { db, cache, settings, messenger } = deps;
  const now = deps.now ?? Date.now;
  const limits: OtpLimits = { ...DEFAULT_OTP_LIMITS, ...deps.limits };
  const key = deps.box.deriveKey('otp');

  /** HMAC-SHA256 over `otp_id:code[:binding]` (digits never hold ':', so the parts cannot shift). */
  const hashCode = (id: string, code: string, binding?: string): Buffer =>
    createHmac('sha256', key).update(binding ? `${id}:${code}:${binding}` : `${id}:${code}`).digest();

  /** Counts against a window; the seconds to wait when over. Fails open when the cache does not answer. */
  async function over(counter: string, limit: number, windowSeconds: number): Promise<number | null> {
    try {
      const { value, ttlMs } = await cache.incr(counter, windowSeconds);
      return value > limit ? Math.max(1, Math.ceil(ttlMs / 1000)) : null;
    } catch (error) {
      deps.onCacheError?.(error);
      return null;
    }
  }

  function rateLimited(what: string, retryAfter: number): AppError {
    return httpErrors.rate_limited(`Too many codes ${what}; try again in ${retryAfter} s`, { retry_after: retryAfter }, { 'retry-after': String(retryAfter) });
  }

  /** Where a channel reaches a user for a code: a verified address or number only. */
  function addressOn(channel: OtpChannel, user: Pick<OtpContact, 'email' | 'emailVerified' | 'phone' | 'phoneVerified'> | null): string | null {
    if (!user) return null;
    if (channel === 'email') return user.emailVerified ? user.email : null;
    return user.phoneVerified ? user.phone : null;
  }

  function checkRecipient(input: SendOtpInput): string {
    const to = input.to.trim();
    const valid = input.channel === 'email' ? to.length <= 320 && EMAIL.test(to) : E164.test(to);
    if (!valid) {
      const message = input.channel === 'email' ? 'must be an email address' : 'must be a phone number in E.164 form (+ and 7 to 15 digits)';
      throw httpErrors.validation_failed(`body.to ${message}`, { errors: [{ path: 'body.to', message }] });
    }
    const bound = CHANNEL_BOUND[input.purpose];
    if (bound && bound !== input.channel) {
      const message = `a ${input.purpose} code goes by ${bound}`;
      throw httpErrors.validation_failed(`body.channel: ${message}`, { errors: [{ path: 'body.channel', message }] });
    }
    return to;
  }

  const readDecoy = async (id: string): Promise<Decoy | null> => {
    const raw = await cache.get(`otp:decoy:${id}`);
    return raw ? (JSON.parse(raw) as Decoy) : null;
  };

  /**
   * An id with no row (never issued, or a decoy): the answers a real code would give to a wrong
   * guess, attempts counted in the cache.
   */
  async function phantom(id: string, currentMax: number): Promise<CheckResult> {
    try {
      const decoy = await readDecoy(id);
      const max = Math.min(decoy?.maxAttempts ?? currentMax, currentMax);
      if (decoy && decoy.maxAttempts > max) {
        // As for a real code: a lowered budget stays with it.
        await cache.set(`otp:decoy:${id}`, JSON.stringify({ ...decoy, maxAttempts: max }), { ttlSeconds: Math.ceil((decoy.expiresAt - now()) / 1000) + PHANTOM_TTL_SECONDS });
      }
      const counter = `otp:phantom:${id}`;
      if (Number((await cache.get(counter)) ?? 0) >= max) return { ok: false, failure: 'otp_locked', attemptsLeft: 0 };
      if (decoy && decoy.expiresAt <= now()) return { ok: false, failure: 'otp_expired' };
      const { value } = await cache.incr(counter, PHANTOM_TTL_SECONDS);
      const left = Math.max(0, max - value);
      return left === 0 ? { ok: false, failure: 'otp_locked', attemptsLeft: 0 } : { ok: false, failure: 'invalid_code', attemptsLeft: left };
    } catch (error) {
      deps.onCacheError?.(error);
      return { ok: false, failure: 'invalid_code', attemptsLeft: Math.max(0, currentMax - 1) };
    }
  }

  /** Why a row cannot be tried (used, out of attempts, expired), or null when it can. */
  function closed(row: OtpRow, currentMax: number, at: Date): Extract<CheckResult, { ok: false }> | null {
    if (row.consumedAt) return { ok: false, failure: 'otp_used' };
    if (row.attempts >= Math.min(row.maxAttempts, currentMax)) return { ok: false, failure: 'otp_locked', attemptsLeft: 0 };
    if (row.expiresAt.getTime() <= at.getTime()) return { ok: false, failure: 'otp_expired' };
    return null;
  }

  const service: OtpService = {
    async send(input) {
      const to = checkRecipient(input);
      const normalised = normaliseRecipient(input.channel, to);
      if (input.ip) {
        const wait = await over(`otp:send:ip:${input.ip}`, limits.perIpPerHour, HOUR);
        if (wait !== null) throw rateLimited('from this address', wait);
      }
      const { settings: current } = await settings.current();
      const { otp } = current;
      const internal = input.userId !== undefined;
      const user: OtpContact | null = internal ? await deps.users.byId(input.userId!) : await deps.users.byContact(input.channel, to);
      if (internal && !user) throw new Error('otp: the user of an internal flow does not exist');

      // The channel, decided before anything is stored or sent.
      let channel: OtpChannel = input.channel;
      let address: string | null = to;
      if (!current.channels[input.channel].enabled) {
        // The message a refusal logs: the code asked for, on the channel asked for.
        const asked: NotifyInput = { channel: input.channel, to, template: 'otp.code', category: 'security', ...(user ? { userId: user.id } : {}) };
        const fallback = current.channels[input.channel].fallback_channel;
        let refusal: string | null = null;
        if (CHANNEL_BOUND[input.purpose]) {
          refusal = `the ${input.channel} channel is disabled; a ${input.purpose} code cannot go by another channel`;
        } else if (input.fallback === false) {
          refusal = `the ${input.channel} channel is disabled; this code cannot go by another channel`;
        } else if ((fallback !== 'email' && fallback !== 'sms') || !current.channels[fallback].enabled) {
          refusal = `the ${input.channel} channel is disabled and has no enabled fallback channel for codes`;
        } else {
          channel = fallback;
          address = addressOn(fallback, user);
          if (!address) {
            const reason = `the ${input.channel} channel is disabled and the recipient cannot be reached by its fallback ${fallback}`;
            // An account purpose asked for by anyone: unreachable looks like unknown (a decoy), not a 422;
            // an account's code stopped all the same is in the admin's log.
            if (internal || !ACCOUNT_PURPOSES.has(input.purpose)) refusal = reason;
            else if (user) await messenger.logSwitchedOff(asked, reason);
          }
        }
        if (refusal) {
          await messenger.logSwitchedOff(asked, refusal);
          throw channelDisabled(refusal);
        }
      }
      const deliver = address !== null && (user !== null || !ACCOUNT_PURPOSES.has(input.purpose));

      if (otp.resend_cooldown_seconds > 0) {
        const wait = await over(`otp:cooldown:${input.purpose}:${normalised}`, 1, otp.resend_cooldown_seconds);
        if (wait !== null) {
          throw otpErrors.otp_cooldown(`A code was sent moments ago; ask again in ${wait} s`, { retry_after: wait }, { 'retry-after': String(wait) });
        }
      }
      const wait = await over(`otp:send:recipient:${normalised}`, limits.perRecipientPerHour, HOUR);
      if (wait !== null) throw rateLimited('for this recipient', wait);

      const id = newId('otp');
      const code = newCode(otp.length);
      const codeHash = hashCode(id, code, input.binding).toString('hex');
      const expiresAt = new Date(now() + otp.expiry_minutes * 60_000);
      if (deliver) {
        await db.transaction(async (tx) => {
          await insertOtp(tx, {
            id, purpose: input.purpose, requestedChannel: input.channel, channel, recipient: normalised, userId: user?.id ?? null,
            codeHash, maxAttempts: otp.max_attempts, expiresAt, ip: input.ip,
          });
          await messenger.notify(
            {
              channel, to: address!, template: 'otp.code', category: 'security',
              data: { code, expires_minutes: otp.expiry_minutes, purpose: input.purpose },
              ...(user ? { userId: user.id } : {}),
            },
            { tx },
          );
        });
      } else {
        const decoy: Decoy = { maxAttempts: otp.max_attempts, expiresAt: expiresAt.getTime() };
        try {
          await cache.set(`otp:decoy:${id}`, JSON.stringify(decoy), { ttlSeconds: otp.expiry_minutes * 60 + PHANTOM_TTL_SECONDS });
        } catch (error) {
          deps.onCacheError?.(error);
        }
      }
      return { otpId: id, expiresAt, channel, requestedChannel: input.channel };
    },

    async check(input) {
      const { settings: current } = await settings.current();
      const currentMax = current.otp.max_attempts;
      const at = new Date(now());
      const row = await findOtp(db, input.otpId);
      if (!row) return phantom(input.otpId, currentMax);
      if (row.maxAttempts > currentMax) {
        // A lowered max_attempts applies to live codes, and stays with them if it is raised again.
        await lowerBudget(db, row.id, currentMax);
        row.maxAttempts = currentMax;
      }
      const refusal = closed(row, currentMax, at);
      if (refusal) return refusal;
      const counted = await spendAttempt(db, row.id, at, currentMax);
      if (!counted) {
        // Another request took the last attempt or used the code between the read and the update.
        const after = await findOtp(db, row.id);
        return (after && closed(after, currentMax, at)) ?? { ok: false, failure: 'otp_locked', attemptsLeft: 0 };
      }
      const attemptsLeft = Math.max(0, Math.min(counted.maxAttempts, currentMax) - counted.attempts);
      const sameCode = timingSafeEqual(Buffer.from(counted.codeHash, 'hex'), hashCode(counted.id, input.code, input.binding));
      const bound =
        (input.purpose === undefined || input.purpose === counted.purpose) &&
        (input.to === undefined || normaliseRecipient(counted.requestedChannel as OtpChannel, input.to) === counted.recipient) &&
        (input.userId === undefined || input.userId === counted.userId);
      if (!sameCode || !bound) {
        return attemptsLeft === 0 ? { ok: false, failure: 'otp_locked', attemptsLeft: 0 } : { ok: false, failure: 'invalid_code', attemptsLeft };
      }
      if (!(await consumeOtp(db, counted.id, at))) return { ok: false, failure: 'otp_used' };
      return { ok: true, purpose: counted.purpose as OtpPurpose, channel: counted.channel as OtpChannel, recipient: counted.recipient, userId: counted.userId };
    },

    async verify(input) {
      if (input.ip) {
        const wait = await over(`otp:verify:ip:${input.ip}`, limits.verifyPerIpPerHour, HOUR);
        if (wait !== null) throw httpErrors.rate_limited(`Too many verifications from this address; try again in ${wait} s`, { retry_after: wait }, { 'retry-after': String(wait) });
      }
      const result = await service.check(input);
      if (!result.ok) throw failureProblem(result);
      return result;
    },

    async deliverable(channel, user, options = {}) {
      const { settings: current } = await settings.current();
      if (current.channels[channel].enabled) return addressOn(channel, user) !== null;
      if (options.fallback === false) return false;
      const fallback = current.channels[channel].fallback_channel;
      if ((fallback !== 'email' && fallback !== 'sms') || !current.channels[fallback].enabled) return false;
      // The factor stands for the channel the user proved (a verified phone for sms_otp), even when its code goes by the fallback.
      return addressOn(channel, user) !== null && addressOn(fallback, user) !== null;
    },
  };
  return service;
}
