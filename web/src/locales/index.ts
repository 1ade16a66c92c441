import enAccount from './en/account';
import enAuth from './en/auth';
import enCommon from './en/common';
import enNotifications from './en/notifications';
import enOrgs from './en/orgs';
import esAccount from './es/account';
import esAuth from './es/auth';
import esCommon from './es/common';
import esNotifications from './es/notifications';
import esOrgs from './es/orgs';

/**
 * Every string of the pages, by language and namespace: `common` (shared components), `auth`
 * (sign-in, sign-up, recovery, second factor), `account` (the account center), `notifications` (inbox and preferences), `orgs`
 * (organizations and invitations). Spanish is type-checked against English key by key.
 */
export const resources = {
  en: { common: enCommon, auth: enAuth, account: enAccount, notifications: enNotifications, orgs: enOrgs },
  es: { common: esCommon, auth: esAuth, account: esAccount, notifications: esNotifications, orgs: esOrgs },
} as const;

export type Language = keyof typeof resources;
export const LANGUAGES = Object.keys(resources) as Language[];
