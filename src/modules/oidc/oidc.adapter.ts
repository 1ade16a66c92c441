import type { DbHandle } from '../../platform/db/database.js';
import type { Jobs } from '../../platform/jobs/jobs.js';
import { consumeModel, deleteExpiredModels, destroyModel, destroyModelsOfGrant, findModel, findModelByUid, findModelByUserCode, upsertModel, type OidcModelRow } from './oidc.queries.js';

/** What oidc-provider stores for a model instance (its AdapterPayload): its own fields, some of which the adapter indexes. */
export interface OidcPayload {
  grantId?: string;
  userCode?: string;
  uid?: string;
  consumed?: unknown;
  [key: string]: unknown;
}

/** oidc-provider's storage interface, one instance per model name. */
export interface OidcAdapter {
  upsert(id: string, payload: OidcPayload, expiresIn: number): Promise<void>;
  find(id: string): Promise<OidcPayload | undefined>;
  findByUserCode(userCode: string): Promise<OidcPayload | undefined>;
  findByUid(uid: string): Promise<OidcPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export type OidcAdapterConstructor = new (model: string) => OidcAdapter;

/** The payload as oidc-provider stored it, with `consumed` (seconds since the epoch) once consumed. */
function payloadOf(row: OidcModelRow | null): OidcPayload | undefined {
  if (!row) return undefined;
  const payload: OidcPayload = { ...row.payload };
  if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
  return payload;
}

/**
 * oidc-provider's adapter on Tessera's database (PGlite or PostgreSQL): every instance of the
 * server reads and writes the same rows, so a code issued by one is redeemed on another. Expiry
 * is the database's clock; an expired row is never answered, and `removeExpiredOidcModels` (a
 * job) deletes them.
 */
export function createOidcAdapter(db: DbHandle): OidcAdapterConstructor {
  return class TesseraOidcAdapter implements OidcAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: OidcPayload, expiresIn: number): Promise<void> {
      const text = (value: unknown) => (typeof value === 'string' ? value : null);
      const { consumed: _consumed, ...stored } = payload;
      await upsertModel(db, {
        model: this.model,
        id,
        payload: stored,
        grantId: text(payload.grantId),
        userCode: text(payload.userCode),
        uid: text(payload.uid),
        expiresInSeconds: Number.isFinite(expiresIn) && expiresIn > 0 ? Math.ceil(expiresIn) : null,
      });
    }

    async find(id: string): Promise<OidcPayload | undefined> {
      return payloadOf(await findModel(db, this.model, id));
    }

    async findByUserCode(userCode: string): Promise<OidcPayload | undefined> {
      return payloadOf(await findModelByUserCode(db, this.model, userCode));
    }

    async findByUid(uid: string): Promise<OidcPayload | undefined> {
      return payloadOf(await findModelByUid(db, this.model, uid));
    }

    async consume(id: string): Promise<void> {
      await consumeModel(db, this.model, id);
    }

    async destroy(id: string): Promise<void> {
      await destroyModel(db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await destroyModelsOfGrant(db, this.model, grantId);
    }
  };
}

/** Deletes expired model instances in batches; answers how many. */
export async function removeExpiredOidcModels(db: DbHandle, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const removed = await deleteExpiredModels(db, batch);
    total += removed;
    if (removed < batch) return total;
  }
}

export const OIDC_CLEANUP_QUEUE = 'oidc.cleanup';

/** Removes expired model instances every ten minutes, from one instance at a time. Call before jobs.start(). */
export function scheduleOidcCleanup(jobs: Jobs, db: DbHandle): void {
  jobs.define(OIDC_CLEANUP_QUEUE, async () => {
    await removeExpiredOidcModels(db);
  }, { retryLimit: 3, retryDelaySeconds: 60, concurrency: 1 });
  jobs.schedule(OIDC_CLEANUP_QUEUE, '*/10 * * * *');
}
