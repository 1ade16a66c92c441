export {
  createMfaService, RECOVERY_QUEUE,
  type MfaService, type PasskeyVerifier, type OtpFactor, type SecondFactorInput, type VerifiedSignIn, type RecoveryJob,
} from './mfa.service.js';
export { createMfaPolicy, createEnrolmentCheck, type MfaPolicy, type EnrolmentCheck, type MfaRequirement } from './mfa.policy.service.js';
export { mfaRoutes, type MfaSignInRoutes } from './mfa.routes.js';
export { mfaErrors } from './mfa.errors.js';
export { totpCode, matchingStep } from './totp.js';
