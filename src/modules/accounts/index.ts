export { createAccountsService, type AccountsService, type AccountSettings } from './accounts.service.js';
export { createAdminService, type AdminService } from './accounts.admins.js';
export { createSessionService, type SessionService, type ClientInfo, type IssuedTokens } from './accounts.sessions.js';
export { registerAccountMails } from './accounts.mails.js';
export { accountErrors } from './accounts.errors.js';
export { users, sessions } from './accounts.tables.js';
export type { UserRow } from './accounts.queries.js';
export { accountRoutes } from './accounts.routes.js';
export { meRoutes } from './accounts.me.routes.js';
