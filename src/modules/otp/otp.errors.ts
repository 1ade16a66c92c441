import { defineErrors } from '../../platform/http/errors.js';
import { accountErrors } from '../accounts/index.js';

/**
 * Refusals of the OTP service. Every verification failure is a 400 with a code a client can act
 * on; an unknown `otp_id` answers exactly like a wrong code (`invalid_code` with `attempts_left`),
 * so an id says nothing about whether a code was ever sent. `channel_disabled` (422) and
 * `rate_limited` (429) are shared codes of the communications and HTTP catalogues.
 */
export const otpErrors = {
  /** The same refusal as a wrong email-verification code. */
  invalid_code: accountErrors.invalid_code,
  ...defineErrors({
    otp_expired: { status: 400, title: 'The code has expired: request a new one' },
    otp_used: { status: 400, title: 'The code was already used' },
    otp_locked: { status: 400, title: 'Too many wrong attempts: the code no longer works, request a new one' },
    otp_cooldown: { status: 429, title: 'A code was just sent: wait before asking for another' },
    phone_in_use: { status: 409, title: 'Another account already verified this phone number' },
    phone_not_found: { status: 404, title: 'No phone number is set on this account' },
  }),
};

/** The codes of `otpErrors` a verification can fail with. */
export type OtpFailure = 'invalid_code' | 'otp_expired' | 'otp_used' | 'otp_locked';
