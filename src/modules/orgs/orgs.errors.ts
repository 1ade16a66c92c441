import { defineErrors } from '../../platform/http/errors.js';

export const orgErrors = defineErrors({
  org_not_found: { status: 404, title: 'No such organization' },
  member_not_found: { status: 404, title: 'No such member' },
  slug_taken: { status: 409, title: 'The slug is taken' },
  invalid_slug: { status: 422, title: 'The slug is not allowed' },
  last_owner: { status: 409, title: 'The organization must keep an owner' },
  unknown_role: { status: 422, title: 'No such role' },
  unknown_permission: { status: 422, title: 'No such permission' },
  permission_denied: { status: 403, title: 'Your role does not allow this' },
  invitation_not_found: { status: 404, title: 'No such pending invitation' },
  invitation_invalid: { status: 400, title: 'The invitation is invalid, used, revoked or expired' },
  invitation_email_mismatch: { status: 403, title: 'The invitation was sent to another email address' },
  email_not_verified: { status: 403, title: 'Verify your email address before accepting an invitation' },
  already_member: { status: 409, title: 'Already a member of the organization' },
  tier_limit_reached: { status: 403, title: "The organization's tier limit is reached" },
  invitation_pending: { status: 409, title: 'An invitation for this address is pending: resend it instead' },
});
