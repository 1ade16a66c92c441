import type { ClientInfo } from '../../platform/http/client.js';
import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/database.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { isUniqueViolation } from '../../platform/db/errors.js';
import { httpErrors } from '../../platform/http/errors.js';
import type { UserDirectory } from '../accounts/index.js';
import type { OrgActor, OrgContext } from './orgs.schema.js';
import { orgErrors } from './orgs.errors.js';
import { permissionsOf, type Permission } from './orgs.permissions.js';
import { assertHolds, currentActor, grantableRole, resolveRole } from './orgs.roles.service.js';
import { createTiers, type Tier, type Tiers } from './orgs.tiers.js';
import {
  deleteMember, deleteOrg, findMember, findMembership, findOrgById, findOrgBySlug, insertMember, insertOrg, listMembers, listOrgsOfUser, lockOrg, lockOwners,
  setMemberRole, updateOrg, type MemberRow, type OrgRow,
} from './orgs.queries.js';

export type { MemberRow, OrgRow } from './orgs.queries.js';

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

export type { OrgActor, OrgContext } from './orgs.schema.js';

/** The member behind a context; an API key is refused (the org guard refuses it first on user-only routes). */
export function memberOf(ctx: OrgContext): string {
  if (ctx.userId === null) throw orgErrors.api_key_not_allowed();
  return ctx.userId;
}

