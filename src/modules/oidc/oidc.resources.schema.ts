import { Type, type Static } from '@sinclair/typebox';
import { Timestamp } from '../../platform/http/schemas.js';
import type { ResourceView } from './oidc.resources.service.js';

/** The wire format of API resources: request and response schemas, and views to bodies. */

export const ResourceId = Type.String({ pattern: '^res_[0-9a-z]{26}$' });
export const ResourceParams = Type.Object({ resource_id: ResourceId });

const Scope = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$', description: 'e.g. read:reports; unique within the resource' }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
const Scopes = Type.Array(Scope, { maxItems: 200 });
const ResourceName = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });

export const CreateResourceBody = Type.Object(
  {
    indicator: Type.String({ minLength: 1, maxLength: 2048, description: 'An absolute URI without fragment (RFC 8707): the aud of its access tokens; unique, never changes' }),
    name: ResourceName,
    scopes: Type.Optional(Scopes),
  },
  { additionalProperties: false },
);

/** The indicator never changes; `scopes` replaces the whole list (grants of removed scopes go with them). */
export const UpdateResourceBody = Type.Object({ name: Type.Optional(ResourceName), scopes: Type.Optional(Scopes) }, { additionalProperties: false, minProperties: 1 });

export const Resource = Type.Object({
  id: Type.String(),
  indicator: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export function resourceBody(resource: ResourceView): Static<typeof Resource> {
  return {
    id: resource.id, indicator: resource.indicator, name: resource.name, scopes: resource.scopes,
    created_at: resource.createdAt.toISOString(), updated_at: resource.updatedAt.toISOString(),
  };
}
