import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';

/** zxcvbn's estimate: 0 (too guessable) to 4 (very unguessable), with what to do about it (English). */
export interface PasswordStrength {
  score: 0 | 1 | 2 | 3 | 4;
  warning: string | null;
  suggestions: string[];
}

/**
 * How many characters the estimate looks at. zxcvbn's work grows steeply with the length (over a
 * second for 100 characters on this machine's class of CPU, with its default of 100 leet
 * substitutions): 64 characters and 10 substitutions keep one estimate within tens of
 * milliseconds. A longer password is estimated by its first 64 characters, which only
 * underestimates it; the policy still judges it whole.
 */
export const ESTIMATED_LENGTH = 64;
const LEET_SUBSTITUTIONS = 10;

let estimator: Promise<ZxcvbnFactory> | undefined;

/**
 * Loaded and built on first use, then shared: the English dictionaries take a while to import and
 * rank (most of a second), which no process start and no other route should pay for.
 */
function zxcvbn(): Promise<ZxcvbnFactory> {
  estimator ??= (async () => {
    const [{ ZxcvbnFactory: Factory }, english] = await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-en')]);
    return new Factory({
      maxLength: ESTIMATED_LENGTH,
      l33tMaxSubstitutions: LEET_SUBSTITUTIONS,
      translations: english.translations,
      graphs: adjacencyGraphs,
      dictionary: { ...commonDictionary, ...english.dictionary },
    });
  })().catch((error: unknown) => {
    estimator = undefined;
    throw error;
  });
  return estimator;
}

/** Words of the person's own a guesser tries first: the address, its local part and that part's words, its domain labels, and the name and its words. */
function personalWords(context: { email?: string; name?: string }): string[] {
  const words = new Set<string>();
  const email = context.email?.trim().toLowerCase();
  if (email) {
    words.add(email);
    const [local, domain] = email.split('@', 2);
    if (local) words.add(local);
    for (const part of local?.split(/[^\p{L}\p{N}]+/u) ?? []) if (part.length >= 3) words.add(part);
    for (const label of domain?.split('.') ?? []) if (label.length >= 3) words.add(label);
  }
  const name = context.name?.trim().toLowerCase();
  if (name) {
    words.add(name);
    for (const part of name.split(/\s+/)) if (part.length >= 2) words.add(part);
  }
  return [...words];
}

/** zxcvbn's estimate of the password, knowing the person's address and name. No rule of the policy is applied here. */
export async function estimateStrength(password: string, context: { email?: string; name?: string } = {}): Promise<PasswordStrength> {
  const result = (await zxcvbn()).check(password, personalWords(context));
  return { score: result.score, warning: result.feedback.warning, suggestions: [...result.feedback.suggestions] };
}
