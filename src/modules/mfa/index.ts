export { createMfaService, type MfaService, type PasskeyVerifier, type OtpFactor } from './mfa.service.js';
export { mfaRoutes } from './mfa.routes.js';
export { totpCode, matchingStep } from './totp.js';
