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
});
