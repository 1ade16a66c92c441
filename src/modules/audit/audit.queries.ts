import { and, desc, eq, gte, like, lt, lte, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { auditEvents } from '../../platform/events/index.js';

export type AuditRow = typeof auditEvents.$inferSelect;

export interface AuditFilter {
  /** Forced by the organization route; optional for platform admins. */
  orgId?: string;
  actorId?: string;
  /** Prefix: `member.` matches member.added, member.removed… */
  action?: string;
  /** `type:id`, or an id alone. */
  target?: string;
  result?: 'success' | 'failure';
  ip?: string;
  from?: Date;
  to?: Date;
  /** The id of the last entry of the previous page. */
  before?: string;
  limit: number;
}

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (ch) => `\\${ch}`);

function conditions(filter: AuditFilter): (SQL | undefined)[] {
  const target = filter.target?.includes(':') ? filter.target.split(':', 2) : null;
  return [
    filter.orgId ? eq(auditEvents.orgId, filter.orgId) : undefined,
    filter.actorId ? eq(auditEvents.actorId, filter.actorId) : undefined,
    filter.action ? like(auditEvents.action, `${escapeLike(filter.action)}%`) : undefined,
    target ? and(eq(auditEvents.targetType, target[0]!), eq(auditEvents.targetId, target[1]!)) : filter.target ? eq(auditEvents.targetId, filter.target) : undefined,
    filter.result ? eq(auditEvents.result, filter.result) : undefined,
    filter.ip ? eq(auditEvents.ip, filter.ip) : undefined,
    filter.from ? gte(auditEvents.createdAt, filter.from) : undefined,
    filter.to ? lte(auditEvents.createdAt, filter.to) : undefined,
    filter.before ? lt(auditEvents.id, filter.before) : undefined,
  ];
}

/** Newest first: ids are time-ordered and unique, so `ORDER BY id DESC` with `id < before` is total. */
export async function listAudit(db: DbHandle, filter: AuditFilter): Promise<AuditRow[]> {
  return db.orm.select().from(auditEvents).where(and(...conditions(filter))).orderBy(desc(auditEvents.id)).limit(filter.limit);
}

// The hash chain (audit.chain.ts decides; these statements read and write it).

/** One sealer or purger at a time: positions are handed out in order and a purge never races a seal. */
export async function lockChain(tx: DbHandle): Promise<void> {
  await tx.sql.query(`SELECT pg_advisory_xact_lock(hashtext('audit_chain'))`);
}

/** The columns the hash covers, read in one canonical form on both engines (jsonb as PostgreSQL prints it, time in microseconds). */
export const CHAIN_COLUMNS = `id, floor(extract(epoch from created_at) * 1000000)::bigint::text AS created_us, org_id, actor_type, actor_id, actor_display, action,
  target_type, target_id, result, reason, ip, user_agent, request_id, changes::text AS changes, seq, prev_hash, hash`;

/** An entry as the chain reads it. */
export interface ChainRow {
  id: string;
  created_us: string;
  org_id: string | null;
  actor_type: string;
  actor_id: string | null;
  actor_display: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  result: string;
  reason: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  changes: string | null;
  seq: string | number | null;
  prev_hash: string | null;
  hash: string | null;
}

/** Committed entries not sealed yet, in the order they are sealed (created_at, then id). */
export async function unsealedEntries(tx: DbHandle, limit: number): Promise<ChainRow[]> {
  const { rows } = await tx.sql.query<ChainRow>(`SELECT ${CHAIN_COLUMNS} FROM audit_events WHERE seq IS NULL ORDER BY created_at, id LIMIT $1`, [limit]);
  return rows;
}

/** The last sealed entry's position and hash. */
export async function lastSealed(db: DbHandle): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await db.sql.query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq DESC LIMIT 1');
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}

export async function latestCheckpoint(db: DbHandle): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await db.sql.query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM audit_checkpoints ORDER BY audit_checkpoints.seq DESC LIMIT 1');
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}

/** Gives each entry its position, the previous hash and its own (the one update the trigger lets through). */
export async function sealEntries(tx: DbHandle, seals: { id: string; seq: number; prevHash: string; hash: string }[]): Promise<void> {
  if (seals.length === 0) return;
  await tx.sql.query(
    `UPDATE audit_events AS a SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
       FROM (SELECT unnest($1::bigint[]) AS seq, unnest($2::text[]) AS prev_hash, unnest($3::text[]) AS hash, unnest($4::text[]) AS id) AS v
      WHERE a.id = v.id`,
    [seals.map((s) => s.seq), seals.map((s) => s.prevHash), seals.map((s) => s.hash), seals.map((s) => s.id)],
  );
}

/** Sealed entries from position `fromSeq` on, in chain order. */
export async function chainFrom(db: DbHandle, fromSeq: number, limit: number): Promise<ChainRow[]> {
  const { rows } = await db.sql.query<ChainRow>(`SELECT ${CHAIN_COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2`, [fromSeq, limit]);
  return rows;
}

export async function countUnsealed(db: DbHandle): Promise<number> {
  const { rows } = await db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE seq IS NULL');
  return rows[0]!.n;
}

// Retention: a prefix of the chain is exported, deleted and remembered as a checkpoint.

/** The oldest sealed entries, in chain order, with their creation time. */
export async function oldestSealed(tx: DbHandle, limit: number): Promise<(ChainRow & { created_at: Date })[]> {
  const { rows } = await tx.sql.query<ChainRow & { created_at: Date }>(`SELECT ${CHAIN_COLUMNS}, created_at FROM audit_events WHERE seq IS NOT NULL ORDER BY seq LIMIT $1`, [limit]);
  return rows;
}

/** A raw audit_events row (snake_case columns), as a purge exports it. */
export type RawAuditRow = Record<string, unknown> & { created_at: Date | string; seq: string | number };

/** Every sealed entry up to position `lastSeq`, in chain order. */
export async function sealedThrough(tx: DbHandle, lastSeq: number | string): Promise<RawAuditRow[]> {
  const { rows } = await tx.sql.query<RawAuditRow>('SELECT * FROM audit_events WHERE seq <= $1 AND seq IS NOT NULL ORDER BY seq', [lastSeq]);
  return rows;
}

/**
 * Deletes the sealed entries up to `lastSeq` and records the checkpoint the chain then starts from,
 * in the caller's transaction (the trigger refuses deletes unless this transaction says it purges).
 */
export async function purgeThrough(tx: DbHandle, checkpoint: { seq: number | string; hash: string; purgedCount: number; exportFile: string }): Promise<void> {
  await tx.sql.query(`SELECT set_config('tessera.audit_purge', 'on', true)`);
  await tx.sql.query('DELETE FROM audit_events WHERE seq IS NOT NULL AND seq <= $1', [checkpoint.seq]);
  await tx.sql.query('INSERT INTO audit_checkpoints (seq, hash, purged_count, export_file) VALUES ($1, $2, $3, $4)', [checkpoint.seq, checkpoint.hash, checkpoint.purgedCount, checkpoint.exportFile]);
}
