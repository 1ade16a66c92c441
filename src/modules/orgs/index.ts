export { createOrgsService, type OrgsService, type OrgContext, RESERVED_SLUGS } from './orgs.service.js';
export { orgRoutes, ORG_ROUTES } from './orgs.routes.js';
export { BUILT_IN_ROLES, PERMISSIONS, type Permission } from './orgs.permissions.js';
export { orgErrors } from './orgs.errors.js';
