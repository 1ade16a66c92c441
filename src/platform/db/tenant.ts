import type { Database, DbHandle } from './database.js';

declare const tenantBrand: unique symbol;

/**
 * Database access scoped to one organization. Only `withTenant` makes one, so a query that takes a
 * `TenantDb` cannot be called without the organization having been resolved (and the caller's
 * membership checked) first; org-scoped queries filter every statement by `tenant.orgId`.
 * The transaction also carries `app.org_id` (transaction-local), for the row-level-security policies
 * that back this on PostgreSQL.
 */
export interface TenantDb extends DbHandle {
  readonly orgId: string;
  readonly [tenantBrand]: true;
}

export interface TenantOptions {
  /**
   * A read-only transaction on one snapshot (REPEATABLE READ): reads made of several statements
   * (a page of rows, then their children) see the same committed state, never a change that
   * committed between two of them.
   */
  snapshot?: boolean;
}

export async function withTenant<T>(db: Database, orgId: string, fn: (tenant: TenantDb) => Promise<T>, options: TenantOptions = {}): Promise<T> {
  return db.transaction(async (tx) => {
    if (options.snapshot) await tx.sql.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await tx.sql.query(`SELECT set_config('app.org_id', $1, true)`, [orgId]);
    return fn({ ...tx, orgId } as TenantDb);
  });
}
