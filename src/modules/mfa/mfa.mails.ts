import type { MailTemplate } from '../../platform/mail/index.js';
import { action, facts, link, note, oneLine, p, pageUrl, plural, render, when } from '../../platform/mail/layout.js';

export interface BackupCodeUsedData {
  at: string;
  remaining: number;
  ip?: string | null;
}
export interface RecoveryData {
  token: string;
  expires_minutes: number;
}
export interface RecoveryUsedData {
  at: string;
  ip?: string | null;
}

const backupCodeUsed: MailTemplate<BackupCodeUsedData> = (data, context) =>
  render(context, `A ${context.productName} backup code was used`, 'A backup code was used', [
    p(`One of the backup codes of your ${context.productName} account was just used to sign in. Each code works once.`),
    facts([
      ['When', when(data.at)],
      ['IP address', oneLine(data.ip, 64)],
      ['Codes left', String(data.remaining)],
    ]),
    link('If this was not you, secure your account now.', 'Reset your password', pageUrl(context, '/forgot-password')),
  ]);

const recovery: MailTemplate<RecoveryData> = (data, context) =>
  render(context, `Recover access to your ${context.productName} account`, 'Lost your second factor?', [
    p(
      `Someone (hopefully you) asked to recover an account that is protected by a second factor. The link lets you sign in once with your password, without the second factor, and works for ${plural(data.expires_minutes, 'minute')}.`,
    ),
    p('Using it removes your authenticator app, backup codes and passkeys: you will enrol a new second factor right after signing in.'),
    action('Recover my account', pageUrl(context, '/mfa-recovery', data.token)),
    note('If you did not ask for this, ignore this email: nothing changes unless the link is used.'),
  ]);

const recoveryUsed: MailTemplate<RecoveryUsedData> = (data, context) =>
  render(context, `Your ${context.productName} second factor was reset`, 'Your second factor was reset', [
    p(`Your ${context.productName} account was recovered with an emailed link: its second factors were removed, and a new one must be enrolled.`),
    facts([
      ['When', when(data.at)],
      ['IP address', oneLine(data.ip, 64)],
    ]),
    link('If this was not you, someone has access to your email and password.', 'Reset your password now', pageUrl(context, '/forgot-password')),
  ]);

export const mfaMailTemplates = { 'mfa.backup_code_used': backupCodeUsed, 'mfa.recovery': recovery, 'mfa.recovery_used': recoveryUsed } as const;

export function registerMfaMails(mail: { register<D>(name: string, template: MailTemplate<D>): void }): void {
  const entries: [string, MailTemplate<never>][] = Object.entries(mfaMailTemplates);
  for (const [name, template] of entries) mail.register(name, template);
}
