import { and, asc, eq, gt, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { apiKeys, organizations } from './orgs.tables.js';

export type ApiKeyRow = typeof apiKeys.$inferSelect;

// Platform-wide (the visible exception): a presented key names its organization before a tenant exists.

/** The key of a secret's hash with its organization's tier; revoked and expired keys included (the caller decides). */
export async function findApiKeyByHash(db: DbHandle, secretHash: string): Promise<{ key: ApiKeyRow; tier: string } | null> {
  const [row] = await db.orm
    .select({ key: apiKeys, tier: organizations.tier })
    .from(apiKeys)
    .innerJoin(organizations, eq(organizations.id, apiKeys.orgId))
    .where(eq(apiKeys.secretHash, secretHash))
    .limit(1);
  return row ?? null;
}

/** Records a use, at most once a minute per key unless the address changed (a write per request would be a hot spot). */
export async function touchApiKey(db: DbHandle, key: { orgId: string; id: string }, ip: string | null, now: Date): Promise<void> {
  await db.orm
    .update(apiKeys)
    .set({ lastUsedAt: now, lastUsedIp: ip })
    .where(
      and(
        eq(apiKeys.orgId, key.orgId),
        eq(apiKeys.id, key.id),
        or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, new Date(now.getTime() - 60_000)), ip === null ? sql`false` : or(isNull(apiKeys.lastUsedIp), ne(apiKeys.lastUsedIp, ip))),
      ),
    );
}

// Org-scoped: every statement filtered by the tenant.

export async function insertApiKey(tenant: TenantDb, row: Omit<typeof apiKeys.$inferInsert, 'orgId'>): Promise<ApiKeyRow> {
  const [created] = await tenant.orm.insert(apiKeys).values({ ...row, orgId: tenant.orgId }).returning();
  return created!;
}

/** Keys not revoked (expired ones included, marked by their expiry), oldest first. */
export async function listApiKeys(tenant: TenantDb): Promise<ApiKeyRow[]> {
  return tenant.orm
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.orgId, tenant.orgId), isNull(apiKeys.revokedAt)))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

/** Revokes a key that is not revoked yet; the revoked row, or null. */
export async function revokeApiKey(tenant: TenantDb, id: string, now: Date): Promise<ApiKeyRow | null> {
  const [row] = await tenant.orm
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.orgId, tenant.orgId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  return row ?? null;
}

/** Keys neither revoked nor expired (what the tier's `api_keys` limit counts). */
export async function countLiveApiKeys(tenant: TenantDb, now: Date): Promise<number> {
  const [row] = await tenant.orm
    .select({ n: sql<number>`count(*)::int` })
    .from(apiKeys)
    .where(and(eq(apiKeys.orgId, tenant.orgId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now))));
  return row?.n ?? 0;
}

/** An API key's name by id, any organization (platform-wide: the audit's actor display). */
export async function findApiKeyName(db: DbHandle, id: string): Promise<string | null> {
  const [row] = await db.orm.select({ name: apiKeys.name }).from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  return row?.name ?? null;
}
