import type { MailTemplate } from '../../platform/mail/index.js';
import { action, code, facts, link, note, oneLine, p, pageUrl, plural, render, when } from '../../platform/mail/layout.js';

/*
 * The accounts module's mail. Each template is written once as a list of blocks and rendered to
 * both a plain-text and an HTML part, so a link or a code can never be in one part and missing
 * from the other, and every interpolated value goes through `escapeHtml` in exactly one place.
 * Values a user chose or a request carried (name, device, IP, address) are flattened to one
 * short line first, so they cannot add lines of their own to the text part.
 */

export interface VerifyEmailData {
  token: string;
  code: string;
  expires_hours: number;
  name?: string | null;
}

export type SignupExistingData = Record<string, never>;

export interface MagicLinkData {
  token: string;
  expires_minutes: number;
}

export interface PasswordResetData {
  token: string;
  expires_minutes: number;
}

export interface PasswordChangedData {
  /** ISO 8601. */
  at: string;
  ip?: string | null;
  device?: string | null;
}

export interface AccountLockedData {
  minutes: number;
  /** ISO 8601. */
  until: string;
}

export interface NewSignInData {
  /** ISO 8601. */
  at: string;
  ip?: string | null;
  device?: string | null;
}

export interface EmailChangeData {
  token: string;
  code: string;
  new_email: string;
  expires_hours: number;
}

export interface EmailChangedData {
  new_email: string;
  /** ISO 8601. */
  at: string;
}

/** Template name → the data it renders. */
export interface AccountMailData {
  'accounts.verify_email': VerifyEmailData;
  'accounts.signup_existing': SignupExistingData;
  'accounts.magic_link': MagicLinkData;
  'accounts.password_reset': PasswordResetData;
  'accounts.password_changed': PasswordChangedData;
  'accounts.account_locked': AccountLockedData;
  'accounts.new_sign_in': NewSignInData;
  'accounts.email_change': EmailChangeData;
  'accounts.email_changed': EmailChangedData;
}

export type AccountMailName = keyof AccountMailData;

// Rendering: the house layout (src/platform/mail/layout.ts).

// ---------------------------------------------------------------------------------------------
// Templates

const verifyEmail: MailTemplate<VerifyEmailData> = (data, context) => {
  const name = oneLine(data.name, 80);
  const product = context.productName;
  return render(context, `Verify your email address for ${product}`, name ? `Hi ${name}, please verify your email address` : 'Please verify your email address', [
    p(`To finish setting up your ${product} account, confirm that this address is yours. Enter this code:`),
    code(data.code),
    action('Verify email address', pageUrl(context, '/verify-email', data.token)),
    p(`The code and the link expire in ${plural(data.expires_hours, 'hour')}.`),
    note(`If you did not create a ${product} account, you can ignore this email.`),
  ]);
};

const signupExisting: MailTemplate<SignupExistingData> = (_data, context) => {
  const product = context.productName;
  return render(context, `Sign-up attempt for your ${product} account`, 'You already have an account', [
    p(`Someone (maybe you) tried to create a ${product} account with this email address. You already have an account with this address, so no new account was created.`),
    action('Sign in', pageUrl(context, '/login')),
    link('Forgot your password?', 'Reset it here', pageUrl(context, '/forgot-password')),
    note('If this was not you, you can ignore this email: your account has not been changed.'),
  ]);
};

const magicLink: MailTemplate<MagicLinkData> = (data, context) => {
  const product = context.productName;
  return render(context, `Your sign-in link for ${product}`, `Sign in to ${product}`, [
    p(`Use this link to sign in to ${product}. It works once and expires in ${plural(data.expires_minutes, 'minute')}.`),
    action(`Sign in to ${product}`, pageUrl(context, '/magic-link', data.token)),
    note('If you did not ask for this link, you can ignore this email. Do not forward it: anyone with the link can sign in as you.'),
  ]);
};

const passwordReset: MailTemplate<PasswordResetData> = (data, context) => {
  const product = context.productName;
  return render(context, `Reset your ${product} password`, 'Reset your password', [
    p(`We received a request to reset the password of your ${product} account. The link works once and expires in ${plural(data.expires_minutes, 'minute')}.`),
    action('Choose a new password', pageUrl(context, '/reset-password', data.token)),
    note('If you did not request a password reset, you can ignore this email: your password will not change.'),
  ]);
};