export interface OrgsService {
  /** A new organization with `user` as its owner; 401 invalid_token when the account no longer exists. */
  create(user: { id: string }, input: { name: string; slug?: string }, client: ClientInfo): Promise<OrgRow>;
  listMine(userId: string): Promise<{ org: OrgRow; role: string }[]>;
  /** The organization of an id (platform-wide; callers have authorised the caller for it). */
  get(orgId: string): Promise<OrgRow | null>;
  /** The id of the organization a slug names (subdomain tenancy), or null. */
  idOfSlug(slug: string): Promise<string | null>;
  /** The caller's membership, or null when the organization does not exist or the caller is not in it. */
  membership(orgId: string, userId: string): Promise<OrgContext & { org: OrgRow } | null>;
  update(ctx: OrgContext, changes: { name?: string; slug?: string }, client: ClientInfo): Promise<OrgRow>;
  remove(ctx: OrgContext, client: ClientInfo): Promise<void>;
  /** Members ordered by user id, `limit` of them after the user id `after`; `q` searches email and name. */
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

type Changes = Record<string, { before?: unknown; after?: unknown }>;

export function createOrgsService(deps: { db: Database; audit: Audit; events: Events; users: UserDirectory; tiers?: Tiers }): OrgsService {
  const { db, users } = deps;
  const sinks = { audit: deps.audit, events: deps.events };
  const tiers = deps.tiers ?? createTiers();

  /** A change to a member (`member.*`), recorded with its event in the tenant's transaction. */
  const memberChange = (tenant: TenantDb, actor: OrgActor | { type: 'user'; id: string | null }, action: string, client: ClientInfo, data: { user_id: string } & Record<string, unknown>, changes?: Changes) =>
    recordChange(tenant, sinks, { actor, orgId: tenant.orgId, action, target: { type: 'user', id: data.user_id }, context: client, changes: changes ?? null }, { data: { org_id: tenant.orgId, ...data } });

  /** The caller's role as it is now, inside the transaction (the guard's copy may be stale). */
  const currentRole = async (tenant: TenantDb, ctx: OrgContext): Promise<string> => (await currentActor(tenant, ctx)).role;

  /** A unique-slug violation (two requests racing for one slug) is the same answer as a slug found taken. */
  async function slugUnique<T>(slug: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (slug && isUniqueViolation(error, 'organizations_slug_key')) throw orgErrors.slug_taken(`The slug ${JSON.stringify(slug)} is taken`);
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
      if (!(await users.byId(user.id))) throw httpErrors.invalid_token('The account of this access token no longer exists');
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
        const actor = { type: 'user', id: user.id } as const;
        await recordChange(tenant, sinks, { actor, orgId: id, action: 'org.created', target: { type: 'org', id }, context: client }, { data: { org_id: id, name: org.name, slug: org.slug } });
        await memberChange(tenant, actor, 'member.added', client, { user_id: user.id, role: 'owner' });
        return org;
      }));
    },

    listMine: (userId) => listOrgsOfUser(db, userId),

    get: (orgId) => findOrgById(db, orgId),

    idOfSlug: async (slug) => (await findOrgBySlug(db, slug))?.id ?? null,

    async membership(orgId, userId) {
      const found = await findMembership(db, orgId, userId);
      if (!found) return null;
      return { org: found.org, orgId, actor: { type: 'user', id: userId }, userId, role: found.role, permissions: permissionsOf(found.role, found.rolePermissions) };
    },

    async update(ctx, changes, client) {
      if (changes.slug) await checkSlug(changes.slug, ctx.orgId);
      return slugUnique(changes.slug, () => withTenant(db, ctx.orgId, async (tenant) => {
        const before = await lockOrg(tenant);
        const after = await updateOrg(tenant, { ...(changes.name ? { name: changes.name.trim() } : {}), ...(changes.slug ? { slug: changes.slug } : {}) });
        const diff: Changes = {};
        for (const field of ['name', 'slug'] as const) if (before && before[field] !== after[field]) diff[field] = { before: before[field], after: after[field] };
        await recordChange(
          tenant, sinks,
          { actor: ctx.actor, orgId: ctx.orgId, action: 'org.updated', target: { type: 'org', id: ctx.orgId }, context: client, changes: diff },
          { data: { org_id: ctx.orgId, changes: Object.keys(diff) } },
        );
        return after;
      }));
    },

    async remove(ctx, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        await recordChange(tenant, sinks, { actor: ctx.actor, orgId: ctx.orgId, action: 'org.deleted', target: { type: 'org', id: ctx.orgId }, context: client }, { data: { org_id: ctx.orgId } });
        await deleteOrg(tenant);
      });
    },

    members: (ctx, options) => withTenant(db, ctx.orgId, (tenant) => listMembers(tenant, options)),

    async addMember(orgId, userId, role, actor, client) {
      await withTenant(db, orgId, async (tenant) => {
        await resolveRole(tenant, role);
        await tiers.assertWithinLimit(tenant, 'members');
        await insertMember(tenant, userId, role);
        await memberChange(tenant, { type: 'user', id: actor.id }, 'member.added', client, { user_id: userId, role });
      });
    },

    async setTier(orgId, tier, actor, client) {
      return withTenant(db, orgId, async (tenant) => {
        const before = await lockOrg(tenant);
        if (!before) throw orgErrors.org_not_found();
        const after = await updateOrg(tenant, { tier });
        // Audited as what it is (a tier change by a platform admin); announced as an update of the organization.
        await recordChange(
          tenant, sinks,
          { actor: { type: 'user', id: actor.id }, orgId, action: 'org.tier_changed', target: { type: 'org', id: orgId }, context: client, changes: { tier: { before: before.tier, after: tier } } },
          { type: 'org.updated', data: { org_id: orgId, changes: ['tier'], tier, previous_tier: before.tier } },
        );
        return after;
      });
    },

    async changeRole(ctx, userId, role, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        // The new role must exist and be the actor's to give, whoever the member is.
        await grantableRole(tenant, ctx, role);
        const member = await findMember(tenant, userId);
        if (!member) throw orgErrors.member_not_found();
        if (member.role === role) return;
        // Only an owner makes or unmakes owners; nobody changes a member who holds more than they do.
        if (member.role === 'owner' && (await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can grant or take away the owner role');
        assertHolds((await currentActor(tenant, ctx)).permissions, permissionsOf(member.role, member.rolePermissions), `a change to the role of a member holding ${member.role}`);
        if (member.role === 'owner') await assertKeepsOwner(tenant, userId);
        await setMemberRole(tenant, userId, role);
        await memberChange(tenant, ctx.actor, 'member.role_changed', client, { user_id: userId, role, previous_role: member.role }, { role: { before: member.role, after: role } });
      });
    },

    async removeMember(ctx, userId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const member = await findMember(tenant, userId);
        if (!member) throw orgErrors.member_not_found();
        if (member.role === 'owner' && (await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can remove an owner');
        assertHolds((await currentActor(tenant, ctx)).permissions, permissionsOf(member.role, member.rolePermissions), `the removal of a member holding ${member.role}`);
        if (member.role === 'owner') await assertKeepsOwner(tenant, userId);
        await deleteMember(tenant, userId);
        await memberChange(tenant, ctx.actor, 'member.removed', client, { user_id: userId });
      });
    },

    async leave(ctx, client) {
      const me = memberOf(ctx);
      await withTenant(db, ctx.orgId, async (tenant) => {
        if (ctx.role === 'owner') await assertKeepsOwner(tenant, me);
        await deleteMember(tenant, me);
        await memberChange(tenant, ctx.actor, 'member.removed', client, { user_id: me, reason: 'left' });
      });
    },

    async transferOwnership(ctx, toUserId, client) {
      const me = memberOf(ctx);
      await withTenant(db, ctx.orgId, async (tenant) => {
        const target = await findMember(tenant, toUserId);
        if (!target) throw orgErrors.member_not_found('The new owner must already be a member');
        if (toUserId === me) return;
        await lockOwners(tenant);
        if ((await currentRole(tenant, ctx)) !== 'owner') throw orgErrors.permission_denied('Only an owner can transfer ownership');
        await setMemberRole(tenant, toUserId, 'owner');
        await setMemberRole(tenant, me, 'admin');
        await memberChange(tenant, ctx.actor, 'member.role_changed', client, { user_id: toUserId, role: 'owner', previous_role: target.role });
        await memberChange(tenant, ctx.actor, 'member.role_changed', client, { user_id: me, role: 'admin', previous_role: 'owner' });
      });
    },

    async can(ctx, permission, userId) {
      if (!userId || userId === ctx.userId) return ctx.permissions.includes(permission);
      const member = await withTenant(db, ctx.orgId, (tenant) => findMember(tenant, userId));
      return member ? permissionsOf(member.role, member.rolePermissions).includes(permission) : false;
    },
  };
  return service;
}
