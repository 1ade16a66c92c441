import { defineErrors } from '../../platform/http/errors.js';
import { accountErrors } from '../accounts/index.js';

export const orgErrors = {
  // The same refusals as in accounts (an organization token asked for a foreign org; an unverified address).
  org_not_found: accountErrors.org_not_found,
  email_not_verified: accountErrors.email_not_verified,
  ...defineErrors({
    organization_required: { status: 400, title: 'Which organization?' },
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
    already_member: { status: 409, title: 'Already a member of the organization' },
    tier_limit_reached: { status: 403, title: "The organization's tier limit is reached" },
    role_not_found: { status: 404, title: 'No such role' },
    role_name_taken: { status: 409, title: 'A role of this name exists' },
    role_in_use: { status: 409, title: 'The role is still held' },
    role_limit_reached: { status: 409, title: 'Too many custom roles' },
    api_key_not_found: { status: 404, title: 'No such API key' },
    api_key_not_allowed: { status: 403, title: 'API keys cannot do this: sign in as a member' },
    scope_missing: { status: 403, title: 'The API key lacks the scope this needs' },
    invitation_pending: { status: 409, title: 'An invitation for this address is pending: resend it instead' },
    invitation_limit_reached: { status: 429, title: 'Too many invitations to this address today' },
  }),
};
