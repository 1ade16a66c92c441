import enAuth from './en/auth';
import enCommon from './en/common';
import esAuth from './es/auth';
import esCommon from './es/common';

/**
 * The strings every page needs at once, by language and namespace: `common` (shared components)
 * and `auth` (sign-in, sign-up, recovery, second factor). The signed-in areas' namespaces load with
 * their pages (./account-area.ts), keeping them out of the sign-in page's budget. Spanish is
 * type-checked against English key by key.
 */
export const resources = {
  en: { common: enCommon, auth: enAuth },
  es: { common: esCommon, auth: esAuth },
} as const;

export type Language = keyof typeof resources;
export const LANGUAGES = Object.keys(resources) as Language[];
