import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { TenantDb } from '../../platform/db/tenant.js';
import { orgInvitations, orgMembers, orgRoles } from './orgs.tables.js';

export type RoleRow = typeof orgRoles.$inferSelect;

// Org-scoped: every statement filtered by the tenant.

export async function listRoles(tenant: TenantDb): Promise<RoleRow[]> {
  return tenant.orm.select().from(orgRoles).where(eq(orgRoles.orgId, tenant.orgId)).orderBy(asc(orgRoles.createdAt), asc(orgRoles.id));
}

export async function countRoles(tenant: TenantDb): Promise<number> {
  const [row] = await tenant.orm.select({ n: sql<number>`count(*)::int` }).from(orgRoles).where(eq(orgRoles.orgId, tenant.orgId));
  return row?.n ?? 0;
}

/**
 * The role, locked for the rest of the transaction: `update` locks it against assignment and
 * deletion; `share` (assigning it) lets assignments run together but not beside a deletion.
 */
export async function lockRole(tenant: TenantDb, id: string, mode: 'update' | 'share'): Promise<RoleRow | null> {
  const [row] = await tenant.orm
    .select()
    .from(orgRoles)
    .where(and(eq(orgRoles.orgId, tenant.orgId), eq(orgRoles.id, id)))
    .for(mode === 'update' ? 'update' : 'share');
  return row ?? null;
}

export async function insertRole(tenant: TenantDb, row: Omit<typeof orgRoles.$inferInsert, 'orgId'>): Promise<RoleRow> {
  const [created] = await tenant.orm.insert(orgRoles).values({ ...row, orgId: tenant.orgId }).returning();
  return created!;
}

export async function updateRole(tenant: TenantDb, id: string, changes: { name?: string; description?: string | null; permissions?: string[] }): Promise<RoleRow> {
  const [row] = await tenant.orm
    .update(orgRoles)
    .set({ ...changes, updatedAt: new Date() })
    .where(and(eq(orgRoles.orgId, tenant.orgId), eq(orgRoles.id, id)))
    .returning();
  return row!;
}

export async function deleteRole(tenant: TenantDb, id: string): Promise<void> {
  await tenant.orm.delete(orgRoles).where(and(eq(orgRoles.orgId, tenant.orgId), eq(orgRoles.id, id)));
}

/** Who holds the role: members, and pending invitations that would grant it. */
export async function roleHolders(tenant: TenantDb, id: string, now: Date): Promise<{ members: number; invitations: number }> {
  const [members] = await tenant.orm
    .select({ n: sql<number>`count(*)::int` })
    .from(orgMembers)
    .where(and(eq(orgMembers.orgId, tenant.orgId), eq(orgMembers.role, id)));
  const [invitations] = await tenant.orm
    .select({ n: sql<number>`count(*)::int` })
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), eq(orgInvitations.role, id), isNull(orgInvitations.acceptedAt), isNull(orgInvitations.revokedAt), gt(orgInvitations.expiresAt, now)));
  return { members: members?.n ?? 0, invitations: invitations?.n ?? 0 };
}
