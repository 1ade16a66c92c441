import { defineErrors } from '../../platform/http/errors.js';

export const mfaErrors = defineErrors({
  invalid_mfa_token: { status: 401, title: 'The MFA token is invalid, expired or used up' },
  invalid_mfa_code: { status: 401, title: 'The code is wrong or was already used' },
  totp_already_enabled: { status: 409, title: 'An authenticator app is already enrolled' },
  totp_not_started: { status: 409, title: 'Start the enrolment first (POST /v1/me/mfa/totp)' },
  totp_not_enabled: { status: 404, title: 'No authenticator app is enrolled' },
  no_second_factor: { status: 409, title: 'Enrol a second factor first' },
  recovery_invalid: { status: 400, title: 'The recovery link is invalid, expired or already used' },
  too_many_attempts: { status: 429, title: 'Too many wrong codes for this account' },
  mfa_required_by_policy: { status: 409, title: 'A second factor is required for this account' },
  reauthentication_failed: { status: 401, title: 'That did not prove who you are' },
  mfa_method_unavailable: { status: 422, title: 'This second factor is not available for this account' },
});
