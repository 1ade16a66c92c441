import { and, eq, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { oidcModels } from './oidc.tables.js';

export type OidcModelRow = typeof oidcModels.$inferSelect;

/** A row that has not expired (the database's clock decides, the same for every instance). */
const live = sql`(${oidcModels.expiresAt} IS NULL OR ${oidcModels.expiresAt} > now())`;

export async function upsertModel(
  db: DbHandle,
  row: { model: string; id: string; payload: Record<string, unknown>; grantId: string | null; userCode: string | null; uid: string | null; expiresInSeconds: number | null },
): Promise<void> {
  const expiresAt = row.expiresInSeconds === null ? null : sql`now() + ${row.expiresInSeconds} * interval '1 second'`;
  const values = { model: row.model, id: row.id, payload: row.payload, grantId: row.grantId, userCode: row.userCode, uid: row.uid, expiresAt, consumedAt: null };
  await db.orm
    .insert(oidcModels)
    .values(values)
    .onConflictDoUpdate({ target: [oidcModels.model, oidcModels.id], set: { payload: values.payload, grantId: values.grantId, userCode: values.userCode, uid: values.uid, expiresAt, consumedAt: null } });
}

export async function findModel(db: DbHandle, model: string, id: string): Promise<OidcModelRow | null> {
  const [row] = await db.orm.select().from(oidcModels).where(and(eq(oidcModels.model, model), eq(oidcModels.id, id), live));
  return row ?? null;
}

export async function findModelByUserCode(db: DbHandle, model: string, userCode: string): Promise<OidcModelRow | null> {
  const [row] = await db.orm.select().from(oidcModels).where(and(eq(oidcModels.model, model), eq(oidcModels.userCode, userCode), live));
  return row ?? null;
}

export async function findModelByUid(db: DbHandle, model: string, uid: string): Promise<OidcModelRow | null> {
  const [row] = await db.orm.select().from(oidcModels).where(and(eq(oidcModels.model, model), eq(oidcModels.uid, uid), live));
  return row ?? null;
}

/** Marks the row consumed once: a second consume keeps the first time. */
export async function consumeModel(db: DbHandle, model: string, id: string): Promise<void> {
  await db.orm
    .update(oidcModels)
    .set({ consumedAt: sql`coalesce(${oidcModels.consumedAt}, now())` })
    .where(and(eq(oidcModels.model, model), eq(oidcModels.id, id)));
}

export async function destroyModel(db: DbHandle, model: string, id: string): Promise<void> {
  await db.orm.delete(oidcModels).where(and(eq(oidcModels.model, model), eq(oidcModels.id, id)));
}

export async function destroyModelsOfGrant(db: DbHandle, model: string, grantId: string): Promise<void> {
  await db.orm.delete(oidcModels).where(and(eq(oidcModels.model, model), eq(oidcModels.grantId, grantId)));
}

/** Removes up to `limit` expired rows; answers how many went. */
export async function deleteExpiredModels(db: DbHandle, limit: number): Promise<number> {
  const expired = db.orm
    .select({ model: oidcModels.model, id: oidcModels.id })
    .from(oidcModels)
    .where(and(isNotNull(oidcModels.expiresAt), lt(oidcModels.expiresAt, sql`now()`)))
    .limit(limit);
  const rows = await db.orm
    .delete(oidcModels)
    .where(inArray(sql`(${oidcModels.model}, ${oidcModels.id})`, expired))
    .returning({ id: oidcModels.id });
  return rows.length;
}

/** The live grants a person gave (oidc-provider's Grant instances), oldest first. */
export async function grantsOfAccount(db: DbHandle, accountId: string): Promise<{ id: string; payload: Record<string, unknown> }[]> {
  return db.orm
    .select({ id: oidcModels.id, payload: oidcModels.payload })
    .from(oidcModels)
    .where(and(eq(oidcModels.model, 'Grant'), sql`${oidcModels.payload}->>'accountId' = ${accountId}`, live))
    .orderBy(sql`${oidcModels.payload}->>'iat'`);
}

/** Removes a grant and everything issued under it (codes, access and refresh tokens, device codes…). */
export async function destroyGrant(db: DbHandle, grantId: string): Promise<void> {
  await db.orm.delete(oidcModels).where(sql`${oidcModels.grantId} = ${grantId} OR (${oidcModels.model} = 'Grant' AND ${oidcModels.id} = ${grantId})`);
}

/** Whether a later instance of this model under the same grant was consumed (a rotated refresh token's successor spent). */
export async function consumedLaterInGrant(db: DbHandle, model: string, grantId: string, id: string): Promise<boolean> {
  const rows = await db.orm
    .select({ id: oidcModels.id })
    .from(oidcModels)
    .where(
      and(
        eq(oidcModels.model, model),
        eq(oidcModels.grantId, grantId),
        isNotNull(oidcModels.consumedAt),
        sql`${oidcModels.id} <> ${id}`,
        sql`${oidcModels.consumedAt} >= (SELECT consumed_at FROM oidc_models WHERE model = ${model} AND id = ${id})`,
      ),
    )
    .limit(1);
  return rows.length > 0;
}
