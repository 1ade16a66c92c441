import type { MessageCategory } from '../../platform/mail/index.js';
import { HOUSE_STYLES } from '../../platform/mail/layout.js';
import type { Channel } from './communications.settings.js';
import type { TemplateContent } from './communications.templates.js';
import { SPANISH, SPANISH_WORDS } from './communications.templates.defaults.es.js';

/*
 * The system's messages, as the templates seeded into the database (version 1 of each, never
 * overwritten once an admin has saved a version). An email is written once as a heading and a list
 * of blocks whose text is Handlebars source, and built into both an HTML body (house styles inlined)
 * and a text body, so a link or a code is never in one part and missing from the other.
 * Security messages also have short SMS and in-app versions for when email is not the channel.
 * In-app versions carry no link token or code: in-app notifications are stored in clear.
 */

export type FactRow = [label: string, source: string, onlyIf?: string];
export type Block =
  | ['p', string]
  | ['note', string]
  | ['action', label: string, href: string]
  | ['link', text: string, label: string, href: string]
  | ['code', string]
  | ['facts', FactRow[]];

export interface EmailTexts {
  subject: string;
  heading: string;
  blocks: Block[];
}

/** The fixed words of the builder, per language. */
export interface BuilderWords {
  /** Under a button: the link written out. */
  buttonFallback: string;
}

export interface MessageTexts {
  email: EmailTexts;
  sms?: string;
  in_app?: { title: string; text: string };
  push?: { title: string; text: string };
}

export const SYSTEM_TEMPLATES = {
  'accounts.verify_email': { category: 'security', variables: ['token', 'code', 'expires_hours', 'name'], description: 'Verification of the email address of a new account' },
  'accounts.signup_existing': { category: 'security', variables: [], description: 'Sign-up attempted with the address of an existing account' },
  'accounts.magic_link': { category: 'security', variables: ['token', 'expires_minutes'], description: 'Sign-in link' },
  'accounts.password_reset': { category: 'security', variables: ['token', 'expires_minutes'], description: 'Password reset link' },
  'accounts.password_changed': { category: 'security', variables: ['at', 'ip', 'device'], description: 'Notice that the password was changed' },
  'accounts.account_locked': { category: 'security', variables: ['minutes', 'until'], description: 'Notice that sign-in is locked after failed attempts' },
  'accounts.new_sign_in': { category: 'security', variables: ['at', 'ip', 'device'], description: 'Sign-in from a new device' },
  'accounts.email_change': { category: 'security', variables: ['token', 'code', 'new_email', 'expires_hours'], description: 'Confirmation of a new email address (sent to the new address)' },
  'accounts.email_changed': { category: 'security', variables: ['new_email', 'at'], description: 'Notice that the email address was changed (sent to the old address)' },
  'mfa.backup_code_used': { category: 'security', variables: ['at', 'remaining', 'ip'], description: 'A backup code was used to sign in' },
  'mfa.recovery': { category: 'security', variables: ['token', 'expires_minutes'], description: 'Recovery link for a lost second factor' },
  'mfa.recovery_used': { category: 'security', variables: ['at', 'ip'], description: 'Notice that the second factors were reset by recovery' },
  'orgs.invitation': { category: 'organization', variables: ['token', 'org_name', 'role', 'inviter_name', 'inviter_email', 'expires_at'], description: 'Invitation to join an organization' },
  'otp.code': { category: 'security', variables: ['code', 'expires_minutes', 'purpose'], description: 'One-time code (OTP service)' },
  'privacy.export_ready': { category: 'account', variables: ['url', 'expires_at'], description: 'A data export is ready to download' },
  'privacy.compliance_alert': { category: 'security', variables: ['title', 'detail'], description: 'Compliance alert for platform admins' },
  'communications.test': { category: 'security', variables: [], description: 'Test message sent by a platform admin' },
  'webhooks.endpoint_disabled': { category: 'organization', variables: ['endpoint_id', 'url', 'reason'], description: 'A webhook endpoint was disabled after failed deliveries (to organization admins)' },
} as const satisfies Record<string, { category: MessageCategory; variables: string[]; description: string }>;

