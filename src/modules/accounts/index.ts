export { createAccountsService, type AccountsService } from './accounts.service.js';
export { accountErrors } from './accounts.errors.js';
export { users } from './accounts.tables.js';
