import type { ClientInfo } from '../../platform/http/client.js';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/errors.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import type { Mail } from '../../platform/mail/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, sha256 } from '../../platform/crypto/tokens.js';
import { AppError } from '../../platform/http/errors.js';
import { normaliseEmail, type UserDirectory } from '../accounts/index.js';
import { orgErrors } from './orgs.errors.js';
import { findMember, findMembership, findOrgById, insertMember, type OrgRow } from './orgs.queries.js';
import {
  findInvitationByTokenHash, findPendingInvitationFor, findReceivedInvitation, insertInvitation, listPendingInvitations, listPendingInvitationsFor, lockInvitation,
  lockOpenInvitationFor, updateOpenInvitation, type InvitationRow, type ReceivedInvitationRow,
} from './orgs.invitations.queries.js';
import type { OrgActor, OrgContext } from './orgs.service.js';
import { currentActor, grantableRole, resolveRole } from './orgs.roles.service.js';
import type { InvitationMailData } from './orgs.mails.js';
import { createTiers, type Tiers } from './orgs.tiers.js';

export type { InvitationRow } from './orgs.invitations.queries.js';

/** The window of the per-address invitation limit, in seconds. */
const DAY_SECONDS = 86_400;

export interface InvitationSettings {
  ttlSeconds: number;
  /** Invitation mails (resends included) one organization may send to one address in 24 hours. */
  dailyLimit: number;
}

/** An invitation as its invitee sees it: which organization, which role, who invited, until when. */
export interface ReceivedInvitation {
  id: string;
  orgId: string;
  orgName: string;
  /** What the invitation grants: a built-in role's name or a custom role's id (`rol_…`). */
  roleKey: string;
  /** What people read: the built-in role's name, or the custom role's name. */
  roleName: string;
  /** The address the invitation was sent to. */
  email: string;
  /** The inviter's name; null when they have none, or their account is gone. */
  inviterName: string | null;
  expiresAt: Date;
}

export interface InvitationsService {
  /**
   * Invites an address with a role and mails it a one-time link. 409 invitation_pending while an
   * invitation for the address is pending (also for the loser of two simultaneous invitations); an
   * expired one is revoked and replaced. 429 invitation_limit_reached past the daily limit.
   */
  invite(ctx: OrgContext, input: { email: string; role: string }, client: ClientInfo): Promise<InvitationRow>;
  /** Open, unexpired invitations, oldest first. */
  pending(ctx: OrgContext): Promise<InvitationRow[]>;
  revoke(ctx: OrgContext, invitationId: string, client: ClientInfo): Promise<void>;
  /** A new token and a new expiry for an open invitation, mailed again; the old link stops working. Counts against the daily limit. */
  resend(ctx: OrgContext, invitationId: string, client: ClientInfo): Promise<InvitationRow>;
  /** The signed-in user takes the invitation of `token`: they join with its role, and the token is spent. */
  accept(userId: string, token: string, client: ClientInfo): Promise<{ org: OrgRow; role: string }>;
  /**
   * The pending invitation of `token`, for the page that offers it before anyone signs in: 400
   * invitation_invalid for an unknown, used, revoked or expired token, as `accept` answers. Reads only.
   */
  preview(token: string): Promise<ReceivedInvitation>;
  /**
   * The pending invitations addressed to the user's address, across organizations, oldest first (by
   * id, after `after`): none while the address is unverified, since anyone may register any address.
   */
  received(userId: string, page: { limit: number; after?: string }): Promise<ReceivedInvitation[]>;
  /** Accepts one of `received`: joins as `accept` does. 404 invitation_not_found for any other id (another's, closed, expired, unknown). */
  acceptReceived(userId: string, invitationId: string, client: ClientInfo): Promise<{ org: OrgRow; role: string }>;
  /** Declines one of `received`: it ends (revoked by the invitee, audited as invitation.declined). 404 invitation_not_found for any other id. */
  declineReceived(userId: string, invitationId: string, client: ClientInfo): Promise<void>;
}

