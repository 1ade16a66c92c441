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

export function permissionsOf(role: string): readonly Permission[] {
  return isBuiltInRole(role) ? BUILT_IN_ROLES[role].permissions : [];
}
