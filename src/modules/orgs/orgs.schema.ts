import type { Permission } from './orgs.permissions.js';
import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import { BUILT_IN_ROLES } from './orgs.permissions.js';
import type { MemberRow, OrgRow } from './orgs.queries.js';
import type { InvitationRow } from './orgs.invitations.queries.js';
import type { RoleRow } from './orgs.roles.queries.js';
import type { ReceivedInvitation as ReceivedInvitationView } from './orgs.invitations.service.js';
import type { ApiKeyRow } from './orgs.api-keys.queries.js';

/** The wire format of organizations and their members, invitations, roles and API keys: request and response schemas, and rows to bodies. */

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

// Ids in paths and bodies.
export const OrgId = Type.String({ pattern: '^org_[0-9a-z]{26}$' });
export const UserId = Type.String({ pattern: '^usr_[0-9a-z]{26}$' });
export const InvitationId = Type.String({ pattern: '^inv_[0-9a-z]{26}$' });
export const RoleId = Type.String({ pattern: '^rol_[0-9a-z]{26}$' });
export const KeyId = Type.String({ pattern: '^key_[0-9a-z]{26}$' });

export const OrgParams = Type.Object({ org_id: OrgId });
export const MemberParams = Type.Object({ org_id: OrgId, user_id: UserId });
export const InvitationParams = Type.Object({ org_id: OrgId, invitation_id: InvitationId });
/** One of the caller's own invitations (`/v1/me/invitations/{invitation_id}`). */
export const ReceivedInvitationParams = Type.Object({ invitation_id: InvitationId });
export const RoleParams = Type.Object({ org_id: OrgId, role_id: RoleId });
export const KeyParams = Type.Object({ org_id: OrgId, key_id: KeyId });

// Organizations.
const Limit = Nullable(Type.Integer({ minimum: 1 }));
/** A tier's limits; null is unlimited. */
export const TierLimitsSchema = Type.Object({ members: Limit, api_keys: Limit, webhooks: Limit, requests_per_minute: Limit });
/** `limits` (the limits of the organization's tier) only where one organization is read. */
export const Org = Type.Object({
  id: Type.String(), slug: Type.String(), name: Type.String(), tier: Type.String(), limits: Type.Optional(TierLimitsSchema), role: Type.String(), created_at: Timestamp, updated_at: Timestamp,
});
/** A name is trimmed before it is stored: one that is only blanks would be stored empty. */
export const OrgName = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
export const Slug = Type.String({ minLength: 1, maxLength: 100 });
export const CreateOrg = Type.Object({ name: OrgName, slug: Type.Optional(Slug) }, { additionalProperties: false });
export const UpdateOrg = Type.Object({ name: Type.Optional(OrgName), slug: Type.Optional(Slug) }, { additionalProperties: false, minProperties: 1 });

export function orgBody(org: OrgRow, role: string): Static<typeof Org> {
  return { id: org.id, slug: org.slug, name: org.name, tier: org.tier, role, created_at: org.createdAt.toISOString(), updated_at: org.updatedAt.toISOString() };
}

export const PermissionCatalogue = Type.Object({
  data: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
  roles: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), permissions: Type.Array(Type.String()) })),
});
export const CheckPermission = Type.Object({ permission: Type.String({ minLength: 1, maxLength: 64 }), user_id: Type.Optional(UserId) }, { additionalProperties: false });
export const Allowed = Type.Object({ allowed: Type.Boolean() });

// Members.
/** A role key: a built-in role's name or a custom role's id. */
export const Role = Type.String({ pattern: '^(owner|admin|member|viewer|rol_[0-9a-z]{26})$', description: 'owner, admin, member, viewer, or a custom role id (rol_…)' });
export const Member = Type.Object({ user_id: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: Type.String(), joined_at: Timestamp });
export const MemberSearch = Type.String({ minLength: 1, maxLength: 100, description: 'Part of the email address or name, case-insensitive' });
export const ChangeRole = Type.Object({ role: Role }, { additionalProperties: false });
export const TransferOwnership = Type.Object({ user_id: UserId }, { additionalProperties: false });

export function memberBody(row: MemberRow): Static<typeof Member> {
  return { user_id: row.userId, email: row.email, name: row.name, role: row.role, joined_at: row.joinedAt.toISOString() };
}

// Invitations.
export const Invitation = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  invited_by: Nullable(Type.String()),
  created_at: Timestamp,
  expires_at: Timestamp,
});
export const CreateInvitation = Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }), role: Role }, { additionalProperties: false });
export const AcceptInvitation = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const AcceptedInvitation = Type.Object({ org: Org, role: Type.String() });