export type SystemTemplateName = keyof typeof SYSTEM_TEMPLATES;
export type Texts = Record<SystemTemplateName, MessageTexts>;

const url = (path: string, token?: string): string => (token ? `{{url "${path}" ${token}}}` : `{{url "${path}"}}`);
const AT: FactRow = ['When', '{{when at}}', 'at'];
const IP: FactRow = ['IP address', '{{truncate ip 64}}', 'ip'];
const DEVICE: FactRow = ['Device', '{{truncate device 200}}', 'device'];
const ORG = '{{or (truncate org_name 100) "an organization"}}';
const INVITER =
  '{{#if inviter_name}}{{truncate inviter_name 100}}{{#if inviter_email}} ({{truncate inviter_email 254}}){{/if}}{{else}}{{or (truncate inviter_email 254) "Someone"}}{{/if}}';
const PURPOSE =
  '{{#if (eq purpose "login")}}Use this code to sign in to {{product_name}}:' +
  '{{else if (eq purpose "verify_email")}}Use this code to verify your email address:' +
  '{{else if (eq purpose "verify_phone")}}Use this code to verify your phone number:' +
  '{{else if (eq purpose "password_reset")}}Use this code to reset your password:' +
  '{{else if (eq purpose "transaction")}}Use this code to confirm your transaction:' +
  '{{else}}Use this code to confirm that it is you:{{/if}}';

