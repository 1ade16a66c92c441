import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createEmptyPostgresDatabase, createTestDatabase, engineCases, type TestDatabase } from '../../../test/helpers/db.js';
import { createPostgresDatabase } from './database.js';
import { withTenant } from './tenant.js';
import { auditEvents } from '../events/events.tables.js';
import { newId } from '../crypto/ids.js';

describe.each(engineCases())('database on $engine', ({ engine, available }) => {
  describe.skipIf(!available)('contract', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await createTestDatabase(engine);
    });
    afterAll(async () => t?.destroy());

    it('is migrated and migrating again changes nothing', async () => {
      const before = await t.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM tessera.migrations');
      await t.db.migrate();
      const after = await t.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM tessera.migrations');
      expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
      expect(before.rows[0]?.n).toBeGreaterThanOrEqual(2);
    });

    it('commits a transaction that resolves and rolls back one that throws', async () => {
      const kept = newId('aud');
      const lost = newId('aud');
      await t.db.transaction(async (tx) => {
        await tx.orm.insert(auditEvents).values({ id: kept, actorType: 'system', action: 'test.kept' });
      });
      await expect(
        t.db.transaction(async (tx) => {
          await tx.orm.insert(auditEvents).values({ id: lost, actorType: 'system', action: 'test.lost' });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const rows = await t.db.orm.select({ id: auditEvents.id }).from(auditEvents).where(sql`${auditEvents.id} in (${kept}, ${lost})`);
      expect(rows.map((r) => r.id)).toEqual([kept]);
    });

    it('runs afterCommit callbacks after COMMIT, never after a rollback, and at once outside a transaction', async () => {
      const seen: string[] = [];
      await t.db.transaction(async (tx) => {
        tx.afterCommit?.(() => seen.push('committed'));
        expect(seen).toEqual([]);
      });
      expect(seen).toEqual(['committed']);
      await expect(t.db.transaction(async (tx) => {
        tx.afterCommit?.(() => seen.push('rolled back'));
        throw new Error('refused');
      })).rejects.toThrow('refused');
      t.db.afterCommit?.(() => seen.push('outside'));
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(seen).toEqual(['committed', 'outside']);
    });

    it.skipIf(engine !== 'postgres')('withTenant({ snapshot: true }) reads one snapshot: a row committed between two of its statements is not seen, and it refuses writes', async () => {
      const orgId = newId('org');
      const count = async (handle: { sql: TestDatabase['db']['sql'] }) =>
        (await handle.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE action = 'test.snapshot'")).rows[0]!.n;
      const counts = await withTenant(t.db, orgId, async (tenant) => {
        const first = await count(tenant);
        // Committed by another connection while the snapshot transaction is open.
        await t.db.orm.insert(auditEvents).values({ id: newId('aud'), actorType: 'system', action: 'test.snapshot' });
        return [first, await count(tenant)];
      }, { snapshot: true });
      expect(counts[1]).toBe(counts[0]);
      expect(await count(t.db)).toBe(counts[0]! + 1);
      await expect(withTenant(t.db, orgId, (tenant) => tenant.orm.insert(auditEvents).values({ id: newId('aud'), actorType: 'system', action: 'test.snapshot' }), { snapshot: true }))
        .rejects.toMatchObject({ cause: { code: '25006' } }); // read_only_sql_transaction
    });

    it('refuses UPDATE and DELETE on the audit log', async () => {
      const id = newId('aud');
      await t.db.orm.insert(auditEvents).values({ id, actorType: 'system', action: 'test.append_only' });
      await expect(t.db.sql.query(`UPDATE audit_events SET action = 'x' WHERE id = $1`, [id])).rejects.toThrow(/append-only/);
      await expect(t.db.sql.query(`DELETE FROM audit_events WHERE id = $1`, [id])).rejects.toThrow(/append-only/);
      await expect(t.db.sql.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
      const { rows } = await t.db.sql.query<{ action: string }>('SELECT action FROM audit_events WHERE id = $1', [id]);
      expect(rows[0]?.action).toBe('test.append_only');
    });

    it('runs a multi-statement script and returns the last result', async () => {
      const { rows } = await t.db.execScript('SELECT 1 AS a; SELECT 2 AS b');
      expect(rows).toEqual([{ b: 2 }]);
    });
  });
});

describe.skipIf(!engineCases().find((c) => c.engine === 'postgres')?.available)('migrations on an empty PostgreSQL', () => {
  it('two instances migrating at the same moment both succeed and the schema is migrated once', async () => {
    const empty = await createEmptyPostgresDatabase();
    const a = createPostgresDatabase({ url: empty.url, max: 2 });
    const b = createPostgresDatabase({ url: empty.url, max: 2 });
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      const { rows } = await a.sql.query<{ n: number; distinct_hashes: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT hash)::int AS distinct_hashes FROM tessera.migrations',
      );
      expect(rows[0]?.n).toBe(rows[0]?.distinct_hashes);
      expect(rows[0]?.n).toBeGreaterThanOrEqual(2);
    } finally {
      await a.close();
      await b.close();
      await empty.destroy();
    }
  });
});