export function createInvitationsService(deps: {
  db: Database;
  cache: Cache;
  audit: Audit;
  events: Events;
  mail: Mail;
  users: UserDirectory;
  settings: InvitationSettings;
  tiers?: Tiers;
  /** The cache did not answer: the invitation is sent without being counted (the limit fails open, as every cache-backed limit). */
  onCacheError?: (error: unknown) => void;
}): InvitationsService {
  const { db, cache, mail, users, settings } = deps;
  const sinks = { audit: deps.audit, events: deps.events };
  const tiers = deps.tiers ?? createTiers();

  /** A change to an invitation, recorded with its event in the tenant's transaction. */
  const invitationChange = (tenant: TenantDb, actor: OrgActor, action: string, invitationId: string, client: ClientInfo, data: Record<string, unknown>) =>
    recordChange(
      tenant, sinks,
      { actor, orgId: tenant.orgId, action, target: { type: 'invitation', id: invitationId }, context: client },
      { data: { org_id: tenant.orgId, invitation_id: invitationId, ...data } },
    );

  const expiry = (from: Date): Date => new Date(from.getTime() + settings.ttlSeconds * 1000);
  const isPending = (row: InvitationRow, now: Date): boolean => !row.acceptedAt && !row.revokedAt && row.expiresAt > now;

  async function orgOf(tenant: TenantDb): Promise<OrgRow> {
    const org = await findOrgById(tenant, tenant.orgId);
    if (!org) throw orgErrors.org_not_found();
    return org;
  }

  async function sendInvitation(tenant: TenantDb, ctx: OrgContext, org: OrgRow, invitation: InvitationRow, token: string, roleName: string): Promise<void> {
    const inviter = ctx.userId ? await users.byId(ctx.userId, { tx: tenant }) : null;
    const data: InvitationMailData = {
      token,
      org_name: org.name,
      role: roleName,
      inviter_name: inviter?.name ?? null,
      inviter_email: inviter?.email ?? null,
      expires_at: invitation.expiresAt.toISOString(),
    };
    await mail.send({ to: invitation.email, template: 'orgs.invitation', data }, { tx: tenant });
  }

  async function lockPending(tenant: TenantDb, invitationId: string, now: Date, allowExpired: boolean): Promise<InvitationRow> {
    const row = await lockInvitation(tenant, invitationId);
    if (!row || row.acceptedAt || row.revokedAt || (!allowExpired && row.expiresAt <= now)) throw orgErrors.invitation_not_found();
    return row;
  }

  /** The invitee's view of invitations, with their inviters' names (one look-up for the lot). */
  async function receivedViews(rows: ReceivedInvitationRow[], handle?: TenantDb): Promise<ReceivedInvitation[]> {
    const inviterIds = rows.map((row) => row.invitedBy).filter((id): id is string => id !== null);
    const inviters = inviterIds.length > 0 ? await users.byIds(inviterIds, handle ? { tx: handle } : {}) : new Map<string, never>();
    return rows.map((row) => ({
      id: row.id,
      orgId: row.orgId,
      orgName: row.orgName,
      roleKey: row.role,
      roleName: row.customRoleName ?? row.role,
      email: row.email,
      inviterName: (row.invitedBy ? inviters.get(row.invitedBy)?.name : null) ?? null,
      expiresAt: row.expiresAt,
    }));
  }

  /**
   * The user's own pending invitation `invitationId`, locked in its organization's transaction, and
   * the user: 404 invitation_not_found unless it is open, unexpired and addressed to the user's
   * verified address (whatever else it is, the answer does not say).
   */
  async function ownPending<T>(userId: string, invitationId: string, fn: (tenant: TenantDb, row: InvitationRow, now: Date) => Promise<T>): Promise<T> {
    const user = await users.byId(userId);
    const notFound = () => orgErrors.invitation_not_found();
    if (!user?.emailVerified) throw notFound();
    const found = await findPendingInvitationFor(db, user.email, invitationId, new Date());
    if (!found) throw notFound();
    return withTenant(db, found.orgId, async (tenant) => {
      const now = new Date();
      // Checked again under the row lock: it may have been accepted, revoked or resent meanwhile.
      const row = await lockInvitation(tenant, found.id);
      if (!row || !isPending(row, now) || row.email.toLowerCase() !== user.email.toLowerCase()) throw notFound();
      return fn(tenant, row, now);
    });
  }

  /**
   * The user joins the organization with the invitation's role, and the invitation is spent: in the
   * tenant's transaction, with the invitation row locked and found pending.
   */
  async function join(tenant: TenantDb, row: InvitationRow, userId: string, now: Date, client: ClientInfo): Promise<{ org: OrgRow; role: string }> {
    if (await findMember(tenant, userId)) throw orgErrors.already_member();
    // The tier may have been lowered, or the limit reached otherwise, since the invitation was sent.
    await tiers.assertWithinLimit(tenant, 'members');
    // A custom role cannot be deleted while an invitation grants it; resolving locks it until commit.
    await resolveRole(tenant, row.role);
    await insertMember(tenant, userId, row.role);
    // One-time: the update only applies while the invitation is open (the row is locked, too).
    if (!(await updateOpenInvitation(tenant, row.id, { acceptedAt: now, acceptedBy: userId }))) throw orgErrors.invitation_invalid();
    const actor = { type: 'user', id: userId } as const;
    await invitationChange(tenant, actor, 'invitation.accepted', row.id, client, { user_id: userId, role: row.role });
    await recordChange(
      tenant, sinks,
      { actor, orgId: tenant.orgId, action: 'member.added', target: { type: 'user', id: userId }, context: client },
      { data: { org_id: tenant.orgId, user_id: userId, role: row.role, invitation_id: row.id } },
    );
    const membership = await findMembership(tenant, tenant.orgId, userId);
    return { org: membership!.org, role: row.role };
  }

  /**
   * Runs `send` (which mails an invitation to `email` in its transaction) counted against the daily
   * limit of the organization and address: one fixed 24-hour window on the cache, shared by every
   * instance on Redis. Refused with 429 and Retry-After past the limit. A send that fails (or is
   * refused) gives its count back, so the window counts mails that went out.
   */
  async function counted<T>(orgId: string, email: string, send: () => Promise<T>): Promise<T> {
    const key = `invitations:${orgId}:${sha256(email.toLowerCase())}`;
    let value: number;
    let ttlMs: number;
    try {
      ({ value, ttlMs } = await cache.incr(key, DAY_SECONDS));
    } catch (error) {
      deps.onCacheError?.(error);
      return send();
    }
    const giveBack = () => cache.incr(key, DAY_SECONDS, -1).catch((error: unknown) => deps.onCacheError?.(error));
    if (value > settings.dailyLimit) {
      await giveBack();
      const retryAfter = Math.min(DAY_SECONDS, Math.max(1, Math.ceil(ttlMs / 1000)));
      throw orgErrors.invitation_limit_reached(
        `This organization has sent ${settings.dailyLimit} invitation(s) to ${email} within a day (resends count); try again in ${retryAfter} s`,
        { limit: settings.dailyLimit, retry_after: retryAfter },
        { 'retry-after': String(retryAfter) },
      );
    }
    try {
      return await send();
    } catch (error) {
      await giveBack();
      throw error;
    }
  }

  /** The loser of two simultaneous invitations of one address meets the unique index: the same answer as one found pending. */
  async function onePending<T>(email: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof AppError) && isUniqueViolation(error, 'org_invitations_open_email_key')) throw pendingFor(email);
      throw error;
    }
  }
  const pendingFor = (email: string): AppError => orgErrors.invitation_pending(`An invitation for ${email} is pending: resend it instead`);

  return {
    async invite(ctx, input, client) {
      const email = normaliseEmail(input.email);
      return onePending(email, () => withTenant(db, ctx.orgId, async (tenant) => {
        const role = await grantableRole(tenant, ctx, input.role);
        const org = await orgOf(tenant);
        const existing = await users.byEmail(email, { tx: tenant });
        if (existing && (await findMember(tenant, existing.id))) throw orgErrors.already_member(`${email} is already a member`);
        const now = new Date();
        const open = await lockOpenInvitationFor(tenant, email);
        if (open && open.expiresAt > now) throw pendingFor(email);
        // Members and pending invitations together stay within the tier.
        await tiers.assertWithinLimit(tenant, 'members', { includePending: true });
        return counted(ctx.orgId, email, async () => {
          const token = randomToken(32);
          const id = newId('inv');
          if (open) {
            // Expired but never closed: revoked as it is replaced (one open invitation per address).
            await updateOpenInvitation(tenant, open.id, { revokedAt: now });
            await invitationChange(tenant, ctx.actor, 'invitation.revoked', open.id, client, { email: open.email, role: open.role, reason: 'replaced', replaced_by: id });
          }
          // Two simultaneous invitations of the address: the unique index refuses the second here (see onePending).
          const invitation = await insertInvitation(tenant, {
            id, email, role: input.role, tokenHash: sha256(token), invitedBy: ctx.userId, createdAt: now, expiresAt: expiry(now),
          });
          await invitationChange(tenant, ctx.actor, 'invitation.created', invitation.id, client, { email, role: invitation.role, expires_at: invitation.expiresAt.toISOString() });
          await sendInvitation(tenant, ctx, org, invitation, token, role.name);
          return invitation;
        });
      }));
    },

    pending: (ctx) => withTenant(db, ctx.orgId, (tenant) => listPendingInvitations(tenant, new Date())),

    async revoke(ctx, invitationId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const now = new Date();
        const row = await lockPending(tenant, invitationId, now, true);
        if (row.role === 'owner' && (await currentActor(tenant, ctx)).role !== 'owner') throw orgErrors.permission_denied('Only an owner can revoke an invitation to be an owner');
        await updateOpenInvitation(tenant, row.id, { revokedAt: now });
        await invitationChange(tenant, ctx.actor, 'invitation.revoked', row.id, client, { email: row.email, role: row.role });
      });
    },

    async resend(ctx, invitationId, client) {
      return withTenant(db, ctx.orgId, async (tenant) => {
        const now = new Date();
        // An expired invitation may be resent: that is how it is renewed.
        const row = await lockPending(tenant, invitationId, now, true);
        const role = await grantableRole(tenant, ctx, row.role);
        const org = await orgOf(tenant);
        // Counted inside the transaction: the row lock makes resends of one invitation count one after the other.
        return counted(ctx.orgId, row.email, async () => {
          const token = randomToken(32);
          const changes = { tokenHash: sha256(token), expiresAt: expiry(now) };
          await updateOpenInvitation(tenant, row.id, changes);
          const renewed = { ...row, ...changes };
          await invitationChange(tenant, ctx.actor, 'invitation.resent', row.id, client, { email: row.email, role: row.role, expires_at: renewed.expiresAt.toISOString() });
          await sendInvitation(tenant, ctx, org, renewed, token, role.name);
          return renewed;
        });
      });
    },

    async accept(userId, token, client) {
      const found = await findInvitationByTokenHash(db, sha256(token));
      if (!found) throw orgErrors.invitation_invalid();
      return withTenant(db, found.orgId, async (tenant) => {
        const now = new Date();
        const row = await lockInvitation(tenant, found.id);
        if (!row || !isPending(row, now)) throw orgErrors.invitation_invalid();
        const user = await users.byId(userId, { tx: tenant });
        if (!user || user.email.toLowerCase() !== row.email.toLowerCase()) {
          throw orgErrors.invitation_email_mismatch('Sign in with the address the invitation was sent to');
        }
        if (!user.emailVerified) throw orgErrors.email_not_verified('Verify your email address before accepting an invitation');
        return join(tenant, row, userId, now, client);
      });
    },

    async preview(token) {
      const found = await findInvitationByTokenHash(db, sha256(token));
      if (!found) throw orgErrors.invitation_invalid();
      return withTenant(db, found.orgId, async (tenant) => {
        const row = await findReceivedInvitation(tenant, found.id);
        if (!row || !isPending(row, new Date())) throw orgErrors.invitation_invalid();
        const [view] = await receivedViews([row], tenant);
        return view!;
      });
    },

    async received(userId, page) {
      const user = await users.byId(userId);
      if (!user?.emailVerified) return [];
      return receivedViews(await listPendingInvitationsFor(db, user.email, new Date(), page));
    },

    acceptReceived: (userId, invitationId, client) => ownPending(userId, invitationId, (tenant, row, now) => join(tenant, row, userId, now, client)),

    async declineReceived(userId, invitationId, client) {
      await ownPending(userId, invitationId, async (tenant, row, now) => {
        await updateOpenInvitation(tenant, row.id, { revokedAt: now });
        // Ended as a revocation (its event is invitation.revoked, for the organization's webhooks), by the invitee.
        await recordChange(
          tenant, sinks,
          { actor: { type: 'user', id: userId }, orgId: tenant.orgId, action: 'invitation.declined', target: { type: 'invitation', id: row.id }, context: client },
          { type: 'invitation.revoked', data: { org_id: tenant.orgId, invitation_id: row.id, email: row.email, role: row.role, reason: 'declined', user_id: userId } },
        );
      });
    },
  };
}
