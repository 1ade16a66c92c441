import { createHash } from 'node:crypto';
import type { DbHandle } from '../../platform/db/database.js';
import { chainFrom, countUnsealed, lastSealed, latestCheckpoint, lockChain, sealEntries, unsealedEntries, type ChainRow } from './audit.queries.js';

/*
 * The tamper-evident chain over the audit log. Entries are written without a hash in the business
 * transaction (so audited writes never queue behind one lock); the sealer then takes the committed,
 * unsealed entries in order under an advisory lock and gives each its position (`seq`), the
 * previous entry's hash and its own: sha256(prev_hash, newline, the entry's content as a JSON
 * array). The trigger lets exactly this one update through. Verification walks the chain from the
 * latest retention checkpoint (or the start) and names the first entry that is missing, out of
 * place or altered.
 *
 * What it cannot do: catch someone who deletes the newest entries AND has not been seen by a
 * verification since (truncation), or a database superuser who rewrites every hash after the one
 * they changed. Keeping the latest hash elsewhere (GET /v1/admin/audit-logs/verify returns it)
 * closes both.
 */

export const GENESIS_HASH = '0'.repeat(64);

export type { ChainRow } from './audit.queries.js';

export function entryHash(previous: string, row: ChainRow): string {
  const content = [
    row.id, row.created_us, row.org_id, row.actor_type, row.actor_id, row.actor_display, row.action, row.target_type, row.target_id,
    row.result, row.reason, row.ip, row.user_agent, row.request_id, row.changes,
  ];
  return createHash('sha256').update(`${previous}\n${JSON.stringify(content)}`).digest('hex');
}

/** Where the chain stands: its last sealed entry, else the latest checkpoint, else the start. */
async function chainHead(db: DbHandle): Promise<{ seq: number; hash: string }> {
  return (await lastSealed(db)) ?? (await latestCheckpoint(db)) ?? { seq: 0, hash: GENESIS_HASH };
}

const SEAL_BATCH = 500;

/** Seals up to one batch of committed entries; returns how many. */
export async function sealBatch(db: { transaction<T>(fn: (tx: DbHandle) => Promise<T>): Promise<T> }): Promise<number> {
  return db.transaction(async (tx) => {
    await lockChain(tx);
    const rows = await unsealedEntries(tx, SEAL_BATCH);
    if (rows.length === 0) return 0;
    let { seq, hash } = await chainHead(tx);
    const seals = [];
    for (const row of rows) {
      seq += 1;
      const prevHash = hash;
      hash = entryHash(hash, row);
      seals.push({ id: row.id, seq, prevHash, hash });
    }
    await sealEntries(tx, seals);
    return rows.length;
  });
}

export type Verification =
  | { ok: true; checked: number; last_seq: number | null; last_hash: string | null; unsealed: number }
  | { ok: false; checked: number; broken: { id: string | null; seq: number; reason: string } };

/**
 * Walks the chain from the latest checkpoint; stops at the first break. A retention purge that
 * commits during the walk deletes entries ahead of it and moves the checkpoint on: a break found
 * then is the purge's doing, so the walk starts again from the new checkpoint (a few times at most).
 */
export async function verifyChain(db: DbHandle): Promise<Verification> {
  for (let attempt = 1; ; attempt++) {
    const checkpoint = await latestCheckpoint(db);
    const result = await walkChain(db, checkpoint);
    if (result.ok || attempt === 3) return result;
    const now = await latestCheckpoint(db);
    if ((now?.seq ?? 0) === (checkpoint?.seq ?? 0)) return result;
  }
}

async function walkChain(db: DbHandle, checkpoint: { seq: number; hash: string } | null): Promise<Verification> {
  let expected = (checkpoint?.seq ?? 0) + 1;
  let previous = checkpoint?.hash ?? GENESIS_HASH;
  let checked = 0;
  let lastHash: string | null = checkpoint?.hash ?? null;
  for (;;) {
    const rows = await chainFrom(db, expected, 1000);
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== expected) return { ok: false, checked, broken: { id: null, seq: expected, reason: `entry ${expected} is missing: the chain jumps to ${seq} (${row.id})` } };
      if (row.prev_hash !== previous) return { ok: false, checked, broken: { id: row.id, seq, reason: 'it does not follow the entry before it (prev_hash differs)' } };
      if (entryHash(previous, row) !== row.hash) return { ok: false, checked, broken: { id: row.id, seq, reason: 'its content does not match its hash: it was altered' } };
      previous = row.hash;
      lastHash = row.hash;
      expected += 1;
      checked += 1;
    }
    if (rows.length < 1000) break;
  }
  return { ok: true, checked, last_seq: expected - 1 > 0 ? expected - 1 : null, last_hash: lastHash, unsealed: await countUnsealed(db) };
}

