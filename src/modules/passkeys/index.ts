export {
  createPasskeyService, passkeyAmr, type PasskeyService, type PasskeySettings, type PasskeyAssertion, type CredentialResponse,
} from './passkeys.service.js';
export { passkeyRoutes, type PasskeyRoutesDeps, type PasskeySignInRoutes } from './passkeys.routes.js';
export { passkeyErrors } from './passkeys.errors.js';
export type { PasskeyRow } from './passkeys.schema.js';
