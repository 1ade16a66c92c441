import enAccount from './en/account';
import enAuth from './en/auth';
import enCommon from './en/common';
import enOrgs from './en/orgs';
import esAccount from './es/account';
import esAuth from './es/auth';
import esCommon from './es/common';
import esOrgs from './es/orgs';

/**
 * Every string of the pages, by language and namespace: `common` (shared components), `auth`
 * (sign-in, sign-up, recovery, second factor), `account` (the account center), `orgs`
 * (organizations and invitations). Spanish is type-checked against English key by key.
 */
export const resources = {
  en: { common: enCommon, auth: enAuth, account: enAccount, orgs: enOrgs },
  es: { common: esCommon, auth: esAuth, account: esAccount, orgs: esOrgs },
} as const;

export type Language = keyof typeof resources;
export const LANGUAGES = Object.keys(resources) as Language[];
