export { createPasskeyService, type PasskeyService, type PasskeySettings, type PasskeyAssertion, type CredentialResponse } from './passkeys.service.js';
export { passkeyRoutes, passkeyAmr, type PasskeyRoutesDeps } from './passkeys.routes.js';
export { passkeyErrors } from './passkeys.errors.js';
export { passkeys } from './passkeys.tables.js';
export type { PasskeyRow } from './passkeys.queries.js';