export const ENGLISH: Texts = {
  'accounts.verify_email': {
    email: {
      subject: 'Verify your email address for {{product_name}}',
      heading: '{{#if name}}Hi {{truncate name 80}}, please verify your email address{{else}}Please verify your email address{{/if}}',
      blocks: [
        ['p', 'To finish setting up your {{product_name}} account, confirm that this address is yours. Enter this code:'],
        ['code', '{{code}}'],
        ['action', 'Verify email address', url('/verify-email', 'token')],
        ['p', 'The code and the link expire in {{plural expires_hours "hour"}}.'],
        ['note', 'If you did not create a {{product_name}} account, you can ignore this email.'],
      ],
    },
    sms: `Your {{product_name}} verification code is {{code}}, or open ${url('/verify-email', 'token')} (expires in {{plural expires_hours "hour"}}).`,
    in_app: { title: 'Verify your email address', text: 'We sent a code and a link to your email address to verify it. They expire in {{plural expires_hours "hour"}}.' },
  },
  'accounts.signup_existing': {
    email: {
      subject: 'Sign-up attempt for your {{product_name}} account',
      heading: 'You already have an account',
      blocks: [
        ['p', 'Someone (maybe you) tried to create a {{product_name}} account with this email address. You already have an account with this address, so no new account was created.'],
        ['action', 'Sign in', url('/sign-in')],
        ['link', 'Forgot your password?', 'Reset it here', url('/forgot-password')],
        ['note', 'If this was not you, you can ignore this email: your account has not been changed.'],
      ],
    },
  },
  'accounts.magic_link': {
    email: {
      subject: 'Your sign-in link for {{product_name}}',
      heading: 'Sign in to {{product_name}}',
      blocks: [
        ['p', 'Use this link to sign in to {{product_name}}. It works once and expires in {{plural expires_minutes "minute"}}.'],
        ['action', 'Sign in to {{product_name}}', url('/magic-link', 'token')],
        ['note', 'If you did not ask for this link, you can ignore this email. Do not forward it: anyone with the link can sign in as you.'],
      ],
    },
    sms: `Sign in to {{product_name}}: ${url('/magic-link', 'token')} (works once, expires in {{plural expires_minutes "minute"}}). Do not share this link.`,
    in_app: { title: 'Sign-in link requested', text: 'A sign-in link for your account was requested. If this was not you, you can ignore it: the link expires in {{plural expires_minutes "minute"}}.' },
  },
  'accounts.password_reset': {
    email: {
      subject: 'Reset your {{product_name}} password',
      heading: 'Reset your password',
      blocks: [
        ['p', 'We received a request to reset the password of your {{product_name}} account. The link works once and expires in {{plural expires_minutes "minute"}}.'],
        ['action', 'Choose a new password', url('/reset-password', 'token')],
        ['note', 'If you did not request a password reset, you can ignore this email: your password will not change.'],
      ],
    },
    sms: `Reset your {{product_name}} password: ${url('/reset-password', 'token')} (works once, expires in {{plural expires_minutes "minute"}}). Did not ask? Ignore this message.`,
    in_app: { title: 'Password reset requested', text: 'A password reset was requested for your account. If this was not you, you can ignore it: your password will not change.' },
  },
  'accounts.password_changed': {
    email: {
      subject: 'Your {{product_name}} password was changed',
      heading: 'Your password was changed',
      blocks: [
        ['p', 'The password of your {{product_name}} account was just changed.'],
        ['facts', [AT, IP, DEVICE]],
        ['p', 'If this was you, there is nothing else to do.'],
        ['link', 'If this was not you, someone else may have access to your account.', 'Reset your password now', url('/forgot-password')],
      ],
    },
    sms: `Your {{product_name}} password was changed{{#if at}} on {{when at}}{{/if}}. Not you? Reset it now: ${url('/forgot-password')}`,
    in_app: { title: 'Your password was changed', text: 'The password of your account was changed{{#if at}} on {{when at}}{{/if}}. If this was not you, reset your password now.' },
  },
  'accounts.account_locked': {
    email: {
      subject: 'Your {{product_name}} account is temporarily locked',
      heading: 'Your account is temporarily locked',
      blocks: [
        ['p', 'There were too many failed attempts to sign in to your {{product_name}} account, so sign-in is locked for {{plural minutes "minute"}}.'],
        ['facts', [['Locked until', '{{when until}}', 'until']]],
        ['p', 'If these attempts were not yours, someone may be trying to guess your password. Resetting it now keeps your account safe:'],
        ['action', 'Reset your password', url('/forgot-password')],
      ],
    },
    sms: `Too many failed sign-ins: your {{product_name}} account is locked for {{plural minutes "minute"}}. Not you? Reset your password: ${url('/forgot-password')}`,
    in_app: { title: 'Your account was temporarily locked', text: 'There were too many failed attempts to sign in to your account, so sign-in was locked for {{plural minutes "minute"}}. If they were not yours, reset your password.' },
  },
  'accounts.new_sign_in': {
    email: {
      subject: 'New sign-in to your {{product_name}} account',
      heading: 'New sign-in to your account',
      blocks: [
        ['p', 'Your {{product_name}} account was just signed in to from a device we have not seen before.'],
        ['facts', [AT, IP, DEVICE]],
        ['p', 'If this was you, there is nothing else to do. If not, review your active sessions, sign out the ones you do not recognise and change your password:'],
        ['action', 'Review your sessions', url('/account/sessions')],
        ['link', 'Need to change your password?', 'Reset it here', url('/forgot-password')],
      ],
    },
    sms: `New sign-in to your {{product_name}} account{{#if device}} from {{truncate device 60}}{{/if}}. Not you? Review your sessions: ${url('/account/sessions')}`,
    in_app: { title: 'New sign-in to your account', text: 'Your account was signed in to from a new device{{#if device}} ({{truncate device 100}}){{/if}}{{#if at}} on {{when at}}{{/if}}. If this was not you, review your sessions and change your password.' },
  },
  'accounts.email_change': {
    email: {
      subject: 'Confirm your new email address for {{product_name}}',
      heading: 'Confirm your new email address',
      blocks: [
        ['p', 'A request was made to use {{truncate new_email 320}} as the email address of a {{product_name}} account. To confirm it, enter this code:'],
        ['code', '{{code}}'],
        ['action', 'Confirm email address', url('/verify-email', 'token')],
        ['p', 'The code and the link expire in {{plural expires_hours "hour"}}.'],
        ['note', 'If you did not ask for this, you can ignore this email: the address will not be changed.'],
      ],
    },
  },
  'accounts.email_changed': {
    email: {
      subject: 'The email address of your {{product_name}} account was changed',
      heading: 'Your email address was changed',
      blocks: [
        ['p', 'The email address of your {{product_name}} account was changed. From now on, mail for the account goes to the new address and this address can no longer be used to sign in.'],
        ['facts', [['New address', '{{truncate new_email 320}}', 'new_email'], AT]],
        // No "reset your password" link here: the account no longer answers to this address.
        ['p', 'If you did not make this change, someone else may have access to your account: contact {{product_name}} support right away.'],
      ],
    },
  },
  'mfa.backup_code_used': {
    email: {
      subject: 'A {{product_name}} backup code was used',
      heading: 'A backup code was used',
      blocks: [
        ['p', 'One of the backup codes of your {{product_name}} account was just used to sign in. Each code works once.'],
        ['facts', [AT, IP, ['Codes left', '{{remaining}}']]],
        ['link', 'If this was not you, secure your account now.', 'Reset your password', url('/forgot-password')],
      ],
    },
    sms: `A {{product_name}} backup code was just used to sign in ({{remaining}} left). Not you? Reset your password: ${url('/forgot-password')}`,
    in_app: { title: 'A backup code was used', text: 'One of your backup codes was used to sign in{{#if at}} on {{when at}}{{/if}}; {{remaining}} left. If this was not you, reset your password now.' },
  },
  'mfa.recovery': {
    email: {
      subject: 'Recover access to your {{product_name}} account',
      heading: 'Lost your second factor?',
      blocks: [
        ['p', 'Someone (hopefully you) asked to recover an account that is protected by a second factor. The link lets you sign in once with your password, without the second factor, and works for {{plural expires_minutes "minute"}}.'],
        ['p', 'Using it removes your authenticator app, backup codes and passkeys: you will enrol a new second factor right after signing in.'],
        ['action', 'Recover my account', url('/mfa/recover', 'token')],
        ['note', 'If you did not ask for this, ignore this email: nothing changes unless the link is used.'],
      ],
    },
    sms: `Recover your {{product_name}} account: ${url('/mfa/recover', 'token')} (expires in {{plural expires_minutes "minute"}}; removes your second factors). Did not ask? Ignore this message.`,
    in_app: { title: 'Account recovery requested', text: 'Someone asked to recover your account without its second factor. If this was not you, ignore it: nothing changes unless the emailed link is used.' },
  },
  'mfa.recovery_used': {
    email: {
      subject: 'Your {{product_name}} second factor was reset',
      heading: 'Your second factor was reset',
      blocks: [
        ['p', 'Your {{product_name}} account was recovered with an emailed link: its second factors were removed, and a new one must be enrolled.'],
        ['facts', [AT, IP]],
        ['link', 'If this was not you, someone has access to your email and password.', 'Reset your password now', url('/forgot-password')],
      ],
    },
    sms: `Your {{product_name}} second factors were removed by account recovery. Not you? Reset your password now: ${url('/forgot-password')}`,
    in_app: { title: 'Your second factor was reset', text: 'Your account was recovered with an emailed link and its second factors were removed. If this was not you, reset your password now.' },
  },
  'orgs.invitation': {
    email: {
      subject: `You are invited to join ${ORG} on {{product_name}}`,
      heading: `Join ${ORG}`,
      blocks: [
        ['p', `${INVITER} invited you to join ${ORG} on {{product_name}} as {{article role}} {{role}}.`],
        ['facts', [['Organization', ORG], ['Role', '{{role}}'], ['Invited by', INVITER], ['Expires', '{{when expires_at}}', 'expires_at']]],
        ['action', 'Accept the invitation', url('/invitations/accept', 'token')],
        ['note', 'No account yet? Sign up with this email address, then open the link again. The link works once, until {{when expires_at}}. If you did not expect this invitation, ignore this email.'],
      ],
    },
  },
  'otp.code': {
    email: {
      subject: 'Your {{product_name}} verification code',
      heading: 'Your verification code',
      blocks: [
        ['p', PURPOSE],
        ['code', '{{code}}'],
        ['p', 'The code works once and expires in {{plural expires_minutes "minute"}}.'],
        ['note', 'Never share this code: {{product_name}} will never ask you for it. If you did not ask for a code, you can ignore this email.'],
      ],
    },
    sms: '{{code}} is your {{product_name}} verification code. It expires in {{plural expires_minutes "minute"}}. Never share it.',
    in_app: { title: 'Verification code requested', text: 'A verification code was requested for your account. If this was not you, ignore it: the code expires in {{plural expires_minutes "minute"}}.' },
  },
  'privacy.export_ready': {
    email: {
      subject: 'Your {{product_name}} data export is ready',
      heading: 'Your data export is ready',
      blocks: [
        ['p', 'The export of your {{product_name}} account data that you asked for is ready to download.'],
        ['action', 'Download your data', '{{href url}}'],
        ['p', 'The link works until {{when expires_at}}.'],
        ['note', 'If you did not ask for an export, someone else may have access to your account: change your password.'],
      ],
    },
  },
  'privacy.compliance_alert': {
    email: {
      subject: '{{product_name}} compliance alert: {{truncate title 120}}',
      heading: '{{truncate title 200}}',
      blocks: [
        ['p', '{{detail}}'],
        ['note', 'You receive this alert because you are a platform admin of {{product_name}}.'],
      ],
    },
  },
  'communications.test': {
    email: {
      subject: 'Test message from {{product_name}}',
      heading: 'Test message',
      blocks: [
        ['p', 'A platform admin sent this message to check the {{product_name}} communication settings. If you can read it, the channel works.'],
        ['note', 'Nothing else to do.'],
      ],
    },
    sms: 'Test message from {{product_name}}: if you can read it, the SMS channel works.',
    in_app: { title: 'Test message', text: 'A platform admin sent this test notification from {{product_name}}: if you can read it, in-app notifications work.' },
    push: { title: 'Test message', text: 'A platform admin sent this test notification from {{product_name}}: if you can read it, push notifications work.' },
  },
  'webhooks.endpoint_disabled': {
    email: {
      subject: 'A webhook endpoint of your organization on {{product_name}} was disabled',
      heading: 'A webhook endpoint was disabled',
      blocks: [
        ['p', 'Deliveries to one of your organization\'s webhook endpoints kept failing, so {{product_name}} disabled it. No events are sent to it until it is enabled again.'],
        ['facts', [['Endpoint', '{{endpoint_id}}'], ['URL', '{{truncate url 300}}', 'url'], ['Reason', '{{truncate reason 300}}', 'reason']]],
        ['p', 'Check that the endpoint answers, then enable it again in the organization\'s webhook settings.'],
      ],
    },
    in_app: { title: 'A webhook endpoint was disabled', text: 'The webhook endpoint {{truncate url 200}} was disabled{{#if reason}}: {{truncate reason 200}}{{/if}}. Enable it again once it answers.' },
  },
};

