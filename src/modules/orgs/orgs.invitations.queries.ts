import { and, asc, eq, gt, isNull, sql, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { organizations, orgInvitations, orgRoles } from './orgs.tables.js';

export type InvitationRow = typeof orgInvitations.$inferSelect;

/** An invitation as its invitee sees it: with the name of its organization and, for a custom role, the role's name. */
export interface ReceivedInvitationRow extends InvitationRow {
  orgName: string;
  /** The custom role's name; null for a built-in role (its key is its name). */
  customRoleName: string | null;
}

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

/** Addressed to this email (case-insensitively), neither accepted nor revoked, and not expired (the index org_invitations_open_invitee_idx). */
const openFor = (email: string, now: Date): SQL =>
  and(sql`lower(${orgInvitations.email}) = lower(${email})`, open(), gt(orgInvitations.expiresAt, now))!;

/** Invitations with their organization's name and their custom role's name. */
function selectReceived(handle: DbHandle) {
  return handle.orm
    .select({ invitation: orgInvitations, orgName: organizations.name, customRoleName: orgRoles.name })
    .from(orgInvitations)
    .innerJoin(organizations, eq(organizations.id, orgInvitations.orgId))
    .leftJoin(orgRoles, and(eq(orgRoles.orgId, orgInvitations.orgId), eq(orgRoles.id, orgInvitations.role)));
}

const received = (row: { invitation: InvitationRow; orgName: string; customRoleName: string | null }): ReceivedInvitationRow => ({
  ...row.invitation, orgName: row.orgName, customRoleName: row.customRoleName,
});

/**
 * The pending invitations addressed to an email, across organizations, in id order (oldest first),
 * after the id `after`: an invitee's own list, which no tenant can scope.
 */
export async function listPendingInvitationsFor(db: DbHandle, email: string, now: Date, page: { limit: number; after?: string }): Promise<ReceivedInvitationRow[]> {
  const rows = await selectReceived(db)
    .where(and(openFor(email, now), page.after ? gt(orgInvitations.id, page.after) : undefined))
    .orderBy(asc(orgInvitations.id))
    .limit(page.limit);
  return rows.map(received);
}

/** The organization of a pending invitation of this id addressed to this email; null for any other id (another's, closed, expired, unknown). */
export async function findPendingInvitationFor(db: DbHandle, email: string, id: string, now: Date): Promise<{ orgId: string; id: string } | null> {
  const [row] = await db.orm
    .select({ orgId: orgInvitations.orgId, id: orgInvitations.id })
    .from(orgInvitations)
    .where(and(openFor(email, now), eq(orgInvitations.id, id)))
    .limit(1);
  return row ?? null;
}

// Org-scoped: every statement filtered by the tenant.

/** The invitation with its organization's and custom role's names (not locked: a read). */
export async function findReceivedInvitation(tenant: TenantDb, id: string): Promise<ReceivedInvitationRow | null> {
  const [row] = await selectReceived(tenant)
    .where(and(eq(orgInvitations.orgId, tenant.orgId), eq(orgInvitations.id, id)))
    .limit(1);
  return row ? received(row) : null;
}

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
