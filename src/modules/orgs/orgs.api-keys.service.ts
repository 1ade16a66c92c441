import type { ClientInfo } from '../../platform/http/client.js';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import { withTenant, type TenantDb } from '../../platform/db/tenant.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, sha256 } from '../../platform/crypto/tokens.js';
import { AppError, httpErrors } from '../../platform/http/errors.js';

import { orgErrors } from './orgs.errors.js';
import { isPermission, type Permission } from './orgs.permissions.js';
import { assertHolds, checkPermissionList, currentActor } from './orgs.roles.service.js';
import { memberOf, type OrgContext } from './orgs.service.js';
import { createTiers, type Tiers } from './orgs.tiers.js';
import { findApiKeyByHash, findApiKeyName, insertApiKey, listApiKeys, revokeApiKey, touchApiKey, type ApiKeyRow } from './orgs.api-keys.queries.js';

export type { ApiKeyRow } from './orgs.api-keys.queries.js';

/** Every secret starts so: secret scanners and the guard recognise a Tessera API key by it. */
export const API_KEY_PREFIX = 'tsk_live_';
/** The rate-limit window, in seconds (limits are per minute). */
const WINDOW_SECONDS = 60;
/** How much of a secret is kept in clear to tell keys apart in lists. */
const SHOWN_CHARACTERS = API_KEY_PREFIX.length + 8;

/** A key that authenticated: its organization, scopes and limits. */
export interface AuthenticatedKey {
  id: string;
  orgId: string;
  scopes: Permission[];
  /** The key's own limit, or null for the tier's alone. */
  rateLimitPerMinute: number | null;
  tier: string;
}

