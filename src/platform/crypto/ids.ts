import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** Identifier prefixes in use; a new kind of identifier adds its prefix here. */
export type IdPrefix = 'usr' | 'ses' | 'rtk' | 'ott' | 'org' | 'key' | 'evt' | 'aud' | 'msg' | 'job' | 'inv' | 'rol' | 'whk' | 'jwk' | 'pky' | 'com' | 'tpl' | 'sms' | 'psh' | 'ntf' | 'otp' | 'whd' | 'app' | 'res';

/**
 * A prefixed, random, time-ordered identifier: `usr_` + 10 characters of millisecond time +
 * 16 characters (80 bits) of randomness, in lowercase Crockford base32 (a ULID in lowercase).
 * Sorting the strings sorts by creation time, which keeps B-tree inserts local and cursors simple.
 *
 * Strictly increasing within a process (monotonic, as the ULID spec's monotonic factory): an id
 * made in the same millisecond as the previous one (or after the clock stepped back) keeps that
 * time and takes the previous random part plus a random 32-bit step, so two rows created in one
 * millisecond list in creation order and cursors never skip or repeat one. Across processes ids
 * are ordered by time only.
 */
export function newId(prefix: IdPrefix): string {
  const now = Date.now();
  if (now > lastTime) {
    lastTime = now;
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`);
  } else {
    lastRandom += BigInt(randomBytes(4).readUInt32BE(0)) + 1n;
    // 80 bits used up within one millisecond (not in practice): borrow the next millisecond.
    if (lastRandom >= RANDOM_LIMIT) {
      lastTime += 1;
      lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) >> 1n;
    }
  }
  return `${prefix}_${base32(BigInt(lastTime), 10)}${base32(lastRandom, 16)}`;
}

const RANDOM_LIMIT = 1n << 80n;
let lastTime = 0;
let lastRandom = 0n;

function base32(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

const ID_PATTERN = /^[a-z]{3}_[0-9a-hjkmnp-tv-z]{26}$/;

/** True when value looks like an identifier with the given prefix (cheap input check, not a lookup). */
export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}
