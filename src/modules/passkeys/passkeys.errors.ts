import { defineErrors } from '../../platform/http/errors.js';

export const passkeyErrors = defineErrors({
  challenge_invalid: { status: 400, title: 'The passkey challenge is unknown, expired or already used' },
  passkey_verification_failed: { status: 401, title: 'The passkey could not be verified' },
  /** A registration the server cannot verify (wrong origin, bad attestation, malformed response): a bad request, not a failed sign-in. */
  passkey_registration_failed: { status: 400, title: 'The passkey could not be registered' },
  passkey_already_registered: { status: 409, title: 'This passkey is already registered' },
  passkey_not_found: { status: 404, title: 'No such passkey' },
  invalid_passkey_name: { status: 422, title: 'The passkey name is not valid' },
});
