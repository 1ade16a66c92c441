import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { DEFAULT_TIER_LIMITS, TIERS, type Tier, type TierLimits } from '../../config/config.schema.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { orgErrors } from './orgs.errors.js';
import { apiKeys, orgInvitations, orgMembers, organizations } from './orgs.tables.js';

export { TIERS, DEFAULT_TIER_LIMITS, type Tier, type TierLimits };

/**
 * Limits counted at creation (`webhooks` counted by the webhooks module, which passes its count).
 * `requests_per_minute` is enforced on API-key traffic by the org guard.
 */
export type EnforcedLimit = 'members' | 'api_keys' | 'webhooks';

export const isTier = (value: string): value is Tier => (TIERS as readonly string[]).includes(value);

export interface Tiers {
  /** The limits of a tier (an unknown stored tier falls back to `free`); null is unlimited. */
  limitsFor(tier: string): TierLimits;
  /**
   * Refuses with 403 `tier_limit_reached` when adding one more would exceed the organization's `limit`.
   * `members` counts members, plus open invitations when `includePending`; `api_keys` the keys neither
   * revoked nor expired. Locks the organization row,
   * so concurrent additions in the same organization are checked one after the other.
   */
  assertWithinLimit(tenant: TenantDb, limit: EnforcedLimit, options?: { includePending?: boolean; count?: (tenant: TenantDb) => Promise<number> }): Promise<void>;
}

async function count(tenant: TenantDb, what: 'members' | 'api_keys'): Promise<number> {
  const n = sql<number>`count(*)::int`;
  const [row] = what === 'members'
    ? await tenant.orm.select({ n }).from(orgMembers).where(eq(orgMembers.orgId, tenant.orgId))
    : await tenant.orm
      .select({ n })
      .from(apiKeys)
      .where(and(eq(apiKeys.orgId, tenant.orgId), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, new Date()))));
  return row?.n ?? 0;
}

export function createTiers(table: Readonly<Record<Tier, TierLimits>> = DEFAULT_TIER_LIMITS): Tiers {
  const limitsFor = (tier: string): TierLimits => table[isTier(tier) ? tier : 'free'];

  return {
    limitsFor,

    async assertWithinLimit(tenant, limit, options = {}) {
      const [org] = await tenant.orm
        .select({ tier: organizations.tier })
        .from(organizations)
        .where(eq(organizations.id, tenant.orgId))
        .for('update');
      if (!org) throw orgErrors.org_not_found();
      const max = limitsFor(org.tier)[limit];
      if (max === null) return;
      if (limit === 'webhooks' && !options.count) throw new Error('tiers: the webhooks limit needs a count');
      let used = options.count ? await options.count(tenant) : await count(tenant, limit === 'members' ? 'members' : 'api_keys');
      if (limit === 'members' && options.includePending) {
        const [pending] = await tenant.orm
          .select({ n: sql<number>`count(*)::int` })
          .from(orgInvitations)
          .where(and(eq(orgInvitations.orgId, tenant.orgId), isNull(orgInvitations.acceptedAt), isNull(orgInvitations.revokedAt), gt(orgInvitations.expiresAt, new Date())));
        used += pending?.n ?? 0;
      }
      if (used + 1 > max) {
        const what = limit === 'api_keys' ? 'live API keys' : limit === 'webhooks' ? 'webhook endpoints' : options.includePending ? 'members and pending invitations' : 'members';
        throw orgErrors.tier_limit_reached(`The ${org.tier} tier allows at most ${max} ${limit} (limit "${limit}"; ${used} ${what} already)`, { limit, max, tier: org.tier });
      }
    },
  };
}
