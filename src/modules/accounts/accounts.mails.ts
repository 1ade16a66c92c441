import { escapeHtml, type MailTemplate, type RenderedMail, type TemplateContext } from '../../platform/mail/index.js';

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

// ---------------------------------------------------------------------------------------------
// Rendering

type Block =
  | { kind: 'p'; text: string }
  | { kind: 'action'; label: string; url: string }
  | { kind: 'link'; text: string; label: string; url: string }
  | { kind: 'code'; code: string }
  | { kind: 'facts'; rows: [label: string, value: string][] }
  | { kind: 'note'; text: string };

const p = (text: string): Block => ({ kind: 'p', text });
const action = (label: string, url: string): Block => ({ kind: 'action', label, url });
/** A sentence followed by a link: "If this wasn't you, reset your password: <url>". */
const link = (text: string, label: string, url: string): Block => ({ kind: 'link', text, label, url });
const code = (value: string): Block => ({ kind: 'code', code: value });
const note = (text: string): Block => ({ kind: 'note', text });
function facts(rows: [string, string | null | undefined][]): Block {
  return { kind: 'facts', rows: rows.flatMap(([label, value]) => (value ? [[label, value] as [string, string]] : [])) };
}

const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";

function blockText(block: Block): string {
  switch (block.kind) {
    case 'p':
    case 'note':
      return block.text;
    case 'action':
      return `${block.label}:\n${block.url}`;
    case 'link':
      return `${block.text} ${block.label}:\n${block.url}`;
    case 'code':
      return `    ${block.code}`;
    case 'facts':
      return block.rows.map(([label, value]) => `${label}: ${value}`).join('\n');
  }
}

function blockHtml(block: Block): string {
  switch (block.kind) {
    case 'p':
      return `<p style="margin:0 0 16px">${escapeHtml(block.text)}</p>`;
    case 'note':
      return `<p style="margin:0 0 16px;color:#6b7280;font-size:13px">${escapeHtml(block.text)}</p>`;
    case 'action': {
      const url = escapeHtml(block.url);
      return (
        `<p style="margin:24px 0"><a href="${url}" style="display:inline-block;background:#2563eb;color:#ffffff;` +
        `text-decoration:none;padding:12px 20px;border-radius:6px;font-weight:600">${escapeHtml(block.label)}</a></p>` +
        `<p style="margin:0 0 16px;color:#6b7280;font-size:13px">If the button does not work, copy this link into your browser:<br>` +
        `<a href="${url}" style="color:#2563eb;word-break:break-all">${url}</a></p>`
      );
    }
    case 'link':
      return `<p style="margin:0 0 16px">${escapeHtml(block.text)} <a href="${escapeHtml(block.url)}" style="color:#2563eb">${escapeHtml(block.label)}</a>.</p>`;
    case 'code':
      return (
        `<p style="margin:24px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:32px;` +
        `font-weight:700;letter-spacing:8px;color:#111827">${escapeHtml(block.code)}</p>`
      );
    case 'facts':
      return (
        `<table role="presentation" style="margin:0 0 16px;border-collapse:collapse">` +
        block.rows
          .map(([label, value]) => `<tr><td style="padding:2px 16px 2px 0;color:#6b7280">${escapeHtml(label)}</td><td style="padding:2px 0">${escapeHtml(value)}</td></tr>`)
          .join('') +
        `</table>`
      );
  }
}

function render(context: TemplateContext, subject: string, heading: string, blocks: Block[]): RenderedMail {
  const product = context.productName;
  const footer = `This email was sent by ${product} (${baseUrl(context)}).`;
  const text = [heading, ...blocks.filter(nonEmpty).map(blockText), `— ${product}`, footer].join('\n\n') + '\n';
  const html =
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>` +
    `<body style="margin:0;padding:0;background:#f3f4f6">` +
    `<div style="max-width:560px;margin:0 auto;padding:32px 24px;${FONT};font-size:15px;line-height:1.5;color:#111827">` +
    `<p style="margin:0 0 24px;font-size:18px;font-weight:700">${escapeHtml(product)}</p>` +
    `<div style="background:#ffffff;border-radius:8px;padding:32px 24px">` +
    `<h1 style="margin:0 0 16px;font-size:20px">${escapeHtml(heading)}</h1>` +
    blocks.filter(nonEmpty).map(blockHtml).join('') +
    `</div>` +
    `<p style="margin:24px 0 0;color:#6b7280;font-size:12px">${escapeHtml(footer)}</p>` +
    `</div></body></html>`;
  return { subject, text, html };
}

function nonEmpty(block: Block): boolean {
  return block.kind !== 'facts' || block.rows.length > 0;
}

function baseUrl(context: TemplateContext): string {
  return context.publicUrl.replace(/\/+$/, '');
}

function pageUrl(context: TemplateContext, path: string, token?: string): string {
  const url = `${baseUrl(context)}${path}`;
  return token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`;
}

/** A user- or request-supplied value as one short line: no control characters, no line breaks. */
function oneLine(value: string | null | undefined, max = 200): string | null {
  if (value === null || value === undefined) return null;
  const flat = value.replace(/[\p{Cc}\p{Zl}\p{Zp}\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/gu, ' ').replace(/\s+/g, ' ').trim();
  if (flat === '') return null;
  const chars = [...flat];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : flat;
}

/** "2025-03-01 14:05 UTC"; the value as given when it is not a date. */
function when(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return oneLine(iso) ?? '';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

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
