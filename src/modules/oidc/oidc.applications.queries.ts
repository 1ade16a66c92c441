import { and, asc, desc, eq, inArray, lt } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { oidcApplicationGrants, oidcApplications, oidcResources } from './oidc.applications.tables.js';

/*
 * Applications and their grants: platform-wide (an application's org_id says whom it belongs to, it
 * is not tenant data), read and written by platform admins and read by the provider.
 */

export type ApplicationRow = typeof oidcApplications.$inferSelect;
export type ApplicationInsert = typeof oidcApplications.$inferInsert;

export async function insertApplication(db: DbHandle, row: ApplicationInsert): Promise<ApplicationRow> {
  const [created] = await db.orm.insert(oidcApplications).values(row).returning();
  return created!;
}

export async function findApplication(db: DbHandle, id: string, options: { lock?: boolean } = {}): Promise<ApplicationRow | null> {
  const query = db.orm.select().from(oidcApplications).where(eq(oidcApplications.id, id));
  const [row] = options.lock ? await query.for('update') : await query;
  return row ?? null;
}

/** Newest first; `before` is the id of the last application of the previous page; `orgId` keeps one organization's. */
export async function listApplications(db: DbHandle, options: { limit: number; before?: string; orgId?: string }): Promise<ApplicationRow[]> {
  return db.orm
    .select()
    .from(oidcApplications)
    .where(and(options.before ? lt(oidcApplications.id, options.before) : undefined, options.orgId ? eq(oidcApplications.orgId, options.orgId) : undefined))
    .orderBy(desc(oidcApplications.id))
    .limit(options.limit);
}

export async function updateApplication(db: DbHandle, id: string, changes: Partial<ApplicationInsert>): Promise<ApplicationRow | null> {
  const [row] = await db.orm.update(oidcApplications).set({ ...changes, updatedAt: new Date() }).where(eq(oidcApplications.id, id)).returning();
  return row ?? null;
}

export async function deleteApplication(db: DbHandle, id: string): Promise<ApplicationRow | null> {
  const [row] = await db.orm.delete(oidcApplications).where(eq(oidcApplications.id, id)).returning();
  return row ?? null;
}

export interface GrantRow {
  applicationId: string;
  resourceId: string;
  indicator: string;
  scope: string;
}

/** The resource scopes granted to these applications, by application, indicator and scope. */
export async function grantsOf(db: DbHandle, applicationIds: string[]): Promise<GrantRow[]> {
  if (applicationIds.length === 0) return [];
  return db.orm
    .select({ applicationId: oidcApplicationGrants.applicationId, resourceId: oidcApplicationGrants.resourceId, indicator: oidcResources.indicator, scope: oidcApplicationGrants.scope })
    .from(oidcApplicationGrants)
    .innerJoin(oidcResources, eq(oidcResources.id, oidcApplicationGrants.resourceId))
    .where(inArray(oidcApplicationGrants.applicationId, applicationIds))
    .orderBy(asc(oidcApplicationGrants.applicationId), asc(oidcResources.indicator), asc(oidcApplicationGrants.scope));
}

/** Makes an application's grants exactly these (resource id and scope name pairs). */
export async function replaceGrants(db: DbHandle, applicationId: string, grants: { resourceId: string; scope: string }[]): Promise<void> {
  await db.orm.delete(oidcApplicationGrants).where(eq(oidcApplicationGrants.applicationId, applicationId));
  if (grants.length > 0) await db.orm.insert(oidcApplicationGrants).values(grants.map((grant) => ({ applicationId, ...grant })));
}
