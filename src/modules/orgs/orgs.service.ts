import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/database.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import type { Audit, Events } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import type { ClientInfo, UserRow } from '../accounts/index.js';
import { orgErrors } from './orgs.errors.js';
import { isBuiltInRole, permissionsOf, type Permission } from './orgs.permissions.js';
import { createTiers, type Tier, type Tiers } from './orgs.tiers.js';
import { organizations } from './orgs.tables.js';
import { eq } from 'drizzle-orm';
import {
  deleteMember, deleteOrg, findMember, findMembership, findOrgBySlug, insertMember, insertOrg, listMembers, listOrgsOfUser, lockOwners,
  setMemberRole, updateOrg, type MemberRow, type OrgRow,
} from './orgs.queries.js';

/** Slugs that name parts of a product, never an organization (`www.example.com` is not an org). */
export const RESERVED_SLUGS = new Set([
  'www', 'api', 'app', 'admin', 'auth', 'login', 'signup', 'mail', 'smtp', 'static', 'assets', 'cdn', 'docs', 'status',
  'help', 'support', 'billing', 'dashboard', 'console', 'account', 'accounts', 'id', 'sso', 'oauth', 'health', 'metrics', 'tessera',
]);
const SLUG = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;

export function slugProblem(slug: string): string | null {
  if (!SLUG.test(slug)) return 'must be 3–63 lowercase letters, digits or hyphens, not starting or ending with a hyphen';
  if (RESERVED_SLUGS.has(slug)) return 'is reserved';
  return null;
}

function slugFrom(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    // Cutting can leave a hyphen at the end, which no slug may have.
    .replace(/-+$/, '');
  return base.length >= 3 && !RESERVED_SLUGS.has(base) ? base : `org-${base || randomBytes(3).toString('hex')}`.slice(0, 50).replace(/-+$/, '');
}

/** Who is acting in an organization: resolved once per request by the org guard. */
export interface OrgContext {
  orgId: string;
  userId: string;
  role: string;
  permissions: readonly Permission[];
}

export interface OrgsService {
  create(user: UserRow, input: { name: string; slug?: string }, client: ClientInfo): Promise<OrgRow>;
  listMine(userId: string): Promise<{ org: OrgRow; role: string }[]>;
  /** The caller's membership, or null when the organization does not exist or the caller is not in it. */
  membership(orgId: string, userId: string): Promise<OrgContext & { org: OrgRow } | null>;
  update(ctx: OrgContext, changes: { name?: string; slug?: string }, client: ClientInfo): Promise<OrgRow>;
  remove(ctx: OrgContext, client: ClientInfo): Promise<void>;
  members(ctx: OrgContext, options: { limit: number; after?: string; q?: string }): Promise<MemberRow[]>;
  /** Adds a member (invitations use it); platform code and tests only, no route of its own. */
  addMember(orgId: string, userId: string, role: string, actor: { id: string | null }, client: ClientInfo): Promise<void>;
  changeRole(ctx: OrgContext, userId: string, role: string, client: ClientInfo): Promise<void>;
  removeMember(ctx: OrgContext, userId: string, client: ClientInfo): Promise<void>;
  leave(ctx: OrgContext, client: ClientInfo): Promise<void>;
  transferOwnership(ctx: OrgContext, toUserId: string, client: ClientInfo): Promise<void>;
  can(ctx: OrgContext, permission: Permission, userId?: string): Promise<boolean>;
  /** Platform admins: moves an organization to another tier (404 when there is no such organization). */
  setTier(orgId: string, tier: Tier, actor: { id: string }, client: ClientInfo): Promise<OrgRow>;
}

