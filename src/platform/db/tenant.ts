import type { Database, DbHandle } from './database.js';

declare const tenantBrand: unique symbol;

/**
 * Database access scoped to one organization. Only `withTenant` makes one, so a query that takes a
 * `TenantDb` cannot be called without the organization having been resolved (and the caller's
 * membership checked) first; org-scoped queries filter every statement by `tenant.orgId`.
 * The transaction also carries `app.org_id` (transaction-local), for the row-level-security policies
 * that are to back this on PostgreSQL (not in place yet: see the organizations issue).
 */
export interface TenantDb extends DbHandle {
  readonly orgId: string;
  readonly [tenantBrand]: true;
}

export async function withTenant<T>(db: Database, orgId: string, fn: (tenant: TenantDb) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.sql.query(`SELECT set_config('app.org_id', $1, true)`, [orgId]);
    return fn({ ...tx, orgId } as TenantDb);
  });
}
