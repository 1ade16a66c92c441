import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** Identifier prefixes in use; a new kind of identifier adds its prefix here. */
export type IdPrefix = 'usr' | 'ses' | 'rtk' | 'ott' | 'org' | 'key' | 'evt' | 'aud' | 'msg' | 'job' | 'inv' | 'rol' | 'whk' | 'jwk' | 'pky' | 'com' | 'tpl' | 'sms' | 'psh' | 'ntf' | 'otp' | 'whd';

/**
 * A prefixed, random, time-ordered identifier: `usr_` + 10 characters of millisecond time +
 * 16 characters (80 bits) of randomness, in lowercase Crockford base32 (a ULID in lowercase).
 * Sorting the strings sorts by creation time, which keeps B-tree inserts local and cursors simple.
 */
export function newId(prefix: IdPrefix): string {
  let time = Date.now();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  const bytes = randomBytes(10);
  let tail = '';
  // 80 bits -> 16 base32 characters, 5 bits at a time.
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      tail += CROCKFORD[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return `${prefix}_${head}${tail}`;
}

const ID_PATTERN = /^[a-z]{3}_[0-9a-hjkmnp-tv-z]{26}$/;

/** True when value looks like an identifier with the given prefix (cheap input check, not a lookup). */
export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}
