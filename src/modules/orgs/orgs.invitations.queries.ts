import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { orgInvitations } from './orgs.tables.js';

export type InvitationRow = typeof orgInvitations.$inferSelect;

/** Neither accepted nor revoked (it may still have expired). */
const open = () => and(isNull(orgInvitations.acceptedAt), isNull(orgInvitations.revokedAt));

// Platform-wide (the visible exception): a token names its organization before a tenant exists.

export async function findInvitationByTokenHash(db: DbHandle, tokenHash: string): Promise<{ orgId: string; id: string } | null> {
  const [row] = await db.orm
    .select({ orgId: orgInvitations.orgId, id: orgInvitations.id })
    .from(orgInvitations)
    .where(eq(orgInvitations.tokenHash, tokenHash))
    .limit(1);
  return row ?? null;
}

// Org-scoped: every statement filtered by the tenant.

export async function insertInvitation(tenant: TenantDb, row: Omit<typeof orgInvitations.$inferInsert, 'orgId'>): Promise<InvitationRow> {
  const [created] = await tenant.orm.insert(orgInvitations).values({ ...row, orgId: tenant.orgId }).returning();
  return created!;
}

/** The invitation, locked for the rest of the transaction (accepting, revoking and resending serialise on it). */
export async function lockInvitation(tenant: TenantDb, id: string): Promise<InvitationRow | null> {
  const [row] = await tenant.orm
    .select()
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), eq(orgInvitations.id, id)))
    .for('update')
    .limit(1);
  return row ?? null;
}

/**
 * The open invitation for this address (compared case-insensitively), expired or not: there is at most
 * one (the unique index org_invitations_open_email_key). Locked for the rest of the transaction.
 */
export async function lockOpenInvitationFor(tenant: TenantDb, email: string): Promise<InvitationRow | null> {
  const [row] = await tenant.orm
    .select()
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), sql`lower(${orgInvitations.email}) = lower(${email})`, open()))
    .for('update')
    .limit(1);
  return row ?? null;
}

/** Open, unexpired invitations (what the tier's `members` limit counts beside members). */
export async function countPendingInvitations(tenant: TenantDb, now: Date): Promise<number> {
  const [row] = await tenant.orm
    .select({ n: sql<number>`count(*)::int` })
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), open(), gt(orgInvitations.expiresAt, now)));
  return row?.n ?? 0;
}

/** Open, unexpired invitations, oldest first (by id: time-ordered and unique, so the order is total). */
export async function listPendingInvitations(tenant: TenantDb, now: Date): Promise<InvitationRow[]> {
  return tenant.orm
    .select()
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), open(), gt(orgInvitations.expiresAt, now)))
    .orderBy(asc(orgInvitations.id));
}

/** Applies `changes` to the invitation while it is still open; false when it no longer is. */
export async function updateOpenInvitation(
  tenant: TenantDb,
  id: string,
  changes: Partial<Pick<InvitationRow, 'tokenHash' | 'expiresAt' | 'acceptedAt' | 'acceptedBy' | 'revokedAt'>>,
): Promise<boolean> {
  const rows = await tenant.orm
    .update(orgInvitations)
    .set(changes)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), eq(orgInvitations.id, id), open()))
    .returning({ id: orgInvitations.id });
  return rows.length === 1;
}
