import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { isId, newId } from './ids.js';

describe('newId', () => {
  it('makes prefixed 26-character Crockford ids that isId recognises', () => {
    const id = newId('usr');
    expect(id).toMatch(/^usr_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(isId(id, 'usr')).toBe(true);
    expect(isId(id, 'org')).toBe(false);
  });

  it('is strictly increasing within a process, also for many ids in one millisecond (regression: equal-millisecond ids listed out of order)', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('ntf'));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} then ${ids[i]}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('encodes the creation time in its first ten characters', () => {
    const before = Date.now();
    const id = newId('ses');
    const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
    const time = [...id.slice(4, 14)].reduce((acc, char) => acc * 32 + CROCKFORD.indexOf(char), 0);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });

  // Last: it leaves the generator's clock ahead of the real one.
  it('stays increasing when the clock stands still or steps back', () => {
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now');
    try {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: -5_000, max: 5_000 }), { minLength: 2, maxLength: 200 }), (offsets) => {
          let previous = newId('evt');
          for (const offset of offsets) {
            clock.mockReturnValue(now + 10_000_000 + offset);
            const id = newId('evt');
            if (!(id > previous)) return false;
            previous = id;
          }
          return true;
        }),
      );
    } finally {
      clock.mockRestore();
    }
  });
});