// ---------------------------------------------------------------------------------------------
// Building the parts

const S = HOUSE_STYLES;

function blockHtml(block: Block, words: BuilderWords): string {
  switch (block[0]) {
    case 'p':
      return `<p style="${S.p}">${block[1]}</p>`;
    case 'note':
      return `<p style="${S.note}">${block[1]}</p>`;
    case 'action': {
      const [, label, href] = block;
      return (
        `<p style="margin:24px 0"><a href="${href}" style="${S.button}">${label}</a></p>\n` +
        `<p style="${S.note}">${words.buttonFallback}<br>` +
        `<a href="${href}" style="${S.a};word-break:break-all">${href}</a></p>`
      );
    }
    case 'link': {
      const [, text, label, href] = block;
      return `<p style="${S.p}">${text} <a href="${href}" style="${S.a}">${label}</a>.</p>`;
    }
    case 'code':
      return `<p style="${S.code}">${block[1]}</p>`;
    case 'facts': {
      const rows = block[1].map(([label, source, onlyIf]) => {
        const row = `<tr><td style="${S.label}">${label}</td><td style="${S.value}">${source}</td></tr>`;
        return onlyIf ? `{{#if ${onlyIf}}}${row}{{/if}}` : row;
      });
      return `<table role="presentation" style="${S.table}">\n${rows.join('\n')}\n</table>`;
    }
  }
}