export interface RateWindow {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

export interface ApiKeysService {
  /** A new key; the secret is in the answer and nowhere else, ever. Members only (a key cannot mint keys). */
  create(ctx: OrgContext, input: { name: string; scopes: string[]; expiresAt?: Date; rateLimitPerMinute?: number }, client: ClientInfo): Promise<{ key: ApiKeyRow; secret: string }>;
  list(ctx: OrgContext): Promise<ApiKeyRow[]>;
  revoke(ctx: OrgContext, keyId: string, client: ClientInfo): Promise<void>;
  /** The live key of a secret (null when unknown, revoked or expired), its use recorded. */
  authenticate(secret: string, ip: string | null): Promise<AuthenticatedKey | null>;
  /**
   * Counts a request of the key against its own limit and its organization's tier limit
   * (`requests_per_minute`, all keys of the organization together); 429 rate_limited past either.
   * Null when neither limits it. Fails open when the cache does not answer.
   */
  consume(key: AuthenticatedKey): Promise<RateWindow | null>;
}

/** API keys by id for readers outside the organization's scope (the audit's actor display). */
export interface ApiKeyDirectory {
  nameOf(id: string, options?: { tx?: DbHandle }): Promise<string | null>;
}

export function createApiKeyDirectory(deps: { db: Database }): ApiKeyDirectory {
  return { nameOf: (id, options = {}) => findApiKeyName(options.tx ?? deps.db, id) };
}

export function createApiKeysService(deps: { db: Database; cache: Cache; audit: Audit; events: Events; tiers?: Tiers; onCacheError?: (error: unknown) => void }): ApiKeysService {
  const { db, cache } = deps;
  const sinks = { audit: deps.audit, events: deps.events };
  const tiers = deps.tiers ?? createTiers();

  /** A change to a key, recorded with its event (never the secret: only its shown prefix) in the tenant's transaction. */
  const keyChange = (tenant: TenantDb, ctx: OrgContext, action: string, key: ApiKeyRow, client: ClientInfo) =>
    recordChange(
      tenant, sinks,
      { actor: ctx.actor, orgId: tenant.orgId, action, target: { type: 'api_key', id: key.id }, context: client },
      { data: { org_id: tenant.orgId, api_key_id: key.id, name: key.name, prefix: key.prefix, scopes: key.scopes } },
    );

  /** One fixed one-minute window on the cache: every instance counts together on Redis. */
  async function count(name: string, limit: number): Promise<RateWindow> {
    const { value, ttlMs } = await cache.incr(`rl:${name}`, WINDOW_SECONDS);
    // Clamped to the window: a cache may round a fresh window's time to live a millisecond over it (61 s).
    const resetSeconds = Math.min(WINDOW_SECONDS, Math.max(1, Math.ceil(ttlMs / 1000)));
    const window = { limit, remaining: Math.max(0, limit - value), resetSeconds };
    if (value > limit) {
      throw httpErrors.rate_limited(`Too many requests for this ${name.startsWith('api_key:') ? 'API key' : "organization's tier"}; try again in ${window.resetSeconds} s`, { retry_after: window.resetSeconds }, {
        'retry-after': String(window.resetSeconds), 'ratelimit-limit': String(limit), 'ratelimit-remaining': '0', 'ratelimit-reset': String(window.resetSeconds),
      });
    }
    return window;
  }

  return {
    async create(ctx, input, client) {
      const createdBy = memberOf(ctx);
      const scopes = checkPermissionList(input.scopes, 'scopes');
      if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
        throw httpErrors.validation_failed('expires_at must be in the future', { errors: [{ path: 'body.expires_at', message: 'must be in the future' }] });
      }
      return withTenant(db, ctx.orgId, async (tenant) => {
        // A key acts with its scopes, so its creator must hold them.
        assertHolds((await currentActor(tenant, ctx)).permissions, scopes, 'these scopes');
        await tiers.assertWithinLimit(tenant, 'api_keys');
        const secret = randomToken(32, API_KEY_PREFIX);
        const key = await insertApiKey(tenant, {
          id: newId('key'),
          name: input.name.trim(),
          prefix: secret.slice(0, SHOWN_CHARACTERS),
          secretHash: sha256(secret),
          scopes,
          rateLimitPerMinute: input.rateLimitPerMinute ?? null,
          createdBy,
          expiresAt: input.expiresAt ?? null,
        });
        await keyChange(tenant, ctx, 'api_key.created', key, client);
        return { key, secret };
      });
    },

    list: (ctx) => withTenant(db, ctx.orgId, listApiKeys),

    async revoke(ctx, keyId, client) {
      await withTenant(db, ctx.orgId, async (tenant) => {
        const key = await revokeApiKey(tenant, keyId, new Date());
        if (!key) throw orgErrors.api_key_not_found();
        await keyChange(tenant, ctx, 'api_key.revoked', key, client);
      });
    },

    async authenticate(secret, ip) {
      if (!secret.startsWith(API_KEY_PREFIX) || secret.length > 200) return null;
      const found = await findApiKeyByHash(db, sha256(secret));
      const now = new Date();
      if (!found || found.key.revokedAt || (found.key.expiresAt && found.key.expiresAt <= now)) return null;
      await touchApiKey(db, found.key, ip, now);
      const { key, tier } = found;
      return { id: key.id, orgId: key.orgId, scopes: key.scopes.filter(isPermission), rateLimitPerMinute: key.rateLimitPerMinute, tier };
    },

    async consume(key) {
      const tierLimit = tiers.limitsFor(key.tier).requests_per_minute;
      try {
        const windows: RateWindow[] = [];
        if (key.rateLimitPerMinute !== null) windows.push(await count(`api_key:${key.id}`, key.rateLimitPerMinute));
        if (tierLimit !== null) windows.push(await count(`api_org:${key.orgId}`, tierLimit));
        return windows.reduce<RateWindow | null>((tightest, window) => (!tightest || window.remaining < tightest.remaining ? window : tightest), null);
      } catch (error) {
        if (error instanceof AppError) throw error;
        deps.onCacheError?.(error);
        return null;
      }
    },
  };
}
