import { defineErrors } from '../../platform/http/errors.js';

export const accountErrors = defineErrors({
  email_taken: { status: 409, title: 'An account with this email already exists' },
  weak_password: { status: 422, title: 'The password does not meet the policy' },
  invalid_email: { status: 422, title: 'The email address is not valid' },
});
