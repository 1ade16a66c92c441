import type { MailTemplate, MessageCategory } from '../../platform/mail/index.js';
import { action, facts, note, oneLine, p, pageUrl, render, when } from '../../platform/mail/layout.js';

export type InvitationMailData = {
  token: string;
  org_name: string;
  role: string;
  inviter_name?: string | null;
  inviter_email?: string | null;
  expires_at: string;
};

const invitation: MailTemplate<InvitationMailData> = (data, context) => {
  const org = oneLine(data.org_name, 100) ?? 'an organization';
  const inviterName = oneLine(data.inviter_name, 100);
  const inviterEmail = oneLine(data.inviter_email, 254);
  const inviter = inviterName && inviterEmail ? `${inviterName} (${inviterEmail})` : (inviterName ?? inviterEmail ?? 'Someone');
  return render(context, `You are invited to join ${org} on ${context.productName}`, `Join ${org}`, [
    p(`${inviter} invited you to join ${org} on ${context.productName} as ${data.role === 'admin' || data.role === 'owner' ? 'an' : 'a'} ${data.role}.`),
    facts([
      ['Organization', org],
      ['Role', data.role],
      ['Invited by', inviter],
      ['Expires', when(data.expires_at)],
    ]),
    action('Accept the invitation', pageUrl(context, '/accept-invitation', data.token)),
    note(`No account yet? Sign up with this email address, then open the link again. The link works once, until ${when(data.expires_at)}. If you did not expect this invitation, ignore this email.`),
  ]);
};

export const orgMailTemplates = { 'orgs.invitation': invitation } as const;

export function registerOrgMails(mail: { register<D>(name: string, template: MailTemplate<D>, options?: { category?: MessageCategory }): void }): void {
  const entries: [string, MailTemplate<never>][] = Object.entries(orgMailTemplates);
  // An invitation is about an organization: a user may opt out of those (security mail stays).
  for (const [name, template] of entries) mail.register(name, template, { category: 'organization' });
}