function blockText(block: Block): string {
  switch (block[0]) {
    case 'p':
    case 'note':
      return block[1];
    case 'action':
      return `${block[1]}:\n${block[2]}`;
    case 'link':
      return `${block[1]} ${block[2]}:\n${block[3]}`;
    case 'code':
      return `    ${block[1]}`;
    case 'facts':
      // Optional rows on lines of their own: Handlebars drops a standalone {{#if}} line entirely.
      return block[1].map(([label, source, onlyIf]) => (onlyIf ? `{{#if ${onlyIf}}}\n${label}: ${source}\n{{/if}}` : `${label}: ${source}`)).join('\n');
  }
}

/** The HTML body (heading and blocks, house styles inlined) and the text body of an email. */
export function buildEmail(texts: EmailTexts, words: BuilderWords): { subject: string; html: string; text: string } {
  return {
    subject: texts.subject,
    html: [`<h1 style="${S.h1}">${texts.heading}</h1>`, ...texts.blocks.map((block) => blockHtml(block, words))].join('\n'),
    text: [texts.heading, ...texts.blocks.map(blockText)].join('\n\n'),
  };
}

export interface DefaultTemplate extends TemplateContent {
  name: SystemTemplateName;
  channel: Channel;
  locale: string;
  category: MessageCategory;
  description: string;
}

