import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, engineCases, type TestDatabase } from '../../../test/helpers/db.js';
import type { DbHandle } from '../../platform/db/database.js';
import { createAudit } from '../../platform/events/index.js';
import { createJobs } from '../../platform/jobs/jobs.js';
import { entryHash, GENESIS_HASH, sealBatch, verifyChain, type ChainRow } from './audit.chain.js';
import { createAuditService } from './audit.service.js';

/*
 * The hash chain on its own: what the entry hash covers, sealing in rounds (positions stay gapless
 * past 9, 99, 500…), and verification that a retention purge committing in the middle of a walk
 * does not turn into a false alarm. On each engine, against a migrated database.
 */

const ROW: ChainRow = {
  id: 'aud_01m82bwrpj2mjwqq5jpyy7xb66', created_us: '1795374135673123', org_id: 'org_01m82bwphke50qzgftbc37ypxv', actor_type: 'user', actor_id: 'usr_01m82bwnsr0yyjrffcacdms11w',
  actor_display: 'a@example.test', action: 'member.role_changed', target_type: 'user', target_id: 'usr_01m82bxq8q21ykg93x40ce4rs3', result: 'success', reason: null, ip: '198.51.100.1',
  user_agent: 'ua', request_id: 'req-1', changes: '{"role": {"after": "admin", "before": "member"}}', seq: null, prev_hash: null, hash: null,
};
const CONTENT = ['id', 'created_us', 'org_id', 'actor_type', 'actor_id', 'actor_display', 'action', 'target_type', 'target_id', 'result', 'reason', 'ip', 'user_agent', 'request_id', 'changes'] as const;

describe('entryHash', () => {
  it('is sha256 hex, the same for the same input, and follows the previous hash', () => {
    const hash = entryHash(GENESIS_HASH, ROW);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash(GENESIS_HASH, { ...ROW })).toBe(hash);
    expect(entryHash('1'.repeat(64), ROW)).not.toBe(hash);
  });

  it('covers every content column, and not the chain columns it is stored in', () => {
    const hash = entryHash(GENESIS_HASH, ROW);
    for (const column of CONTENT) {
      expect(entryHash(GENESIS_HASH, { ...ROW, [column]: `${ROW[column] ?? ''}x` }), column).not.toBe(hash);
    }
    expect(entryHash(GENESIS_HASH, { ...ROW, seq: 7, prev_hash: 'p', hash: 'h' })).toBe(hash);
  });

  it('is unambiguous: moving a boundary between fields, or null against the text "null" or "", changes it', () => {
    expect(entryHash(GENESIS_HASH, { ...ROW, actor_id: 'a,b', actor_display: 'c' })).not.toBe(entryHash(GENESIS_HASH, { ...ROW, actor_id: 'a', actor_display: 'b,c' }));
    expect(entryHash(GENESIS_HASH, { ...ROW, reason: null })).not.toBe(entryHash(GENESIS_HASH, { ...ROW, reason: 'null' }));
    expect(entryHash(GENESIS_HASH, { ...ROW, reason: null })).not.toBe(entryHash(GENESIS_HASH, { ...ROW, reason: '' }));
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (a, b, c, d) => {
        fc.pre(a !== c || b !== d);
        return entryHash(GENESIS_HASH, { ...ROW, target_type: a, target_id: b }) !== entryHash(GENESIS_HASH, { ...ROW, target_type: c, target_id: d });
      }),
    );
  });
});

describe.each(engineCases())('sealing and verifying on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let database: TestDatabase;
    let exportDir: string;
    const audit = createAudit();

    beforeAll(async () => {
      database = await createTestDatabase(engine);
      exportDir = await mkdtemp(join(tmpdir(), 'tessera-chain-'));
    });
    afterAll(async () => {
      await database?.destroy();
      await rm(exportDir, { recursive: true, force: true });
    });

    const write = (n: number, action = 'test.entry') =>
      database.db.transaction(async (tx) => {
        for (let i = 0; i < n; i++) await audit.record(tx, { actor: { type: 'system' }, action, reason: `#${i}` });
      });
    const positions = async () =>
      (await database.db.sql.query<{ seq: string }>('SELECT seq::text AS seq FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq')).rows.map((row) => Number(row.seq));

    it('an empty log verifies: nothing checked, no last position or hash', async () => {
      expect(await verifyChain(database.db)).toEqual({ ok: true, checked: 0, last_seq: null, last_hash: null, unsealed: 0 });
    });

    it('sealing in rounds of 9, 3, 90, 1 and 600 (past 10, 100 and a 500-entry batch) numbers 1..n without a gap, and verifies', async () => {
      for (const n of [9, 3, 90, 1]) {
        await write(n);
        expect(await sealBatch(database.db)).toBe(n);
      }
      expect(await positions()).toEqual(Array.from({ length: 103 }, (_, i) => i + 1));
      await write(600);
      expect(await verifyChain(database.db)).toMatchObject({ ok: true, checked: 103, unsealed: 600 });
      expect(await sealBatch(database.db)).toBe(500);
      expect(await sealBatch(database.db)).toBe(100);
      expect(await sealBatch(database.db)).toBe(0);
      expect(await positions()).toEqual(Array.from({ length: 703 }, (_, i) => i + 1));
      const result = await verifyChain(database.db);
      const last = (await database.db.sql.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq = 703')).rows[0]!.hash;
      expect(result).toEqual({ ok: true, checked: 703, last_seq: 703, last_hash: last, unsealed: 0 });
    });

    it('a purge that commits while a verification walks (after it read the checkpoint) is no false alarm: the walk starts again from the new checkpoint', async () => {
      const own = await createTestDatabase(engine);
      try {
        const jobs = createJobs(own.db);
        const service = createAuditService({ db: own.db, jobs, audit, settings: { retentionDays: 30, exportDir } });
        await own.db.transaction(async (tx) => {
          for (let i = 0; i < 100; i++) await audit.record(tx, { actor: { type: 'system' }, action: 'test.old' });
        });
        // Made old before they are sealed (sealing hashes created_at), with the trigger off as a superuser could.
        await own.db.sql.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
        await own.db.sql.query(`UPDATE audit_events SET created_at = created_at - interval '40 days'`);
        await own.db.sql.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
        await own.db.transaction(async (tx) => {
          for (let i = 0; i < 20; i++) await audit.record(tx, { actor: { type: 'system' }, action: 'test.young' });
        });
        await service.sealPending();
        expect(await verifyChain(own.db)).toMatchObject({ ok: true, checked: 120 });

        // A handle that runs the purge just before the walk reads its first page.
        let purged = false;
        const racing: DbHandle = {
          orm: own.db.orm,
          sql: {
            query: async (text: string, params?: unknown[]) => {
              if (!purged && text.includes('WHERE seq >= $1')) {
                purged = true;
                expect(await service.purge()).toMatchObject({ purged: 100 });
              }
              return own.db.sql.query(text, params);
            },
          } as DbHandle['sql'],
        };
        const result = await verifyChain(racing);
        expect(purged).toBe(true);
        expect(result).toMatchObject({ ok: true, checked: 20, last_seq: 120 });
      } finally {
        await own.destroy();
      }
    });
  });
});