const passwordChanged: MailTemplate<PasswordChangedData> = (data, context) => {
  const product = context.productName;
  return render(context, `Your ${product} password was changed`, 'Your password was changed', [
    p(`The password of your ${product} account was just changed.`),
    facts([
      ['When', when(data.at)],
      ['IP address', oneLine(data.ip, 64)],
      ['Device', oneLine(data.device)],
    ]),
    p('If this was you, there is nothing else to do.'),
    link('If this was not you, someone else may have access to your account.', 'Reset your password now', pageUrl(context, '/forgot-password')),
  ]);
};

const accountLocked: MailTemplate<AccountLockedData> = (data, context) => {
  const product = context.productName;
  return render(context, `Your ${product} account is temporarily locked`, 'Your account is temporarily locked', [
    p(`There were too many failed attempts to sign in to your ${product} account, so sign-in is locked for ${plural(data.minutes, 'minute')}.`),
    facts([['Locked until', when(data.until)]]),
    p('If these attempts were not yours, someone may be trying to guess your password. Resetting it now keeps your account safe:'),
    action('Reset your password', pageUrl(context, '/forgot-password')),
  ]);
};

const newSignIn: MailTemplate<NewSignInData> = (data, context) => {
  const product = context.productName;
  return render(context, `New sign-in to your ${product} account`, 'New sign-in to your account', [
    p(`Your ${product} account was just signed in to from a device we have not seen before.`),
    facts([
      ['When', when(data.at)],
      ['IP address', oneLine(data.ip, 64)],
      ['Device', oneLine(data.device)],
    ]),
    p('If this was you, there is nothing else to do. If not, review your active sessions, sign out the ones you do not recognise and change your password:'),
    action('Review your sessions', pageUrl(context, '/account/sessions')),
    link('Need to change your password?', 'Reset it here', pageUrl(context, '/forgot-password')),
  ]);
};

const emailChange: MailTemplate<EmailChangeData> = (data, context) => {
  const product = context.productName;
  const address = oneLine(data.new_email, 320) ?? '';
  return render(context, `Confirm your new email address for ${product}`, 'Confirm your new email address', [
    p(`A request was made to use ${address} as the email address of a ${product} account. To confirm it, enter this code:`),
    code(data.code),
    action('Confirm email address', pageUrl(context, '/verify-email', data.token)),
    p(`The code and the link expire in ${plural(data.expires_hours, 'hour')}.`),
    note('If you did not ask for this, you can ignore this email: the address will not be changed.'),
  ]);
};

const emailChanged: MailTemplate<EmailChangedData> = (data, context) => {
  const product = context.productName;
  return render(context, `The email address of your ${product} account was changed`, 'Your email address was changed', [
    p(`The email address of your ${product} account was changed. From now on, mail for the account goes to the new address and this address can no longer be used to sign in.`),
    facts([
      ['New address', oneLine(data.new_email, 320)],
      ['When', when(data.at)],
    ]),
    // No "reset your password" link here: the account no longer answers to this address.
    p(`If you did not make this change, someone else may have access to your account: contact ${product} support right away.`),
  ]);
};

/** Every mail the accounts module sends, by template name. */
export const accountMailTemplates: { readonly [K in AccountMailName]: MailTemplate<AccountMailData[K]> } = Object.freeze({
  'accounts.verify_email': verifyEmail,
  'accounts.signup_existing': signupExisting,
  'accounts.magic_link': magicLink,
  'accounts.password_reset': passwordReset,
  'accounts.password_changed': passwordChanged,
  'accounts.account_locked': accountLocked,
  'accounts.new_sign_in': newSignIn,
  'accounts.email_change': emailChange,
  'accounts.email_changed': emailChanged,
});

/** Registers every accounts template with the mail port (once, when the app is built). */
export function registerAccountMails(mail: { register<D>(name: string, template: MailTemplate<D>): void }): void {
  const entries: [string, MailTemplate<never>][] = Object.entries(accountMailTemplates);
  for (const [name, template] of entries) mail.register(name, template);
}