function templatesOf(locale: string, texts: Texts, words: BuilderWords): DefaultTemplate[] {
  return (Object.keys(SYSTEM_TEMPLATES) as SystemTemplateName[]).flatMap((name) => {
    const { category, variables, description } = SYSTEM_TEMPLATES[name];
    const message = texts[name];
    const base = { name, locale, category, description, variables: [...variables] as string[] };
    const found: DefaultTemplate[] = [{ ...base, channel: 'email', ...buildEmail(message.email, words) }];
    if (message.sms) found.push({ ...base, channel: 'sms', subject: null, html: null, text: message.sms });
    if (message.in_app) found.push({ ...base, channel: 'in_app', subject: message.in_app.title, html: null, text: message.in_app.text });
    if (message.push) found.push({ ...base, channel: 'push', subject: message.push.title, html: null, text: message.push.text });
    return found;
  });
}

/** Every system template, English and Spanish. */
export const DEFAULT_TEMPLATES: readonly DefaultTemplate[] = Object.freeze([
  ...templatesOf('en', ENGLISH, { buttonFallback: 'If the button does not work, copy this link into your browser:' }),
  ...templatesOf('es', SPANISH, SPANISH_WORDS),
]);

/** The category of a system template; undefined for any other name. */
export function systemCategory(name: string): MessageCategory | undefined {
  return Object.hasOwn(SYSTEM_TEMPLATES, name) ? SYSTEM_TEMPLATES[name as SystemTemplateName].category : undefined;
}

/** The variables a system template's messages are sent with; null for any other name. */
export function systemVariables(name: string): readonly string[] | null {
  return Object.hasOwn(SYSTEM_TEMPLATES, name) ? SYSTEM_TEMPLATES[name as SystemTemplateName].variables : null;
}
