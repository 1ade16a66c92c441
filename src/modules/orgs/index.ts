export { createOrgsService, type OrgsService, type OrgContext, RESERVED_SLUGS } from './orgs.service.js';
export { orgRoutes, createOrgGuard, ORG_ROUTES, OrgId, Org, orgBody, TierLimitsSchema } from './orgs.routes.js';
export { invitationRoutes } from './orgs.invitations.routes.js';
export { createInvitationsService, type InvitationsService, type InvitationRow } from './orgs.invitations.service.js';
export { registerOrgMails } from './orgs.mails.js';
export { BUILT_IN_ROLES, PERMISSIONS, type Permission } from './orgs.permissions.js';
export { orgErrors } from './orgs.errors.js';
export { createTiers, isTier, TIERS, DEFAULT_TIER_LIMITS, type Tier, type TierLimits, type Tiers } from './orgs.tiers.js';
