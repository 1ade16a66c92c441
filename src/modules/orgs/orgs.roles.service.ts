import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { isUniqueViolation } from '../../platform/db/errors.js';

import { orgErrors } from './orgs.errors.js';
import { BUILT_IN_ROLES, GRANTABLE_PERMISSIONS, isBuiltInRole, isPermission, missingPermissions, OWNER_ONLY_PERMISSIONS, permissionsOf, type Permission } from './orgs.permissions.js';
import { findMember } from './orgs.queries.js';
import { countRoles, deleteRole, insertRole, listRoles, lockRole, roleHolders, updateRole, type RoleRow } from './orgs.roles.queries.js';
import type { OrgContext } from './orgs.schema.js';

export type { RoleRow } from './orgs.roles.queries.js';

/** At most this many custom roles per organization. */
export const MAX_CUSTOM_ROLES = 50;

/** A role as an assignment sees it: its key (built-in name or `rol_…` id) and what it allows. */
export interface ResolvedRole {
  key: string;
  /** What people read: the built-in name, or the custom role's name. */
  name: string;
  permissions: readonly Permission[];
}

/** Who is acting, as they are now inside the transaction (the guard's copy may be stale). */
export async function currentActor(tenant: TenantDb, ctx: OrgContext): Promise<{ role: string; permissions: readonly Permission[] }> {
  // An API key's scopes were read by the guard in this request; keys never change scopes.
  if (ctx.actor.type === 'api_key') return { role: ctx.role, permissions: ctx.permissions };
  const me = await findMember(tenant, ctx.actor.id);
  if (!me) throw orgErrors.org_not_found();
  return { role: me.role, permissions: permissionsOf(me.role, me.rolePermissions) };
}

/**
 * A role of the organization by key; a custom one is share-locked, so it cannot be deleted while this
 * transaction assigns it. 422 unknown_role when there is none.
 */
export async function resolveRole(tenant: TenantDb, key: string): Promise<ResolvedRole> {
  if (isBuiltInRole(key)) return { key, name: key, permissions: BUILT_IN_ROLES[key].permissions };
  const row = /^rol_[0-9a-z]{26}$/.test(key) ? await lockRole(tenant, key, 'share') : null;
  if (!row) throw orgErrors.unknown_role(`${JSON.stringify(key)} is not a role of this organization: owner, admin, member, viewer or a custom role id (GET /v1/orgs/{org_id}/roles)`);
  return { key, name: row.name, permissions: permissionsOf(key, row.permissions) };
}

/**
 * The role named by `key`, if the actor may hand it out: only an owner grants the owner role, and
 * nobody grants a permission they do not hold themselves.
 */
export async function grantableRole(tenant: TenantDb, ctx: OrgContext, key: string): Promise<ResolvedRole> {
  const role = await resolveRole(tenant, key);
  const actor = await currentActor(tenant, ctx);
  if (key === 'owner' && actor.role !== 'owner') throw orgErrors.permission_denied('Only an owner can grant the owner role');
  assertHolds(actor.permissions, role.permissions, `the role ${key}`);
  return role;
}

export function assertHolds(held: readonly Permission[], wanted: readonly Permission[], what: string): void {
  const missing = missingPermissions(held, wanted);
  if (missing.length > 0) {
    throw orgErrors.permission_denied(`Granting ${what} needs ${missing.join(', ')}, which you do not hold`, { missing });
  }
}

/** Checks a requested permission list: known, grantable, no duplicates kept. */
export function checkPermissionList(names: readonly string[], field: string): Permission[] {
  const errors: { path: string; message: string }[] = [];
  names.forEach((name, index) => {
    if (!isPermission(name)) errors.push({ path: `body.${field}.${index}`, message: `${JSON.stringify(name)} is not a permission (GET /v1/permissions)` });
    else if (OWNER_ONLY_PERMISSIONS.includes(name)) errors.push({ path: `body.${field}.${index}`, message: `${name} belongs to owners only` });
  });
  if (errors.length > 0) throw orgErrors.unknown_permission(errors.map((e) => e.message).join('; '), { errors });
  return GRANTABLE_PERMISSIONS.filter((permission) => names.includes(permission));
}

export interface RolesService {
  /** Custom roles, oldest first (the built-in ones come from the catalogue). */
  list(ctx: OrgContext): Promise<RoleRow[]>;
  create(ctx: OrgContext, input: { name: string; description?: string | null; permissions: string[] }, client: ClientInfo): Promise<RoleRow>;
  update(ctx: OrgContext, roleId: string, changes: { name?: string; description?: string | null; permissions?: string[] }, client: ClientInfo): Promise<RoleRow>;
  /** 409 role_in_use (with the counts) while members hold it or pending invitations would grant it. */
  remove(ctx: OrgContext, roleId: string, client: ClientInfo): Promise<void>;
}