/** An invitation as its invitee sees it: the invitation preview and the caller's own invitations. */
export const ReceivedInvitation = Type.Object({
  id: Type.String(),
  organization: Type.Object({ id: Type.String(), name: Type.String() }),
  role: Type.Object({
    key: Type.String({ description: "What the invitation grants, as members' `role` holds it: a built-in role's name or a custom role's id (rol_…)" }),
    name: Type.String({ description: "The role's name: the built-in name, or the custom role's name" }),
  }),
  email: Type.String({ description: 'The address the invitation was sent to' }),
  inviter_name: Nullable(Type.String({ description: "The inviter's name; null when they have none or their account is gone" })),
  expires_at: Timestamp,
});

export function receivedInvitationBody(view: ReceivedInvitationView): Static<typeof ReceivedInvitation> {
  return {
    id: view.id,
    organization: { id: view.orgId, name: view.orgName },
    role: { key: view.roleKey, name: view.roleName },
    email: view.email,
    inviter_name: view.inviterName,
    expires_at: view.expiresAt.toISOString(),
  };
}

export function invitationBody(row: InvitationRow): Static<typeof Invitation> {
  return { id: row.id, email: row.email, role: row.role, invited_by: row.invitedBy, created_at: row.createdAt.toISOString(), expires_at: row.expiresAt.toISOString() };
}

// Custom roles.
export const RoleBody = Type.Object({
  id: Type.String({ description: 'A built-in role\'s name, or a custom role\'s id: what members\' `role` holds' }),
  name: Type.String(),
  description: Nullable(Type.String()),
  permissions: Type.Array(Type.String()),
  built_in: Type.Boolean(),
  created_at: Nullable(Timestamp),
  updated_at: Nullable(Timestamp),
});
const RoleName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
const Description = Nullable(Type.String({ maxLength: 500 }));
const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64, uniqueItems: true });
export const CreateRole = Type.Object({ name: RoleName, description: Type.Optional(Description), permissions: Permissions }, { additionalProperties: false });
export const UpdateRole = Type.Object(
  { name: Type.Optional(RoleName), description: Type.Optional(Description), permissions: Type.Optional(Permissions) },
  { additionalProperties: false, minProperties: 1 },
);

export function roleBody(row: RoleRow): Static<typeof RoleBody> {
  return {
    id: row.id, name: row.name, description: row.description, permissions: row.permissions, built_in: false,
    created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString(),
  };
}

/** The built-in roles, as the role list shows them before the custom ones. */
export const BUILT_IN_ROLE_BODIES: readonly Static<typeof RoleBody>[] = Object.entries(BUILT_IN_ROLES).map(([name, role]) => ({
  id: name, name, description: role.description, permissions: [...role.permissions], built_in: true, created_at: null, updated_at: null,
}));

// API keys.
export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'The start of the secret, to tell keys apart' }),
  scopes: Type.Array(Type.String()),
  rate_limit_per_minute: Nullable(Type.Integer()),
  created_by: Nullable(Type.String()),
  created_at: Timestamp,
  expires_at: Nullable(Timestamp),
  last_used_at: Nullable(Timestamp),
  last_used_ip: Nullable(Type.String()),
});
export const CreateApiKey = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
    scopes: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 64, uniqueItems: true }),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
    rate_limit_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export const CreatedApiKey = Type.Composite([ApiKey, Type.Object({ secret: Type.String() })]);

export function keyBody(row: ApiKeyRow): Static<typeof ApiKey> {
  return {
    id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes, rate_limit_per_minute: row.rateLimitPerMinute, created_by: row.createdBy,
    created_at: row.createdAt.toISOString(), expires_at: iso(row.expiresAt), last_used_at: iso(row.lastUsedAt), last_used_ip: row.lastUsedIp,
  };
}

/** Who acts in an organization: a member, or one of its API keys. */
export type OrgActor = { type: 'user'; id: string } | { type: 'api_key'; id: string };

/** Who is acting in an organization: resolved once per request by the org guard. */
export interface OrgContext {
  orgId: string;
  actor: OrgActor;
  /** The member acting; null when an API key acts. */
  userId: string | null;
  /** The member's role key (built-in name or `rol_…`), or `api_key`. */
  role: string;
  /** The role's permissions, or the API key's scopes. */
  permissions: readonly Permission[];
}
