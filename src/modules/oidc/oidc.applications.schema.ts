import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import { OrgId } from '../orgs/index.js';
import { APPLICATION_TYPES, grantTypesOf, responseTypesOf } from './oidc.applications.uris.js';
import type { ApplicationView } from './oidc.applications.service.js';

/** The wire format of applications and their grants: request and response schemas, and views to bodies. */

export const ApplicationId = Type.String({ pattern: '^app_[0-9a-z]{26}$' });
export const ApplicationParams = Type.Object({ app_id: ApplicationId });

const Uri = Type.String({ minLength: 1, maxLength: 2048 });
const Uris = (description: string) => Type.Array(Uri, { maxItems: 50, uniqueItems: true, description });
const RedirectUris = Uris('Absolute, no fragment, https (http on localhost, 127.0.0.1 or [::1]); native applications may also use a private-use scheme (com.example.app:/callback)');
const PostLogoutRedirectUris = Uris('Where RP-initiated logout may return; the rules of redirect_uris');
const AllowedOrigins = Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 50, uniqueItems: true, description: 'Browser origins (scheme://host[:port], no path) allowed to call the token endpoint' });
const BackchannelLogoutUri = Nullable(Type.String({ minLength: 1, maxLength: 2048, description: 'Where back-channel logout tokens are posted (https, no fragment)' }));
export const ApplicationName = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const AuthMethod = Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], { description: 'Confidential types only (web, m2m); default client_secret_basic' });

export const ApplicationType = Type.Union(APPLICATION_TYPES.map((type) => Type.Literal(type)), {
  description: 'web: confidential (code + PKCE, secret); spa, native: public (code + PKCE); m2m: client credentials (secret); device: device authorization grant (public)',
});

export const Grant = Type.Object({
  resource: Type.String({ minLength: 1, maxLength: 2048, description: 'The resource indicator' }),
  scopes: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, uniqueItems: true }),
});

export const CreateApplicationBody = Type.Object(
  {
    name: ApplicationName,
    type: ApplicationType,
    redirect_uris: Type.Optional(RedirectUris),
    post_logout_redirect_uris: Type.Optional(PostLogoutRedirectUris),
    allowed_origins: Type.Optional(AllowedOrigins),
    backchannel_logout_uri: Type.Optional(BackchannelLogoutUri),
    first_party: Type.Optional(Type.Boolean({ description: 'First-party applications skip the consent screen' })),
    org_id: Type.Optional(Nullable(OrgId)),
    token_endpoint_auth_method: Type.Optional(AuthMethod),
  },
  { additionalProperties: false },
);

/** Type and organization never change. */
export const UpdateApplicationBody = Type.Object(
  {
    name: Type.Optional(ApplicationName),
    redirect_uris: Type.Optional(RedirectUris),
    post_logout_redirect_uris: Type.Optional(PostLogoutRedirectUris),
    allowed_origins: Type.Optional(AllowedOrigins),
    backchannel_logout_uri: Type.Optional(BackchannelLogoutUri),
    first_party: Type.Optional(Type.Boolean()),
    token_endpoint_auth_method: Type.Optional(AuthMethod),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const GrantsBody = Type.Object({ grants: Type.Array(Grant, { maxItems: 100 }) }, { additionalProperties: false });
export const Grants = Type.Object({ data: Type.Array(Grant) });

export const Application = Type.Object({
  id: Type.String(),
  client_id: Type.String({ description: 'The same as id' }),
  name: Type.String(),
  type: Type.String(),
  org_id: Nullable(Type.String()),
  first_party: Type.Boolean(),
  redirect_uris: Type.Array(Type.String()),
  post_logout_redirect_uris: Type.Array(Type.String()),
  allowed_origins: Type.Array(Type.String()),
  backchannel_logout_uri: Nullable(Type.String()),
  token_endpoint_auth_method: Type.String(),
  grant_types: Type.Array(Type.String()),
  response_types: Type.Array(Type.String()),
  has_secret: Type.Boolean({ description: 'Confidential types; the secret itself is answered only when it is made' }),
  previous_secret_expires_at: Nullable(Timestamp),
  grants: Type.Array(Grant),
  created_at: Timestamp,
  updated_at: Timestamp,
});

/** The answer that carries a new secret (creation of a confidential application, rotation). */
export const ApplicationWithSecret = Type.Composite([
  Application,
  Type.Object({ client_secret: Type.Optional(Type.String({ description: 'Shown in this answer only' })) }),
]);

export function applicationBody(app: ApplicationView): Static<typeof Application> {
  return {
    id: app.id, client_id: app.id, name: app.name, type: app.type, org_id: app.orgId, first_party: app.firstParty,
    redirect_uris: app.redirectUris, post_logout_redirect_uris: app.postLogoutRedirectUris, allowed_origins: app.allowedOrigins,
    backchannel_logout_uri: app.backchannelLogoutUri, token_endpoint_auth_method: app.tokenEndpointAuthMethod,
    grant_types: grantTypesOf(app.type), response_types: responseTypesOf(app.type), has_secret: app.secret !== null,
    previous_secret_expires_at: app.previousSecret && app.previousSecretExpiresAt && app.previousSecretExpiresAt > new Date() ? app.previousSecretExpiresAt.toISOString() : null,
    grants: app.grants, created_at: app.createdAt.toISOString(), updated_at: app.updatedAt.toISOString(),
  };
}
