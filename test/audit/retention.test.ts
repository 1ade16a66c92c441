import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, RETENTION_QUEUE } from '../../src/modules/audit/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { appOn, harness, runsOn, type Entry } from './harness.js';

/*
 * Retention, on each engine: with AUDIT_RETENTION_DAYS=30, entries older than that are exported to a
 * JSON Lines file in AUDIT_EXPORT_DIR and then deleted, by the purge and by its scheduled job; only a
 * prefix of the chain goes (an old entry sealed after a young one waits), a checkpoint records the
 * last purged position and hash, and the chain verifies across every purge. When the export cannot
 * be written nothing is deleted. Entries are aged the way the brief allows: written while the sealer
 * is stopped, their created_at moved back with the append-only trigger disabled (as a superuser
 * could), then sealed; sealing covers created_at, so they verify as they are.
 */

const DAY_MS = 86_400_000;

interface Exported extends Entry {
  prev_hash: string;
  seq: number;
  hash: string;
}

describe.each(engineCases())('audit retention on $engine', ({ engine, available }) => {
  describe.skipIf(!runsOn(engine, available))(engine, () => {
    let app: TestApp;
    let exportDir: string;
    const h = harness(() => app);
    const { query } = h;
    const sql = (text: string, params: unknown[] = []) => app.context.db.sql.query(text, params);

    /** The entries of each phase, by id. */
    const batch: Record<'first' | 'second' | 'young' | 'lateOld', string[]> = { first: [], second: [], young: [], lateOld: [] };
    /** Every entry as the admin API showed it before any purge. */
    const shown = new Map<string, Entry>();

    const newIds = async (before: Set<string>) => (await query<{ id: string }>('SELECT id FROM audit_events ORDER BY id')).map((row) => row.id).filter((id) => !before.has(id));
    const allIds = async () => new Set((await query<{ id: string }>('SELECT id FROM audit_events')).map((row) => row.id));
    async function age(ids: string[], days: number): Promise<void> {
      await sql('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
      try {
        await sql(`UPDATE audit_events SET created_at = created_at - make_interval(days => $2::int) WHERE id = ANY($1::text[])`, [ids, days]);
      } finally {
        await sql('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
      }
    }
    const checkpoints = () => query<{ seq: string; hash: string; purged_count: number; export_file: string | null }>('SELECT seq::text AS seq, hash, purged_count, export_file FROM audit_checkpoints ORDER BY audit_checkpoints.seq');
    const sealedOf = (ids: string[]) =>
      query<{ id: string; seq: string; hash: string }>('SELECT id, seq::text AS seq, hash FROM audit_events WHERE id = ANY($1::text[]) ORDER BY audit_events.seq', [ids]);
    const readExport = async (file: string): Promise<Exported[]> => (await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Exported);

    beforeAll(async () => {
      exportDir = await mkdtemp(join(tmpdir(), 'tessera-audit-export-'));
      app = await appOn(engine, { AUDIT_RETENTION_DAYS: '30', AUDIT_EXPORT_DIR: exportDir });
      // Nothing is sealed until the phases are written and aged.
      await app.context.auditLog.sealer.stop();
      expect((await query<{ n: number }>('SELECT count(seq)::int AS n FROM audit_events'))[0]!.n).toBe(0);

      let seen = await allIds();
      await h.platformAdmin();
      for (let i = 0; i < 2; i++) await h.signedIn('first');
      batch.first = await newIds(seen);
      seen = await allIds();
      await h.signedIn('second');
      batch.second = await newIds(seen);
      seen = await allIds();
      for (let i = 0; i < 2; i++) await h.signedIn('young');
      batch.young = await newIds(seen);
      await age(batch.first, 40);
      await age(batch.second, 35);
      // Sealing takes the oldest first: first, second, then the admin's and the young entries.
      await app.context.auditLog.sealPending();
      seen = await allIds();
      await app.context.db.transaction((tx) => app.context.audit.record(tx, { actor: { type: 'system' }, action: 'test.late_old' }));
      batch.lateOld = await newIds(seen);
      await age(batch.lateOld, 50);
      await app.context.auditLog.sealPending();
      for (const entry of await h.entries({})) shown.set(entry.id, entry);
    });
    afterAll(async () => {
      await app?.destroy();
      await rm(exportDir, { recursive: true, force: true });
    });

    it('set up as intended: the aged batches lead the chain, the late old entry comes after the young ones; the chain verifies', async () => {
      expect(batch.first.length).toBeGreaterThanOrEqual(4);
      expect(batch.second.length).toBeGreaterThanOrEqual(2);
      const order = (await query<{ id: string }>('SELECT id FROM audit_events ORDER BY audit_events.seq')).map((row) => row.id);
      expect(order.slice(0, batch.first.length).sort()).toEqual([...batch.first].sort());
      expect(order.slice(batch.first.length, batch.first.length + batch.second.length).sort()).toEqual([...batch.second].sort());
      expect(order[order.length - 1]).toBe(batch.lateOld[0]);
      expect(await app.context.auditLog.verify()).toMatchObject({ ok: true, checked: order.length });
    });

    it('the retention job is scheduled daily when AUDIT_RETENTION_DAYS is set, and not without it', async () => {
      expect(await app.context.jobs.schedules()).toContainEqual({ name: RETENTION_QUEUE, cron: '23 3 * * *' });
      const plain = await createTestApp();
      try {
        expect((await plain.context.jobs.schedules()).map((s) => s.name)).not.toContain(RETENTION_QUEUE);
        expect(await plain.context.auditLog.purge()).toEqual({ purged: 0, file: null });
      } finally {
        await plain.destroy();
      }
    });

    it('when the export cannot be written, nothing is deleted and no checkpoint is made', async () => {
      await rm(exportDir, { recursive: true, force: true });
      await writeFile(exportDir, 'a file where the directory should be');
      try {
        await expect(app.context.auditLog.purge()).rejects.toThrow();
      } finally {
        await rm(exportDir, { force: true });
      }
      expect(await checkpoints()).toEqual([]);
      expect((await sealedOf(batch.first)).length).toBe(batch.first.length);
      expect((await app.context.auditLog.verify()).ok).toBe(true);
    });

    it('purge: the entries older than the retention (a prefix of the chain) go to a JSON Lines file (0600), then out of the table; a checkpoint keeps the chain verifiable', async () => {
      const before = await app.context.auditLog.verify();
      expect(before.ok).toBe(true);
      const firstSealed = await sealedOf(batch.first);
      // Seven days ago, the cut-off (30 days before) fell between the first batch (40 days old) and the second (35).
      const result = await app.context.auditLog.purge(new Date(Date.now() - 7 * DAY_MS));
      expect(result).toEqual({ purged: batch.first.length, file: expect.stringMatching(new RegExp(`^${exportDir}/audit-.+\\.jsonl$`)) });
      expect(((await stat(result.file!)).mode & 0o777).toString(8)).toBe('600');

      const exported = await readExport(result.file!);
      expect(exported.map((line) => line.id)).toEqual(firstSealed.map((row) => row.id));
      for (const line of exported) {
        const { prev_hash: _prev, ...entry } = line;
        expect(entry).toEqual(shown.get(line.id));
      }
      // The file's own links: from the start of the chain to the checkpoint's hash.
      expect(exported[0]!.prev_hash).toBe(GENESIS_HASH);
      for (let i = 1; i < exported.length; i++) expect(exported[i]!.prev_hash).toBe(exported[i - 1]!.hash);

      expect(await sealedOf(batch.first)).toEqual([]);
      expect((await sealedOf([...batch.second, ...batch.young, ...batch.lateOld])).length).toBe(batch.second.length + batch.young.length + batch.lateOld.length);
      const last = firstSealed[firstSealed.length - 1]!;
      expect(await checkpoints()).toEqual([{ seq: last.seq, hash: last.hash, purged_count: batch.first.length, export_file: result.file }]);

      const after = await app.context.auditLog.verify();
      expect(after).toMatchObject({ ok: true, checked: before.checked - batch.first.length, last_seq: before.ok ? before.last_seq : -1, last_hash: before.ok ? before.last_hash : '' });
    });

    it('the scheduled job purges by the real clock: the second batch (35 days) goes, the young entries and the old one sealed after them stay', async () => {
      const secondSealed = await sealedOf(batch.second);
      await app.context.jobs.enqueue(RETENTION_QUEUE, {});
      const [, second] = await waitFor(async () => {
        const rows = await checkpoints();
        return rows.length === 2 ? rows : null;
      }, 20_000, 'the retention job to make a second checkpoint');
      const last = secondSealed[secondSealed.length - 1]!;
      expect(second).toMatchObject({ seq: last.seq, hash: last.hash, purged_count: batch.second.length });
      const exported = await readExport(second!.export_file!);
      expect(exported.map((line) => line.id)).toEqual(secondSealed.map((row) => row.id));
      // The second file continues where the first ended.
      const [first] = await checkpoints();
      expect(exported[0]!.prev_hash).toBe(first!.hash);
      expect(await sealedOf(batch.second)).toEqual([]);
      expect((await sealedOf(batch.young)).length).toBe(batch.young.length);
      expect((await sealedOf(batch.lateOld)).length).toBe(1);
      expect((await readdir(exportDir)).sort()).toEqual([first!.export_file!, second!.export_file!].map((file) => file.slice(exportDir.length + 1)).sort());
      const res = await h.call('GET', '/v1/admin/audit-logs/verify', (await h.platformAdmin()).token);
      expect(res.json()).toMatchObject({ ok: true });
    });

    it('a purge with nothing old enough does nothing: no file, no checkpoint', async () => {
      expect(await app.context.auditLog.purge()).toEqual({ purged: 0, file: null });
      expect(await checkpoints()).toHaveLength(2);
    });

    it('a purge of everything leaves a chain of checkpoints only, still verifying; the next entry continues from the last checkpoint', async () => {
      await app.context.auditLog.sealPending();
      const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events')) as [{ n: number }];
      const result = await app.context.auditLog.purge(new Date(Date.now() + 31 * DAY_MS));
      expect(result.purged).toBe(n);
      expect((await query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events'))[0]!.n).toBe(0);
      const rows = await checkpoints();
      expect(rows).toHaveLength(3);
      const top = rows[2]!;
      expect(await app.context.auditLog.verify()).toEqual({ ok: true, checked: 0, last_seq: Number(top.seq), last_hash: top.hash, unsealed: 0 });

      const id = await app.context.db.transaction((tx) => app.context.audit.record(tx, { actor: { type: 'system' }, action: 'test.after_purge' }));
      await app.context.auditLog.sealPending();
      const [row] = await query<{ seq: string; prev_hash: string }>('SELECT seq::text AS seq, prev_hash FROM audit_events WHERE id = $1', [id]);
      expect(row).toEqual({ seq: String(Number(top.seq) + 1), prev_hash: top.hash });
      expect(await app.context.auditLog.verify()).toMatchObject({ ok: true, checked: 1, last_seq: Number(top.seq) + 1 });
    });
  });
});
