import { and, asc, desc, eq, inArray, lt, notInArray, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { oidcResources, oidcResourceScopes } from './oidc.applications.tables.js';

/*
 * API resources and their scopes: platform-wide (no tenant), read and written by platform admins and
 * read by the provider.
 */

export type ResourceRow = typeof oidcResources.$inferSelect;
export type ScopeRow = typeof oidcResourceScopes.$inferSelect;

export async function insertResource(db: DbHandle, row: typeof oidcResources.$inferInsert): Promise<ResourceRow> {
  const [created] = await db.orm.insert(oidcResources).values(row).returning();
  return created!;
}

export async function findResource(db: DbHandle, id: string, options: { lock?: boolean } = {}): Promise<ResourceRow | null> {
  const query = db.orm.select().from(oidcResources).where(eq(oidcResources.id, id));
  const [row] = options.lock ? await query.for('update') : await query;
  return row ?? null;
}

export async function resourcesByIndicators(db: DbHandle, indicators: string[]): Promise<ResourceRow[]> {
  if (indicators.length === 0) return [];
  return db.orm.select().from(oidcResources).where(inArray(oidcResources.indicator, indicators));
}

/** Newest first; `before` is the id of the last resource of the previous page. */
export async function listResources(db: DbHandle, options: { limit: number; before?: string }): Promise<ResourceRow[]> {
  return db.orm
    .select()
    .from(oidcResources)
    .where(options.before ? lt(oidcResources.id, options.before) : undefined)
    .orderBy(desc(oidcResources.id))
    .limit(options.limit);
}

export async function updateResource(db: DbHandle, id: string, changes: Partial<Pick<ResourceRow, 'name'>>): Promise<ResourceRow | null> {
  const [row] = await db.orm.update(oidcResources).set({ ...changes, updatedAt: new Date() }).where(eq(oidcResources.id, id)).returning();
  return row ?? null;
}

export async function deleteResource(db: DbHandle, id: string): Promise<ResourceRow | null> {
  const [row] = await db.orm.delete(oidcResources).where(eq(oidcResources.id, id)).returning();
  return row ?? null;
}

/** The scopes of these resources, by resource and name. */
export async function scopesOf(db: DbHandle, resourceIds: string[]): Promise<ScopeRow[]> {
  if (resourceIds.length === 0) return [];
  return db.orm.select().from(oidcResourceScopes).where(inArray(oidcResourceScopes.resourceId, resourceIds)).orderBy(asc(oidcResourceScopes.resourceId), asc(oidcResourceScopes.name));
}

/** Makes a resource's scopes exactly these: removes the others (and with them their grants), adds new ones, updates descriptions. */
export async function replaceScopes(db: DbHandle, resourceId: string, scopes: { name: string; description: string }[]): Promise<void> {
  const names = scopes.map((scope) => scope.name);
  await db.orm
    .delete(oidcResourceScopes)
    .where(and(eq(oidcResourceScopes.resourceId, resourceId), names.length > 0 ? notInArray(oidcResourceScopes.name, names) : undefined));
  if (scopes.length === 0) return;
  await db.orm
    .insert(oidcResourceScopes)
    .values(scopes.map((scope) => ({ resourceId, name: scope.name, description: scope.description })))
    .onConflictDoUpdate({ target: [oidcResourceScopes.resourceId, oidcResourceScopes.name], set: { description: sql`excluded.description` } });
}
