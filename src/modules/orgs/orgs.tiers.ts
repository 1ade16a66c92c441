import { DEFAULT_TIER_LIMITS, TIERS, type Tier, type TierLimits } from '../../config/config.schema.js';
import type { TenantDb } from '../../platform/db/tenant.js';
import { orgErrors } from './orgs.errors.js';
import { countMembers, lockOrg } from './orgs.queries.js';
import { countLiveApiKeys } from './orgs.api-keys.queries.js';
import { countPendingInvitations } from './orgs.invitations.queries.js';

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

export function createTiers(table: Readonly<Record<Tier, TierLimits>> = DEFAULT_TIER_LIMITS): Tiers {
  const limitsFor = (tier: string): TierLimits => table[isTier(tier) ? tier : 'free'];

  return {
    limitsFor,

    async assertWithinLimit(tenant, limit, options = {}) {
      const org = await lockOrg(tenant);
      if (!org) throw orgErrors.org_not_found();
      const max = limitsFor(org.tier)[limit];
      if (max === null) return;
      if (limit === 'webhooks' && !options.count) throw new Error('tiers: the webhooks limit needs a count');
      const now = new Date();
      let used = options.count ? await options.count(tenant) : limit === 'members' ? await countMembers(tenant) : await countLiveApiKeys(tenant, now);
      if (limit === 'members' && options.includePending) used += await countPendingInvitations(tenant, now);
      if (used + 1 > max) {
        const what = limit === 'api_keys' ? 'live API keys' : limit === 'webhooks' ? 'webhook endpoints' : options.includePending ? 'members and pending invitations' : 'members';
        throw orgErrors.tier_limit_reached(`The ${org.tier} tier allows at most ${max} ${limit} (limit "${limit}"; ${used} ${what} already)`, { limit, max, tier: org.tier });
      }
    },
  };
}
