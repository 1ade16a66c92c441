/** Every permission an organization role can hold, with what it allows. */
export const PERMISSIONS = {
  'org:read': 'See the organization',
  'org:write': 'Rename the organization or change its slug',
  'org:delete': 'Delete the organization',
  'org:transfer': 'Transfer ownership',
  'members:read': 'List members and check their permissions',
  'members:write': "Change members' roles and remove members",
  'roles:write': 'Create, change and delete custom roles',
  'api_keys:write': 'Create and revoke API keys',
  'webhooks:write': 'Manage webhook endpoints',
  'audit:read': 'Read the audit log',
  'billing:write': 'Change billing and plan',
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

export type BuiltInRole = 'owner' | 'admin' | 'member' | 'viewer';

/** The built-in roles and their permission sets (documented in the README). */
export const BUILT_IN_ROLES: Record<BuiltInRole, { description: string; permissions: readonly Permission[] }> = {
  owner: { description: 'Everything, including deleting the organization and transferring ownership', permissions: PERMISSION_NAMES },
  admin: {
    description: 'Everything but deleting the organization, transferring ownership and billing',
    permissions: PERMISSION_NAMES.filter((p) => !['org:delete', 'org:transfer', 'billing:write'].includes(p)),
  },
  member: { description: 'Sees the organization and its members', permissions: ['org:read', 'members:read'] },
  viewer: { description: 'Sees the organization', permissions: ['org:read'] },
};

export function isBuiltInRole(role: string): role is BuiltInRole {
  return Object.hasOwn(BUILT_IN_ROLES, role);
}

/** Permissions only owners hold: no custom role and no API key can carry them. */
export const OWNER_ONLY_PERMISSIONS: readonly Permission[] = ['org:delete', 'org:transfer'];
/** What a custom role or an API key may be given. */
export const GRANTABLE_PERMISSIONS: readonly Permission[] = PERMISSION_NAMES.filter((p) => !OWNER_ONLY_PERMISSIONS.includes(p));

export const isPermission = (name: string): name is Permission => Object.hasOwn(PERMISSIONS, name);

/**
 * The permissions of a role: a built-in role's from the table above, a custom role's as stored
 * (`stored`, read with the membership; names no longer in the catalogue are ignored).
 */
export function permissionsOf(role: string, stored?: readonly string[] | null): readonly Permission[] {
  if (isBuiltInRole(role)) return BUILT_IN_ROLES[role].permissions;
  return (stored ?? []).filter(isPermission);
}

/** The permissions of `wanted` that `held` lacks (granting them would be an escalation). */
export function missingPermissions(held: readonly Permission[], wanted: readonly Permission[]): Permission[] {
  return wanted.filter((permission) => !held.includes(permission));
}
