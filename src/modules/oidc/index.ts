export {
  createApplicationsService, createClientRegistry, newClientSecret,
  type ApplicationsService, type ApplicationView, type ClientMetadata, type ClientRegistry, type Grant,
} from './oidc.applications.service.js';
export { createResourcesService, RESERVED_SCOPES, type ResourcesService, type ResourceView } from './oidc.resources.service.js';
export { applicationRoutes } from './oidc.applications.routes.js';
export { resourceRoutes } from './oidc.resources.routes.js';
export { APPLICATION_TYPES, type ApplicationType } from './oidc.applications.uris.js';
export { oidcErrors } from './oidc.errors.js';
export { createOidcAdapter, OIDC_CLEANUP_QUEUE, removeExpiredOidcModels, scheduleOidcCleanup, type OidcAdapter, type OidcAdapterConstructor, type OidcPayload } from './oidc.adapter.js';
export { createOidcProvider, INTERACTION_PAGE, OIDC_ROUTES, OIDC_SCOPES, type OidcProvider, type OidcAccount } from './oidc.provider.js';
export { createInteractionService, type InteractionService } from './oidc.interactions.service.js';
export { interactionRoutes, oidcProviderRoutes } from './oidc.provider.routes.js';
export { createConnectedApps, type ConnectedApps } from './oidc.grants.service.js';
export { connectedAppRoutes } from './oidc.grants.routes.js';
