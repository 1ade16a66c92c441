export {
  createAccounts, type Accounts, type AccountsService, type AccountSettings,
} from './accounts.service.js';
export { normaliseEmail, type Prover, type VerifiedEmail } from './accounts.email.service.js';
export type { MfaChallenge, SignInResult, SignInService } from './accounts.signin.service.js';
export type { OneTimeLinks } from './accounts.links.service.js';
export { createUserDirectory, type UserDirectory } from './accounts.directory.js';
export { createAdminService, type AdminService } from './accounts.admins.js';
export { createSessionService, type SessionService, type ClientInfo, type IssuedTokens } from './accounts.sessions.js';
export { accountErrors } from './accounts.errors.js';
export { accountRoutes, type SignInRoutes } from './accounts.routes.js';
export { meRoutes } from './accounts.me.routes.js';
export { Tokens, MfaRequired, User, userBody, type UserRow, type TokenPurpose } from './accounts.schema.js';
export { deviceName } from './device.js';
