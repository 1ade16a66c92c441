import { Secret, URI } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { matchingStep, newTotpSecret, otpauthUri, TOTP_DIGITS, TOTP_PERIOD, totpCode } from './totp.js';

/*
 * RFC 6238 as Tessera implements it: the Appendix B test vectors (8 digits, the three hashes, each
 * with its own seed), and the drift and replay-window rules of matchingStep.
 */

const SEEDS = {
  SHA1: '12345678901234567890',
  SHA256: '12345678901234567890123456789012',
  SHA512: '1234567890123456789012345678901234567890123456789012345678901234',
} as const;

/** RFC 6238 Appendix B: [Unix time (s), SHA1, SHA256, SHA512]. */
const APPENDIX_B: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

const VECTORS = APPENDIX_B.flatMap(([time, sha1, sha256, sha512]) =>
  ([['SHA1', sha1], ['SHA256', sha256], ['SHA512', sha512]] as const).map(([algorithm, code]) => ({ time, algorithm, code })),
);

/** The SHA-1 seed as an authenticator app would hold it (base32). */
const SHA1_SEED_BASE32 = Secret.fromLatin1(SEEDS.SHA1).base32;

describe('totpCode: RFC 6238 Appendix B', () => {
  it('covers all 18 vectors', () => {
    expect(VECTORS).toHaveLength(18);
  });

  it.each(VECTORS)('$algorithm at T=$time is $code', ({ time, algorithm, code }) => {
    expect(totpCode(Secret.fromLatin1(SEEDS[algorithm]), time * 1000, { digits: 8, algorithm })).toBe(code);
  });

  it('takes the secret as base32 too, and defaults to SHA-1 with 6 digits (the low 6 digits of the 8-digit code)', () => {
    expect(SHA1_SEED_BASE32).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(totpCode(SHA1_SEED_BASE32, 59_000, { digits: 8 })).toBe('94287082');
    expect(totpCode(SHA1_SEED_BASE32, 59_000)).toBe('287082');
    expect(TOTP_DIGITS).toBe(6);
    expect(TOTP_PERIOD).toBe(30);
  });

  it('keeps one code for a whole 30-second step, and changes at its edge', () => {
    // T=1111111109 and 1111111111 straddle the edge of step 37037037 (1111111110 s).
    expect(totpCode(SHA1_SEED_BASE32, 1111111080_000)).toBe('081804');
    expect(totpCode(SHA1_SEED_BASE32, 1111111109_999)).toBe('081804');
    expect(totpCode(SHA1_SEED_BASE32, 1111111110_000)).toBe('050471');
  });
});

describe('matchingStep', () => {
  // From the vectors: '081804' is the SHA-1 code of step 37037036 (T = 1111111080 … 1111111109).
  const CODE = '081804';
  const STEP = 37037036;
  const AT = STEP * TOTP_PERIOD * 1000 + 15_000;
  const step = (offset: number) => AT + offset * TOTP_PERIOD * 1000;

  it('answers the step of a code of the current step', () => {
    expect(matchingStep(SHA1_SEED_BASE32, CODE, AT)).toBe(STEP);
    expect(matchingStep(SHA1_SEED_BASE32, '287082', 59_000)).toBe(1);
  });

  it('accepts one step of drift either way, and answers the step the code belongs to', () => {
    // The server's clock one step ahead of the app (the code is from the previous step) ...
    expect(matchingStep(SHA1_SEED_BASE32, CODE, step(1))).toBe(STEP);
    // ... and one step behind (the code is from the next step).
    expect(matchingStep(SHA1_SEED_BASE32, CODE, step(-1))).toBe(STEP);
  });

  it('refuses two steps of drift either way', () => {
    expect(matchingStep(SHA1_SEED_BASE32, CODE, step(2))).toBeNull();
    expect(matchingStep(SHA1_SEED_BASE32, CODE, step(-2))).toBeNull();
  });

  it('refuses a wrong code and a code of another secret', () => {
    const other = newTotpSecret();
    const wrong = ['000000', '999999', '123456'].find((c) => ![-1, 0, 1].some((o) => totpCode(SHA1_SEED_BASE32, step(o)) === c))!;
    expect(matchingStep(SHA1_SEED_BASE32, wrong, AT)).toBeNull();
    const theirs = totpCode(other, AT);
    if (![-1, 0, 1].some((o) => totpCode(SHA1_SEED_BASE32, step(o)) === theirs)) expect(matchingStep(SHA1_SEED_BASE32, theirs, AT)).toBeNull();
  });

  it.each([
    ['the 8-digit code', '07081804'],
    ['7 digits', '7081804'],
    ['5 digits', '81804'],
    ['the empty string', ''],
    ['letters', 'abcdef'],
    ['a leading space', ' 081804'],
    ['a trailing newline', '081804\n'],
    ['a sign', '+81804'],
    ['non-ASCII digits', '٠٨١٨٠٤'],
  ])('refuses %s', (_label, code) => {
    expect(matchingStep(SHA1_SEED_BASE32, code, AT)).toBeNull();
  });

  it('defaults to now: a code made now for a new secret matches the current step', () => {
    const secret = newTotpSecret();
    const now = Date.now();
    const found = matchingStep(secret, totpCode(secret, now));
    // The step the code belongs to, even if the call crossed a step edge since `now`.
    expect(found).toBe(Math.floor(now / 1000 / TOTP_PERIOD));
  });
});

describe('newTotpSecret and otpauthUri', () => {
  it('makes a random 160-bit base32 secret', () => {
    const a = newTotpSecret();
    const b = newTotpSecret();
    expect(a).toMatch(/^[A-Z2-7]{32}$/);
    expect(Secret.fromBase32(a).bytes).toHaveLength(20);
    expect(a).not.toBe(b);
  });

  it('writes a URI an independent parser reads back: issuer, label, SHA-1, 6 digits, 30 s', () => {
    const secret = newTotpSecret();
    const parsed = URI.parse(otpauthUri(secret, 'Tessera', 'ada+mfa@example.test'));
    expect(parsed).toMatchObject({ issuer: 'Tessera', label: 'ada+mfa@example.test', algorithm: 'SHA1', digits: 6 });
    expect((parsed as { period?: number }).period).toBe(30);
    expect(parsed.secret.base32).toBe(secret);
  });
});
