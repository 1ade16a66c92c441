import { defineErrors } from '../../platform/http/errors.js';
import { mfaErrors } from '../mfa/index.js';

export const passkeyErrors = {
  // Removing the last second factor under MFA_REQUIRED: the refusal TOTP's removal answers.
  mfa_required_by_policy: mfaErrors.mfa_required_by_policy,
  ...defineErrors({
    challenge_invalid: { status: 400, title: 'The passkey challenge is unknown, expired or already used' },
    passkey_verification_failed: { status: 401, title: 'The passkey could not be verified' },
    /** A registration the server cannot verify (wrong origin, bad attestation, malformed response): a bad request, not a failed sign-in. */
    passkey_registration_failed: { status: 400, title: 'The passkey could not be registered' },
    passkey_already_registered: { status: 409, title: 'This passkey is already registered' },
    passkey_not_found: { status: 404, title: 'No such passkey' },
    invalid_passkey_name: { status: 422, title: 'The passkey name is not valid' },
  }),
};
