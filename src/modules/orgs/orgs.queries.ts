import { and, asc, eq, gt, ilike, or, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { orgMemberDirectory, orgMembers, orgRoles, organizations } from './orgs.tables.js';

export type OrgRow = typeof organizations.$inferSelect;

// Platform-wide (the visible exception): organizations themselves, looked up before a tenant exists.

export async function insertOrg(db: DbHandle, row: typeof organizations.$inferInsert): Promise<OrgRow> {
  const [created] = await db.orm.insert(organizations).values(row).returning();
  return created!;
}

export async function findOrgById(db: DbHandle, id: string): Promise<OrgRow | null> {
  const [row] = await db.orm.select().from(organizations).where(eq(organizations.id, id)).limit(1);
  return row ?? null;
}

export async function findOrgBySlug(db: DbHandle, slug: string): Promise<OrgRow | null> {
  const [row] = await db.orm.select().from(organizations).where(eq(organizations.slug, slug)).limit(1);
  return row ?? null;
}

/** A custom role's stored permissions, joined to the member row that names it (null for built-in roles). */
const customRoleOf = and(eq(orgRoles.orgId, orgMembers.orgId), eq(orgRoles.id, orgMembers.role));

/**
 * The organization and the user's role in it, with the stored permissions when the role is a custom
 * one; null when either is missing (same answer: 404).
 */
export async function findMembership(db: DbHandle, orgId: string, userId: string): Promise<{ org: OrgRow; role: string; rolePermissions: string[] | null } | null> {
  const [row] = await db.orm
    .select({ org: organizations, role: orgMembers.role, rolePermissions: orgRoles.permissions })
    .from(orgMembers)
    .innerJoin(organizations, eq(organizations.id, orgMembers.orgId))
    .leftJoin(orgRoles, customRoleOf)
    .where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId)))
    .limit(1);
  return row ?? null;
}

/** The user's organizations with their role, oldest first (by id: time-ordered and unique, so the order is total). */
export async function listOrgsOfUser(db: DbHandle, userId: string): Promise<{ org: OrgRow; role: string }[]> {
  return db.orm
    .select({ org: organizations, role: orgMembers.role })
    .from(orgMembers)
    .innerJoin(organizations, eq(organizations.id, orgMembers.orgId))
    .where(eq(orgMembers.userId, userId))
    .orderBy(asc(organizations.id));
}

// Org-scoped: every statement filtered by the tenant.

/** The tenant's organization, locked for the rest of the transaction (tier checks and changes serialise on it); null when it is gone. */
export async function lockOrg(tenant: TenantDb): Promise<OrgRow | null> {
  const [row] = await tenant.orm.select().from(organizations).where(eq(organizations.id, tenant.orgId)).for('update');
  return row ?? null;
}

export async function updateOrg(tenant: TenantDb, changes: { name?: string; slug?: string; tier?: string }): Promise<OrgRow> {
  const [row] = await tenant.orm
    .update(organizations)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(organizations.id, tenant.orgId))
    .returning();
  return row!;
}

export async function deleteOrg(tenant: TenantDb): Promise<void> {
  await tenant.orm.delete(organizations).where(eq(organizations.id, tenant.orgId));
}

export async function insertMember(tenant: TenantDb, userId: string, role: string): Promise<void> {
  await tenant.orm.insert(orgMembers).values({ orgId: tenant.orgId, userId, role });
}

export async function findMember(tenant: TenantDb, userId: string): Promise<{ role: string; rolePermissions: string[] | null } | null> {
  const [row] = await tenant.orm
    .select({ role: orgMembers.role, rolePermissions: orgRoles.permissions })
    .from(orgMembers)
    .leftJoin(orgRoles, customRoleOf)
    .where(and(eq(orgMembers.orgId, tenant.orgId), eq(orgMembers.userId, userId)))
    .limit(1);
  return row ?? null;
}

export interface MemberRow {
  userId: string;
  email: string;
  name: string | null;
  role: string;
  joinedAt: Date;
}

/**
 * Members ordered by user id (unique in an organization, so the order is total); `after` is the last
 * user id of the previous page; `q` searches email and name (case-insensitive substring). One query
 * on the org_member_directory view, which joins each member to their account's address and name.
 */
export async function listMembers(tenant: TenantDb, options: { limit: number; after?: string; q?: string }): Promise<MemberRow[]> {
  const search = options.q ? `%${options.q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%` : null;
  const v = orgMemberDirectory;
  return tenant.orm
    .select({ userId: v.userId, email: v.email, name: v.name, role: v.role, joinedAt: v.joinedAt })
    .from(v)
    .where(
      and(
        eq(v.orgId, tenant.orgId),
        options.after ? gt(v.userId, options.after) : undefined,
        search ? or(ilike(v.email, search), ilike(v.name, search)) : undefined,
      ),
    )
    .orderBy(asc(v.userId))
    .limit(options.limit);
}

export async function setMemberRole(tenant: TenantDb, userId: string, role: string): Promise<void> {
  await tenant.orm.update(orgMembers).set({ role }).where(and(eq(orgMembers.orgId, tenant.orgId), eq(orgMembers.userId, userId)));
}

export async function deleteMember(tenant: TenantDb, userId: string): Promise<boolean> {
  const rows = await tenant.orm
    .delete(orgMembers)
    .where(and(eq(orgMembers.orgId, tenant.orgId), eq(orgMembers.userId, userId)))
    .returning({ userId: orgMembers.userId });
  return rows.length === 1;
}

/** Owners of the organization, locked for the rest of the transaction (so two demotions cannot both pass). */
export async function lockOwners(tenant: TenantDb): Promise<string[]> {
  const { rows } = await tenant.sql.query<{ user_id: string }>(
    `SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'owner' FOR UPDATE`,
    [tenant.orgId],
  );
  return rows.map((row) => row.user_id);
}

export async function countMembers(tenant: TenantDb): Promise<number> {
  const [row] = await tenant.orm.select({ n: sql<number>`count(*)::int` }).from(orgMembers).where(eq(orgMembers.orgId, tenant.orgId));
  return row?.n ?? 0;
}
