import { defineErrors } from '../../platform/http/errors.js';

export const accountErrors = defineErrors({
  invalid_credentials: { status: 401, title: 'The email or password is wrong' },
  account_locked: { status: 423, title: 'The account is locked after too many failed sign-ins' },
  email_not_verified: { status: 403, title: 'Verify your email address first' },
  weak_password: { status: 422, title: 'The password does not meet the policy' },
  invalid_email: { status: 422, title: 'The email address is not valid' },
  invalid_profile: { status: 422, title: 'The profile has invalid values' },
  invalid_link: { status: 400, title: 'The link is invalid, expired or already used' },
  invalid_code: { status: 400, title: 'The code is wrong or has expired' },
  org_not_found: { status: 404, title: 'No such organization' },
  invalid_refresh_token: { status: 401, title: 'The refresh token is invalid or expired' },
  refresh_token_reused: { status: 401, title: 'The refresh token was already used; the session has been ended' },
  session_not_found: { status: 404, title: 'No such session' },
  email_taken: { status: 409, title: 'An account with this email already exists' },
});
