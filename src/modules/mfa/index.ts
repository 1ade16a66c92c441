export { createMfaService, type MfaService, type PasskeyVerifier } from './mfa.service.js';
export { mfaRoutes } from './mfa.routes.js';
export { registerMfaMails } from './mfa.mails.js';
export { totpCode, matchingStep } from './totp.js';
