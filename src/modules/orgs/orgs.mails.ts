/**
 * The data of the `orgs.invitation` message (its template, English and Spanish, is a system
 * template of the communications module: communications.templates.defaults.ts).
 */
export type InvitationMailData = {
  token: string;
  org_name: string;
  role: string;
  inviter_name?: string | null;
  inviter_email?: string | null;
  expires_at: string;
};
