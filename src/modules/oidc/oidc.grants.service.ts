import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import type { ClientRegistry } from './oidc.applications.service.js';
import { oidcErrors } from './oidc.errors.js';
import { destroyGrant, grantsOfAccount } from './oidc.queries.js';

/**
 * "Connected apps" of the account center: the applications a person gave a grant to (oidc-provider's
 * Grant instances: OpenID scopes and API resource scopes), and taking a grant back, which revokes
 * every code and token issued under it at once.
 */

export interface ConnectedApp {
  clientId: string;
  name: string;
  firstParty: boolean;
  scopes: string[];
  resources: { indicator: string; scopes: string[] }[];
  grantedAt: Date;
}

export interface ConnectedApps {
  list(userId: string): Promise<ConnectedApp[]>;
  /** Revokes the person's grants to this application and their tokens; 404 application_not_found when there are none. */
  revoke(userId: string, clientId: string, client: ClientInfo): Promise<void>;
}

interface GrantPayload {
  clientId?: string;
  iat?: number;
  openid?: { scope?: string };
  resources?: Record<string, string>;
}

const words = (value: string | undefined): string[] => (value ?? '').split(' ').filter(Boolean);

export function createConnectedApps(deps: { db: Database; registry: ClientRegistry; audit: Audit }): ConnectedApps {
  const { db } = deps;
  return {
    async list(userId) {
      const byClient = new Map<string, ConnectedApp>();
      for (const { payload } of await grantsOfAccount(db, userId)) {
        const grant = payload as GrantPayload;
        if (!grant.clientId) continue;
        let entry = byClient.get(grant.clientId);
        if (!entry) {
          const app = await deps.registry.findClient(grant.clientId);
          if (!app) continue;
          entry = { clientId: grant.clientId, name: app.client_name, firstParty: app.first_party, scopes: [], resources: [], grantedAt: new Date((grant.iat ?? 0) * 1000) };
        }
        entry.scopes = [...new Set([...entry.scopes, ...words(grant.openid?.scope)])];
        for (const [indicator, scopes] of Object.entries(grant.resources ?? {})) {
          const existing = entry.resources.find((resource) => resource.indicator === indicator);
          if (existing) existing.scopes = [...new Set([...existing.scopes, ...words(scopes)])];
          else entry.resources.push({ indicator, scopes: words(scopes) });
        }
        byClient.set(grant.clientId, entry);
      }
      return [...byClient.values()];
    },

    async revoke(userId, clientId, client) {
      const grants = (await grantsOfAccount(db, userId)).filter(({ payload }) => (payload as GrantPayload).clientId === clientId);
      if (grants.length === 0) throw oidcErrors.application_not_found('You have given this application nothing to take back');
      await db.transaction(async (tx) => {
        for (const grant of grants) await destroyGrant(tx, grant.id);
        await deps.audit.record(tx, {
          actor: { type: 'user', id: userId },
          action: 'oidc.consent_revoked',
          target: { type: 'application', id: clientId },
          context: client,
        });
      });
    },
  };
}
