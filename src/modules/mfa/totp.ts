import { Secret, TOTP } from 'otpauth';

/** RFC 6238 as Tessera uses it: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;

export interface TotpOptions {
  digits?: number;
  algorithm?: 'SHA1' | 'SHA256' | 'SHA512';
}

function totp(secret: Secret, options: TotpOptions = {}, label?: { issuer: string; account: string }): TOTP {
  return new TOTP({
    algorithm: options.algorithm ?? 'SHA1',
    digits: options.digits ?? TOTP_DIGITS,
    period: TOTP_PERIOD,
    secret,
    ...(label ? { issuer: label.issuer, label: label.account } : {}),
  });
}

/** A new random 160-bit secret, base32 (what authenticator apps take). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function otpauthUri(secretBase32: string, issuer: string, account: string): string {
  return totp(Secret.fromBase32(secretBase32), {}, { issuer, account }).toString();
}

/** The code for a moment (RFC 6238 test vectors use 8 digits and the three hashes). */
export function totpCode(secret: Secret | string, timestampMs: number, options: TotpOptions = {}): string {
  const key = typeof secret === 'string' ? Secret.fromBase32(secret) : secret;
  return totp(key, options).generate({ timestamp: timestampMs });
}

/**
 * The time step the code belongs to, allowing one step of drift either way; null when it matches
 * none. The caller refuses a step at or before the last one used (replay).
 */
export function matchingStep(secretBase32: string, code: string, timestampMs = Date.now()): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totp(Secret.fromBase32(secretBase32)).validate({ token: code, timestamp: timestampMs, window: 1 });
  if (delta === null) return null;
  return Math.floor(timestampMs / 1000 / TOTP_PERIOD) + delta;
}
