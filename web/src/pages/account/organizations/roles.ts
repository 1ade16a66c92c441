import type { TFunction } from 'i18next';

const BUILT_IN = new Set(['owner', 'admin', 'member', 'viewer']);

/** A role as people read it: a built-in role in the page's language, a custom role by its own name. */
export function roleLabel(t: TFunction, key: string, name?: string): string {
  return BUILT_IN.has(key) ? t(`orgs:roles.${key}`) : (name ?? key);
}