export function createRolesService(deps: { db: Database; audit: Audit; events: Events }): RolesService {
  const { db } = deps;
  const sinks = { audit: deps.audit, events: deps.events };

  /** A change to a custom role, recorded with its event (the role as it is after the change) in the tenant's transaction. */
  const roleChange = (tenant: TenantDb, ctx: OrgContext, action: string, role: RoleRow, client: ClientInfo, changes: Record<string, { before?: unknown; after?: unknown }> | null) =>
    recordChange(
      tenant, sinks,
      { actor: ctx.actor, orgId: tenant.orgId, action, target: { type: 'role', id: role.id }, context: client, changes },
      { data: { org_id: tenant.orgId, role_id: role.id, name: role.name, permissions: role.permissions } },
    );

  function checkName(name: string): string {
    const trimmed = name.trim();
    if (isBuiltInRole(trimmed.toLowerCase())) {
      throw orgErrors.role_name_taken(`${JSON.stringify(trimmed)} is a built-in role`, { errors: [{ path: 'body.name', message: 'is a built-in role' }] });
    }
    return trimmed;
  }

  /**
   * Two roles of one name: the unique index (case-insensitive) is what refuses them. The driver's
   * error arrives wrapped by drizzle (DrizzleQueryError, the database error as its `cause`).
   */
  async function nameUnique<T>(name: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (name && isUniqueViolation(error, 'org_roles_org_name_key')) throw orgErrors.role_name_taken(`A role named ${JSON.stringify(name)} exists`, { errors: [{ path: 'body.name', message: 'is taken' }] });
      throw error;
    }
  }

  async function lockedRole(tenant: TenantDb, roleId: string): Promise<RoleRow> {
    const row = await lockRole(tenant, roleId, 'update');
    if (!row) throw orgErrors.role_not_found();
    return row;
  }

  return {
    list: (ctx) => withTenant(db, ctx.orgId, listRoles),

    async create(ctx, input, client) {
      const name = checkName(input.name);
      const permissions = checkPermissionList(input.permissions, 'permissions');
      return nameUnique(name, () => withTenant(db, ctx.orgId, async (tenant) => {
        assertHolds((await currentActor(tenant, ctx)).permissions, permissions, 'these permissions');
        if ((await countRoles(tenant)) >= MAX_CUSTOM_ROLES) throw orgErrors.role_limit_reached(`An organization has at most ${MAX_CUSTOM_ROLES} custom roles`);
        const role = await insertRole(tenant, { id: newId('rol'), name, description: input.description ?? null, permissions });
        await roleChange(tenant, ctx, 'role.created', role, client, null);
        return role;
      }));
    },

    async update(ctx, roleId, changes, client) {
      const name = changes.name === undefined ? undefined : checkName(changes.name);
      const permissions = changes.permissions === undefined ? undefined : checkPermissionList(changes.permissions, 'permissions');
      return nameUnique(name, () => withTenant(db, ctx.orgId, async (tenant) => {
        const before = await lockedRole(tenant, roleId);
        const held = (await currentActor(tenant, ctx)).permissions;
        // Managing a role means holding what it grants, before and after.
        assertHolds(held, permissionsOf(roleId, before.permissions), `changes to the role ${before.name}`);
        if (permissions) assertHolds(held, permissions, 'these permissions');
        const after = await updateRole(tenant, roleId, {
          ...(name !== undefined ? { name } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          ...(permissions ? { permissions } : {}),
        });
        const diff: Record<string, { before: unknown; after: unknown }> = {};
        for (const field of ['name', 'description', 'permissions'] as const) {
          if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) diff[field] = { before: before[field], after: after[field] };
        }
        await roleChange(tenant, ctx, 'role.updated', after, client, diff);
        return after;
      }));
    },

    async remove(ctx, roleId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const role = await lockedRole(tenant, roleId);
        assertHolds((await currentActor(tenant, ctx)).permissions, permissionsOf(roleId, role.permissions), `the deletion of the role ${role.name}`);
        const holders = await roleHolders(tenant, roleId, new Date());
        if (holders.members > 0 || holders.invitations > 0) {
          throw orgErrors.role_in_use(
            `${holders.members} member(s) hold the role ${role.name} and ${holders.invitations} pending invitation(s) would grant it: give them another role first`,
            { members: holders.members, pending_invitations: holders.invitations },
          );
        }
        await deleteRole(tenant, roleId);
        await roleChange(tenant, ctx, 'role.deleted', role, client, null);
      });
    },
  };
}