export function createOrgsService(deps: { db: Database; audit: Audit; events: Events; tiers?: Tiers }): OrgsService {
  const { db, audit, events } = deps;
  const tiers = deps.tiers ?? createTiers();

  async function record(tenant: TenantDb, actorId: string | null, action: string, target: { type: string; id: string }, client: ClientInfo, data: Record<string, unknown>, changes?: Record<string, { before?: unknown; after?: unknown }>): Promise<void> {
    await audit.record(tenant, { actor: { type: 'user', id: actorId }, orgId: tenant.orgId, action, target, context: client, changes: changes ?? null });
    await events.publish(tenant, { type: action, orgId: tenant.orgId, data: { org_id: tenant.orgId, ...data } });
  }

  function assertRole(role: string): void {
    if (!isBuiltInRole(role)) throw orgErrors.unknown_role(`${JSON.stringify(role)} is not a role: owner, admin, member or viewer`);
  }

  /** The caller's role as it is now, inside the transaction (the guard's copy may be stale). */
  async function currentRole(tenant: TenantDb, ctx: OrgContext): Promise<string> {
    const me = await findMember(tenant, ctx.userId);
    if (!me) throw orgErrors.org_not_found();
    return me.role;
  }

  /** A unique-slug violation (two requests racing for one slug) is the same answer as a slug found taken. */
  async function slugUnique<T>(slug: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if ((error as { code?: string }).code === '23505' && slug) throw orgErrors.slug_taken(`The slug ${JSON.stringify(slug)} is taken`);
      throw error;
    }
  }

  /** Refuses a change that would leave the organization without an owner. */
  async function assertKeepsOwner(tenant: TenantDb, leavingOwner: string): Promise<void> {
    const owners = await lockOwners(tenant);
    if (owners.includes(leavingOwner) && owners.length === 1) {
      throw orgErrors.last_owner('The last owner cannot leave, be removed or be demoted: transfer ownership first');
    }
  }

  async function checkSlug(slug: string, exceptOrgId?: string): Promise<void> {
    const problem = slugProblem(slug);
    if (problem) throw orgErrors.invalid_slug(`The slug ${problem}`, { errors: [{ path: 'body.slug', message: problem }] });
    const holder = await findOrgBySlug(db, slug);
    if (holder && holder.id !== exceptOrgId) throw orgErrors.slug_taken(`The slug ${JSON.stringify(slug)} is taken`);
  }

  const service: OrgsService = {
    async create(user, input, client) {
      let slug = input.slug;
      if (slug) await checkSlug(slug);
      else {
        slug = slugFrom(input.name);
        if (await findOrgBySlug(db, slug)) slug = `${slug.slice(0, 56)}-${randomBytes(3).toString('hex')}`;
      }
      const id = newId('org');
      const finalSlug = slug;
      return slugUnique(finalSlug, () => withTenant(db, id, async (tenant) => {
        const org = await insertOrg(tenant, { id, slug: finalSlug, name: input.name.trim() });
        await insertMember(tenant, user.id, 'owner');
        await record(tenant, user.id, 'org.created', { type: 'org', id }, client, { name: org.name, slug: org.slug });
        await record(tenant, user.id, 'member.added', { type: 'user', id: user.id }, client, { user_id: user.id, role: 'owner' });
        return org;
      }));
    },

    listMine: (userId) => listOrgsOfUser(db, userId),

    async membership(orgId, userId) {
      const found = await findMembership(db, orgId, userId);
      if (!found) return null;
      return { org: found.org, orgId, userId, role: found.role, permissions: permissionsOf(found.role) };
    },

    async update(ctx, changes, client) {
      if (changes.slug) await checkSlug(changes.slug, ctx.orgId);
      return slugUnique(changes.slug, () => withTenant(db, ctx.orgId, async (tenant) => {
        const before = (await findMembership(tenant, ctx.orgId, ctx.userId))?.org;
        const after = await updateOrg(tenant, { ...(changes.name ? { name: changes.name.trim() } : {}), ...(changes.slug ? { slug: changes.slug } : {}) });
        const diff: Record<string, { before: unknown; after: unknown }> = {};
        for (const field of ['name', 'slug'] as const) if (before && before[field] !== after[field]) diff[field] = { before: before[field], after: after[field] };
        await record(tenant, ctx.userId, 'org.updated', { type: 'org', id: ctx.orgId }, client, { changes: Object.keys(diff) }, diff);
        return after;
      }));
    },

    async remove(ctx, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        await record(tenant, ctx.userId, 'org.deleted', { type: 'org', id: ctx.orgId }, client, {});
        await deleteOrg(tenant);
      });
    },

    members: (ctx, options) => withTenant(db, ctx.orgId, (tenant) => listMembers(tenant, options)),

    async addMember(orgId, userId, role, actor, client) {
      assertRole(role);
      await withTenant(db, orgId, async (tenant) => {
        await tiers.assertWithinLimit(tenant, 'members');
        await insertMember(tenant, userId, role);
        await record(tenant, actor.id, 'member.added', { type: 'user', id: userId }, client, { user_id: userId, role });
      });
    },

    async setTier(orgId, tier, actor, client) {
      return withTenant(db, orgId, async (tenant) => {
        const [before] = await tenant.orm.select().from(organizations).where(eq(organizations.id, tenant.orgId)).for('update');
        if (!before) throw orgErrors.org_not_found();
        const [after] = await tenant.orm
          .update(organizations)
          .set({ tier, updatedAt: new Date() })
          .where(eq(organizations.id, tenant.orgId))
          .returning();
        const changes = { tier: { before: before.tier, after: tier } };
        await audit.record(tenant, { actor: { type: 'user', id: actor.id }, orgId, action: 'org.tier_changed', target: { type: 'org', id: orgId }, context: client, changes });
        await events.publish(tenant, { type: 'org.updated', orgId, data: { org_id: orgId, changes: ['tier'], tier, previous_tier: before.tier } });
        return after!;
      });
    },

    async changeRole(ctx, userId, role, client) {
      assertRole(role);
      await withTenant(db, ctx.orgId, async (tenant) => {
        const member = await findMember(tenant, userId);
        if (!member) throw orgErrors.member_not_found();
        if (member.role === role) return;
        // Only an owner makes or unmakes owners.
        if ((role === 'owner' || member.role === 'owner') && (await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can grant or take away the owner role');
        if (member.role === 'owner') await assertKeepsOwner(tenant, userId);
        await setMemberRole(tenant, userId, role);
        await record(tenant, ctx.userId, 'member.role_changed', { type: 'user', id: userId }, client, { user_id: userId, role, previous_role: member.role }, { role: { before: member.role, after: role } });
      });
    },

    async removeMember(ctx, userId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const member = await findMember(tenant, userId);
        if (!member) throw orgErrors.member_not_found();
        if (member.role === 'owner' && (await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can remove an owner');
        if (member.role === 'owner') await assertKeepsOwner(tenant, userId);
        await deleteMember(tenant, userId);
        await record(tenant, ctx.userId, 'member.removed', { type: 'user', id: userId }, client, { user_id: userId });
      });
    },

    async leave(ctx, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        if (ctx.role === 'owner') await assertKeepsOwner(tenant, ctx.userId);
        await deleteMember(tenant, ctx.userId);
        await record(tenant, ctx.userId, 'member.removed', { type: 'user', id: ctx.userId }, client, { user_id: ctx.userId, reason: 'left' });
      });
    },

    async transferOwnership(ctx, toUserId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const target = await findMember(tenant, toUserId);
        if (!target) throw orgErrors.member_not_found('The new owner must already be a member');
        if (toUserId === ctx.userId) return;
        await lockOwners(tenant);
        if ((await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can transfer ownership');
        await setMemberRole(tenant, toUserId, 'owner');
        await setMemberRole(tenant, ctx.userId, 'admin');
        await record(tenant, ctx.userId, 'member.role_changed', { type: 'user', id: toUserId }, client, { user_id: toUserId, role: 'owner', previous_role: target.role });
        await record(tenant, ctx.userId, 'member.role_changed', { type: 'user', id: ctx.userId }, client, { user_id: ctx.userId, role: 'admin', previous_role: 'owner' });
      });
    },

    async can(ctx, permission, userId) {
      if (!userId || userId === ctx.userId) return ctx.permissions.includes(permission);
      const member = await withTenant(db, ctx.orgId, (tenant) => findMember(tenant, userId));
      return member ? permissionsOf(member.role).includes(permission) : false;
    },
  };
  return service;
}
