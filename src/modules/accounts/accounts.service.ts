import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { createEmailService, type EmailService } from './accounts.email.service.js';
import { createOneTimeLinks, type OneTimeLinks } from './accounts.links.service.js';
import { createPasswordService, type PasswordService } from './accounts.password.service.js';
import { createAddressProofs } from './accounts.proof.service.js';
import { createProfileService, type ProfileService } from './accounts.profile.service.js';
import type { SessionService } from './accounts.sessions.js';
import { createSignInService, type SignInService, type SignInSettings } from './accounts.signin.service.js';
import { createSignupService, type SignupService } from './accounts.signup.service.js';
import type { PasswordPolicy } from './password-policy.js';

export interface AccountSettings extends SignInSettings {
  passwordPolicy: PasswordPolicy;
}

/** What the accounts' own routes (and other modules' reads of a user) call: one role per part. */
export interface AccountsService extends SignupService, ProfileService, Omit<EmailService, 'sendVerification'>, Omit<PasswordService, 'assertPolicy'> {
  requestMagicLink: SignInService['requestMagicLink'];
}

export interface Accounts {
  accounts: AccountsService;
  /** The accounts' steps of a sign-in (first factors, completion), for the composed flow in app/sign-in.ts. */
  signIn: SignInService;
  /** One-time links, for other modules' own (MFA recovery). */
  links: OneTimeLinks;
}

/**
 * Builds the accounts module's services from its parts, each with one role: one-time links
 * (accounts.links), what proving an address ends (accounts.proof), sign-in steps and lockout
 * (accounts.signin), passwords (accounts.password), the address and its verification
 * (accounts.email), sign-up (accounts.signup), the profile (accounts.profile).
 */
export function createAccounts(deps: {
  db: Database;
  cache: Cache;
  audit: Audit;
  events: Events;
  mail: Mail;
  sessions: SessionService;
  settings: AccountSettings;
}): Accounts {
  const { db, cache, audit, events, mail, sessions, settings } = deps;
  const links = createOneTimeLinks({ db, cache, audit, mail });
  const proofs = createAddressProofs({ audit, events, sessions });
  const signIn = createSignInService({ db, audit, mail, sessions, links, proofs, settings });
  const passwords = createPasswordService({ db, audit, mail, sessions, links, proofs, signIn, policy: settings.passwordPolicy });
  const emails = createEmailService({ db, audit, events, mail, sessions, links, proofs, signIn });
  const signups = createSignupService({ db, audit, events, mail, emails, passwords });
  const profile = createProfileService({ db, audit, events });
  const accounts: AccountsService = {
    signup: signups.signup,
    verifyEmail: emails.verifyEmail,
    resendVerification: emails.resendVerification,
    requestEmailChange: emails.requestEmailChange,
    requestMagicLink: signIn.requestMagicLink,
    forgotPassword: passwords.forgotPassword,
    resetPassword: passwords.resetPassword,
    changePassword: passwords.changePassword,
    checkPassword: passwords.checkPassword,
    getUser: profile.getUser,
    updateProfile: profile.updateProfile,
  };
  return { accounts, signIn, links };
}
