import { dictionary } from '@zxcvbn-ts/language-common';

export type PasswordRule =
  | 'whitespace_only'
  | 'too_short'
  | 'too_long'
  | 'too_common'
  | 'same_as_email'
  | 'needs_uppercase'
  | 'needs_lowercase'
  | 'needs_digit'
  | 'needs_symbol';

export interface PasswordPolicy {
  /** Minimum length in Unicode code points. */
  minLength: number;
  /** Maximum length in Unicode code points (bounds the hashing work a request can ask for). */
  maxLength: number;
  /** When true, the password needs an upper-case letter, a lower-case letter, a digit and a symbol. */
  requireComplexity: boolean;
}

/**
 * Length and a blocklist, no composition rules: what NIST SP 800-63B recommends. Composition rules
 * are there for deployments whose own policy demands them.
 */
export const DEFAULT_PASSWORD_POLICY: Readonly<PasswordPolicy> = Object.freeze({ minLength: 8, maxLength: 128, requireComplexity: false });

export interface PasswordProblem {
  rule: PasswordRule;
  message: string;
}

/** How many of the most common passwords (zxcvbn-ts's frequency-ranked list) are refused. */
const COMMON_PASSWORD_LIMIT = 10_000;

let commonPasswords: Set<string> | undefined;

function common(): Set<string> {
  // Built on first use; every entry of the list is already lower case.
  commonPasswords ??= new Set(dictionary['passwords-common'].slice(0, COMMON_PASSWORD_LIMIT));
  return commonPasswords;
}

/** The number of distinct passwords refused as too common. */
export function commonPasswordCount(): number {
  return common().size;
}

/** Length in Unicode code points, so an emoji counts as one character, not two UTF-16 units. */
function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;
const DIGIT = /\p{Nd}/u;
/** Anything that is not a letter (with its combining marks) or a decimal digit: punctuation, spaces, symbols, emoji. */
const SYMBOL = /[^\p{L}\p{M}\p{Nd}]/u;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function isSameAsEmail(password: string, email: string): boolean {
  const address = email.trim().toLowerCase();
  if (address === '') return false;
  const candidate = password.trim().toLowerCase();
  if (candidate === address) return true;
  const at = address.lastIndexOf('@');
  if (at < 0) return false;
  const local = address.slice(0, at);
  return codePointLength(local) >= 4 && candidate === local;
}

/**
 * Every rule of the policy the password breaks, in a fixed order; an empty array when it is
 * acceptable. Messages complete the sentence "The password …".
 *
 * The password is judged as typed: it is never trimmed or otherwise changed, neither here nor
 * before it is hashed, so what is judged is what will have to be typed at sign-in. Whitespace at
 * its start or end adds nothing a guesser would not try, so it does not count toward the minimum
 * length, hide a common password (`password   `), or stand in for a symbol; a password of
 * whitespace only is refused outright. Whitespace inside (a passphrase) counts like any character.
 */
export function checkPassword(password: string, context: { email?: string; policy?: PasswordPolicy }): PasswordProblem[] {
  const policy = context.policy ?? DEFAULT_PASSWORD_POLICY;
  const problems: PasswordProblem[] = [];
  const length = codePointLength(password);
  // What the password says without its surrounding whitespace.
  const core = password.trim();
  const coreLength = codePointLength(core);

  if (length > 0 && core === '') problems.push({ rule: 'whitespace_only', message: 'must not be only spaces' });
  if (coreLength < policy.minLength) {
    const padded = length >= policy.minLength;
    problems.push({ rule: 'too_short', message: `must be at least ${plural(policy.minLength, 'character')}${padded ? ', not counting spaces at the start or end' : ''}` });
  }
  if (length > policy.maxLength) problems.push({ rule: 'too_long', message: `must be at most ${plural(policy.maxLength, 'character')}` });
  if (core !== '' && common().has(core.toLowerCase())) problems.push({ rule: 'too_common', message: 'is one of the most commonly used passwords' });
  if (context.email !== undefined && isSameAsEmail(password, context.email)) {
    problems.push({ rule: 'same_as_email', message: 'must not be your email address' });
  }
  if (policy.requireComplexity) {
    if (!UPPER.test(core)) problems.push({ rule: 'needs_uppercase', message: 'must contain an upper-case letter' });
    if (!LOWER.test(core)) problems.push({ rule: 'needs_lowercase', message: 'must contain a lower-case letter' });
    if (!DIGIT.test(core)) problems.push({ rule: 'needs_digit', message: 'must contain a digit' });
    if (!SYMBOL.test(core)) problems.push({ rule: 'needs_symbol', message: 'must contain a symbol (a character that is not a letter or digit)' });
  }
  return problems;
}
