import { describe, expect, it } from 'vitest';
import { dictionary } from '@zxcvbn-ts/language-common';
import { checkPassword, commonPasswordCount, DEFAULT_PASSWORD_POLICY, type PasswordPolicy } from './password-policy.js';

const rules = (password: string, context: Parameters<typeof checkPassword>[1] = {}): string[] =>
  checkPassword(password, context).map((p) => p.rule);

const complex: PasswordPolicy = { ...DEFAULT_PASSWORD_POLICY, requireComplexity: true };

describe('checkPassword', () => {
  it('accepts a long, uncommon password', () => {
    expect(checkPassword('Tr0ub4dor&3-horse', {})).toEqual([]);
    expect(checkPassword('correct horse battery staple', { email: 'alice@example.com' })).toEqual([]);
  });

  it('has the documented defaults', () => {
    expect(DEFAULT_PASSWORD_POLICY).toEqual({ minLength: 8, maxLength: 128, requireComplexity: false });
  });

  describe('length', () => {
    it('refuses fewer than minLength characters, with a message that says how many', () => {
      expect(checkPassword('x7#kQ2!', {})).toEqual([{ rule: 'too_short', message: 'must be at least 8 characters' }]);
      expect(rules('x7#kQ2!v', {})).toEqual([]);
      expect(rules('', {})).toContain('too_short');
    });

    it('counts Unicode code points, not UTF-16 units', () => {
      const emoji = '🔒🗝️🐙🌵🎲🚲🧭'; // 8 code points (🗝️ is two: key + variation selector), 14 UTF-16 units
      expect([...emoji].length).toBe(8);
      expect(rules(emoji, {})).toEqual([]);
      const seven = '🐙🌵🎲🚲🧭🪁🦔'; // 7 code points, 14 UTF-16 units
      expect(seven.length).toBe(14);
      expect(rules(seven, {})).toEqual(['too_short']);
    });

    it('allows up to maxLength (128) characters and refuses more', () => {
      const base = 'Zq8#vL2m'; // uncommon, 8 characters
      expect(rules(base.repeat(16), {})).toEqual([]); // 128
      expect(checkPassword(base.repeat(16) + 'x', {})).toEqual([{ rule: 'too_long', message: 'must be at most 128 characters' }]);
      expect(rules('🐙'.repeat(128), {})).toEqual([]); // 256 UTF-16 units, 128 code points
      expect(rules('🐙'.repeat(129), {})).toEqual(['too_long']);
    });

    it('follows a custom policy', () => {
      const policy: PasswordPolicy = { minLength: 12, maxLength: 20, requireComplexity: false };
      expect(rules('Zq8#vL2mPw', { policy })).toEqual(['too_short']);
      expect(rules('Zq8#vL2mPw4t', { policy })).toEqual([]);
      expect(rules('Zq8#vL2mPw4tZq8#vL2mP', { policy })).toEqual(['too_long']);
    });
  });

  describe('too_common', () => {
    it.each(['password', '123456', 'qwerty', '12345678', 'baseball', 'iloveyou', 'letmein'])('refuses %s', (password) => {
      expect(rules(password, {})).toContain('too_common');
    });

    it('ignores case', () => {
      expect(rules('PassWord', {})).toContain('too_common');
      expect(rules('FOOTBALL', {})).toEqual(['too_common']);
    });

    it('uses exactly the 10,000 most common passwords of the list', () => {
      const list = dictionary['passwords-common'];
      expect(commonPasswordCount()).toBe(10_000);
      const last = list[9_999]!;
      const next = list[10_000]!;
      expect(list.slice(0, 10_000)).not.toContain(next);
      expect(rules(last, {})).toContain('too_common');
      expect(rules(next, {})).not.toContain('too_common');
    });
  });

  describe('same_as_email', () => {
    it('refuses the email address itself, whatever the case and surrounding spaces', () => {
      expect(checkPassword('Alice.Smith@Example.com', { email: ' alice.smith@example.com ' })).toEqual([
        { rule: 'same_as_email', message: 'must not be your email address' },
      ]);
    });

    it('refuses the local part when it has at least 4 characters', () => {
      expect(rules('alice.smith', { email: 'alice.smith@example.com' })).toEqual(['same_as_email']);
      expect(rules('ALICE.SMITH', { email: 'Alice.Smith@example.com' })).toEqual(['same_as_email']);
    });

    it('does not refuse a short local part on its own account, nor a password that merely contains it', () => {
      expect(rules('bob', { email: 'bob@example.com', policy: { ...DEFAULT_PASSWORD_POLICY, minLength: 1 } })).toEqual([]);
      expect(rules('alice.smith-Zq8#', { email: 'alice.smith@example.com' })).toEqual([]);
    });

    it('is not checked without an email', () => {
      expect(rules('alice.smith@example.com', {})).toEqual([]);
    });
  });

  describe('complexity', () => {
    it('is off by default', () => {
      expect(rules('zzqxvbnmkt', {})).toEqual([]);
      expect(rules('zzqxvbnmkt', { policy: DEFAULT_PASSWORD_POLICY })).toEqual([]);
    });

    it('asks for each missing class when on', () => {
      expect(rules('zzqxvbnmkt', { policy: complex })).toEqual(['needs_uppercase', 'needs_digit', 'needs_symbol']);
      expect(rules('ZZQXVBNMKT', { policy: complex })).toEqual(['needs_lowercase', 'needs_digit', 'needs_symbol']);
      expect(rules('Zq8#vL2m', { policy: complex })).toEqual([]);
      expect(rules('Zq8 vL2m', { policy: complex })).toEqual([]); // a space is a symbol
    });

    it('understands letters and digits beyond ASCII', () => {
      expect(rules('Ärger-öl٣x', { policy: complex })).toEqual([]); // Ä upper, ö lower, ٣ an Arabic-Indic digit
      expect(rules('ÄRGER-ÖL٣X', { policy: complex })).toEqual(['needs_lowercase']);
      expect(rules('Ärgeröl٣xy', { policy: complex })).toEqual(['needs_symbol']);
    });
  });

  describe('whitespace (the password is judged as typed, never trimmed)', () => {
    it('regression: refuses a password of spaces only (whitespace_only), whatever its length', () => {
      expect(checkPassword(' '.repeat(12), {})).toEqual([
        { rule: 'whitespace_only', message: 'must not be only spaces' },
        { rule: 'too_short', message: 'must be at least 8 characters, not counting spaces at the start or end' },
      ]);
      expect(rules('\t \n\u00a0\u2003   ', {})).toContain('whitespace_only');
    });

    it('regression: spaces at the start or end do not count toward the minimum length, nor hide a common password', () => {
      expect(rules('abc     ', {})).toEqual(['too_short']);
      expect(rules('   abcdefg', {})).toEqual(['too_short']);
      expect(rules('password    ', {})).toEqual(['too_common']);
      expect(rules('  Password1  ', {})).toContain('too_common');
      expect(rules('alice.smith  ', { email: 'alice.smith@example.com' })).toEqual(['same_as_email']);
    });

    it('regression: a trailing space is no symbol for the complexity rule; a space inside still is', () => {
      expect(rules('Zq8xvL2m ', { policy: complex })).toEqual(['needs_symbol']);
      expect(rules('Zq8 vL2m', { policy: complex })).toEqual([]);
    });

    it('counts spaces inside a passphrase like any character, and the maximum on the password as typed', () => {
      expect(rules('tiny cat', {})).toEqual([]);
      expect(rules(`${'Zq8#vL2m'.repeat(16)} `, {})).toEqual(['too_long']);
    });
  });

  it('lists every broken rule together', () => {
    const result = checkPassword('qwerty', { email: 'qwerty@example.com', policy: complex });
    expect(result.map((p) => p.rule)).toEqual(['too_short', 'too_common', 'same_as_email', 'needs_uppercase', 'needs_digit', 'needs_symbol']);
    for (const problem of result) expect(problem.message).toMatch(/^[a-z].{5,}$/);
  });
});
