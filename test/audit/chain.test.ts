import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app/app.js';
import { createMemoryCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase } from '../../src/platform/db/database.js';
import { entryHash, GENESIS_HASH } from '../../src/modules/audit/index.js';
import { CHAIN_COLUMNS, type ChainRow } from '../../src/modules/audit/audit.queries.js';
import type { TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import { signUp, uniqueEmail } from '../helpers/outbox.js';
import { PASSWORD } from '../helpers/client.js';
import { appOn, harness, runsOn } from './harness.js';

/*
 * The audit log is append-only and tamper-evident, on each engine. The database refuses UPDATE,
 * DELETE and TRUNCATE (one exception: sealing an unsealed entry's chain columns, once); someone who
 * gets around that as a superuser (the trigger disabled) and alters, deletes or re-links an entry
 * is named by GET /v1/admin/audit-logs/verify (the CLI's `tessera audit verify` is tested in
 * test/process/cli.test.ts); an intact chain answers its length and last hash; writes from many
 * parallel requests (and, on PostgreSQL, two instances sealing at once) leave a gapless chain.
 */

interface Verification {
  ok: boolean;
  checked: number;
  last_seq?: number | null;
  last_hash?: string | null;
  unsealed?: number;
  broken?: { id: string | null; seq: number; reason: string };
}

const APPEND_ONLY = /append-only/;

describe.each(engineCases())('the audit chain on $engine', ({ engine, available }) => {
  describe.skipIf(!runsOn(engine, available))(engine, () => {
    let app: TestApp;
    const h = harness(() => app);
    const { call, query } = h;
    const sql = (text: string, params: unknown[] = []) => app.context.db.sql.query(text, params);

    beforeAll(async () => {
      app = await appOn(engine);
      // A few entries to work on: sign-ups (user.signed_up) and sign-ins.
      for (let i = 0; i < 4; i++) await h.signedIn('chain');
      await app.context.auditLog.sealPending();
    });
    afterAll(async () => app?.destroy());

    async function verify(): Promise<Verification> {
      const res = await call('GET', '/v1/admin/audit-logs/verify', (await h.platformAdmin()).token);
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Verification>();
    }

    /** Runs `fn` with the append-only trigger disabled, as a superuser could; enabled again afterwards whatever happens. */
    async function asSuperuser(fn: () => Promise<unknown>): Promise<void> {
      await sql('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
      try {
        await fn();
      } finally {
        await sql('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
      }
    }

    /** A sealed entry from the middle of the chain (neither the first nor the last), as stored. */
    async function middleEntry(): Promise<{ id: string; seq: number }> {
      await app.context.auditLog.sealPending();
      const rows = await query<{ id: string; seq: string }>('SELECT id, seq::text AS seq FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq');
      expect(rows.length).toBeGreaterThanOrEqual(3);
      const row = rows[Math.floor(rows.length / 2)]!;
      return { id: row.id, seq: Number(row.seq) };
    }

    const rowOf = async (id: string) => (await query('SELECT * FROM audit_events WHERE id = $1', [id]))[0];

    /** Copies a row aside (a plain table: the PostgreSQL pool may answer on another connection). */
    async function backup(id: string): Promise<string> {
      const table = `audit_backup_${randomBytes(4).toString('hex')}`;
      // A utility statement takes no parameters; the id is ours (aud_ and base32).
      expect(id).toMatch(/^aud_[0-9a-z]{26}$/);
      await sql(`CREATE TABLE ${table} AS SELECT * FROM audit_events WHERE id = '${id}'`);
      return table;
    }

    describe('append-only: the database refuses', () => {
      it('UPDATE of any content column, of created_at, and of a sealed entry\'s chain columns; DELETE; TRUNCATE; the row is unchanged', async () => {
        const { id } = await middleEntry();
        const before = await rowOf(id);
        const attempts: [string, unknown[]][] = [
          ['UPDATE audit_events SET reason = $2 WHERE id = $1', [id, 'rewritten']],
          ['UPDATE audit_events SET actor_display = $2 WHERE id = $1', [id, 'someone@else.test']],
          ['UPDATE audit_events SET changes = $2::jsonb WHERE id = $1', [id, '{"role":{"after":"owner"}}']],
          ['UPDATE audit_events SET created_at = created_at - interval \'1 day\' WHERE id = $1', [id]],
          ['UPDATE audit_events SET hash = $2 WHERE id = $1', [id, 'f'.repeat(64)]],
          ['UPDATE audit_events SET seq = seq + 1000000 WHERE id = $1', [id]],
          ['UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = $1', [id]],
          ['DELETE FROM audit_events WHERE id = $1', [id]],
          ['UPDATE audit_events SET result = \'failure\'', []],
          ['DELETE FROM audit_events', []],
          ['TRUNCATE audit_events', []],
        ];
        for (const [text, params] of attempts) {
          await expect(sql(text, params), text).rejects.toThrow(APPEND_ONLY);
        }
        expect(await rowOf(id)).toEqual(before);
        expect((await verify()).ok).toBe(true);
      });

      it('DELETE of an unsealed entry even inside a purge transaction (tessera.audit_purge on: the retention job deletes sealed, exported entries only)', async () => {
        await app.context.auditLog.sealer.stop();
        try {
          const id = await app.context.db.transaction((tx) => app.context.audit.record(tx, { actor: { type: 'system' }, action: 'test.unsealed' }));
          await expect(
            app.context.db.transaction(async (tx) => {
              await tx.sql.query(`SELECT set_config('tessera.audit_purge', 'on', true)`);
              await tx.sql.query('DELETE FROM audit_events WHERE id = $1', [id]);
            }),
          ).rejects.toThrow(APPEND_ONLY);
          expect(await rowOf(id)).toBeDefined();
        } finally {
          app.context.auditLog.sealer.start();
        }
      });

      it('the one exception: sealing an unsealed entry (chain columns only, once); sealing that also changes content, or sets a position without a hash, is refused', async () => {
        await app.context.auditLog.sealPending();
        await app.context.auditLog.sealer.stop();
        try {
          const id = await app.context.db.transaction((tx) => app.context.audit.record(tx, { actor: { type: 'system' }, action: 'test.sealed_by_hand', reason: 'original' }));
          const head = (await query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq DESC LIMIT 1'))[0]!;
          const row = (await query<ChainRow & Record<string, unknown>>(`SELECT ${CHAIN_COLUMNS} FROM audit_events WHERE id = $1`, [id]))[0]!;
          const seq = Number(head.seq) + 1;
          const hash = entryHash(head.hash, row);

          await expect(sql('UPDATE audit_events SET seq = $2, prev_hash = $3, hash = $4, reason = $5 WHERE id = $1', [id, seq, head.hash, hash, 'changed on the way']), 'content with the seal').rejects.toThrow(APPEND_ONLY);
          await expect(sql('UPDATE audit_events SET seq = $2 WHERE id = $1', [id, seq]), 'a position without a hash').rejects.toThrow(APPEND_ONLY);
          await expect(sql('UPDATE audit_events SET reason = $2 WHERE id = $1', [id, 'unsealed is no less append-only']), 'content of an unsealed entry').rejects.toThrow(APPEND_ONLY);

          await sql('UPDATE audit_events SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1', [id, seq, head.hash, hash]);
          expect(await rowOf(id)).toMatchObject({ seq: expect.anything(), hash, prev_hash: head.hash, reason: 'original' });
          // Once sealed, its seal is as fixed as its content.
          await expect(sql('UPDATE audit_events SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1', [id, seq, GENESIS_HASH, 'a'.repeat(64)])).rejects.toThrow(APPEND_ONLY);
          const result = await verify();
          expect(result).toMatchObject({ ok: true, last_seq: seq, last_hash: hash });
        } finally {
          app.context.auditLog.sealer.start();
        }
      });
    });

    describe('tamper evidence', () => {
      it('an intact chain: ok, every sealed entry checked, the last position and hash', async () => {
        const result = await verify();
        const [last] = await query<{ seq: string; hash: string }>('SELECT seq::text AS seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq DESC LIMIT 1');
        const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE seq IS NOT NULL')) as [{ n: number }];
        expect(result).toEqual({ ok: true, checked: n, last_seq: Number(last!.seq), last_hash: last!.hash, unsealed: expect.any(Number) });
        expect(result.checked).toBe(result.last_seq);
        expect(result.last_hash).toMatch(/^[0-9a-f]{64}$/);
      });

      it('one entry altered in the database (trigger disabled): verify fails and names it; put back, the chain verifies again', async () => {
        const { id, seq } = await middleEntry();
        const saved = await backup(id);
        await asSuperuser(() => sql('UPDATE audit_events SET actor_display = $2 WHERE id = $1', [id, 'mallory@example.test']));
        const broken = await verify();
        expect(broken.ok).toBe(false);
        expect(broken.broken).toEqual({ id, seq, reason: expect.stringMatching(/altered/) });
        expect(broken.checked).toBe(seq - 1);
        await asSuperuser(() => sql(`UPDATE audit_events AS a SET actor_display = b.actor_display FROM ${saved} AS b WHERE a.id = b.id`));
        await sql(`DROP TABLE ${saved}`);
        expect((await verify()).ok).toBe(true);
      });

      it('every column the entry shows is covered by the hash: changing any one is named', async () => {
        const { id, seq } = await middleEntry();
        const saved = await backup(id);
        const changes: [string, string][] = [
          ['created_at', `created_at + interval '1 microsecond'`],
          ['org_id', `'org_00000000000000000000000000'`],
          ['actor_type', `'system'`],
          ['actor_id', `'usr_00000000000000000000000000'`],
          ['actor_display', `'x'`],
          ['action', `'auth.logout'`],
          ['target_type', `'org'`],
          ['target_id', `'someone_else'`],
          ['result', `'failure'`],
          ['reason', `'a reason'`],
          ['ip', `'203.0.113.66'`],
          ['user_agent', `'curl/8'`],
          ['request_id', `'req-forged'`],
          ['changes', `'{"role":{"before":"member","after":"owner"}}'::jsonb`],
        ];
        try {
          for (const [column, value] of changes) {
            await asSuperuser(() => sql(`UPDATE audit_events SET ${column} = ${value} WHERE id = $1`, [id]));
            const result = await app.context.auditLog.verify();
            expect(result, column).toMatchObject({ ok: false, broken: { id, seq } });
            await asSuperuser(() => sql(`UPDATE audit_events AS a SET ${column} = b.${column} FROM ${saved} AS b WHERE a.id = b.id`));
            expect((await app.context.auditLog.verify()).ok, `${column} restored`).toBe(true);
          }
        } finally {
          await sql(`DROP TABLE ${saved}`);
        }
      });

      it('a middle entry deleted: verify names the missing position; an entry re-linked (prev_hash rewritten) is named as not following', async () => {
        const { id, seq } = await middleEntry();
        const saved = await backup(id);
        await asSuperuser(() => sql('DELETE FROM audit_events WHERE id = $1', [id]));
        const gap = await verify();
        expect(gap).toMatchObject({ ok: false, checked: seq - 1, broken: { id: null, seq, reason: expect.stringContaining(`entry ${seq} is missing`) } });
        await sql(`INSERT INTO audit_events SELECT * FROM ${saved}`); // inserting is allowed
        await sql(`DROP TABLE ${saved}`);
        expect((await verify()).ok).toBe(true);

        const next = (await query<{ id: string; prev_hash: string }>('SELECT id, prev_hash FROM audit_events WHERE seq = $1', [seq + 1]))[0]!;
        await asSuperuser(() => sql('UPDATE audit_events SET prev_hash = $2 WHERE id = $1', [next.id, GENESIS_HASH]));
        expect(await verify()).toMatchObject({ ok: false, broken: { id: next.id, seq: seq + 1, reason: expect.stringMatching(/prev_hash/) } });
        await asSuperuser(() => sql('UPDATE audit_events SET prev_hash = $2 WHERE id = $1', [next.id, next.prev_hash]));
        expect((await verify()).ok).toBe(true);
      });

      it('GET /v1/admin/audit-logs/verify: 401 without a token, 403 for someone who is not a platform admin', async () => {
        expectProblem(await call('GET', '/v1/admin/audit-logs/verify', null), 401, 'unauthorized');
        const someone = await h.signedIn('not-admin');
        expectProblem(await call('GET', '/v1/admin/audit-logs/verify', someone.token), 403, 'forbidden');
      });
    });

    describe('concurrency', () => {
      it('40 audited writes from parallel requests while the sealer runs: verify ok, every entry sealed, positions 1..n without a gap', async () => {
        const people = await Promise.all(Array.from({ length: 8 }, () => h.signedIn('parallel')));
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => {
            const who = people[i % people.length]!;
            return i % 2 === 0
              ? call('PATCH', '/v1/me', who.token, { name: `Name ${i}` })
              : call('POST', '/v1/auth/login', null, { email: who.email, password: i % 10 === 3 ? 'a wrong password here' : PASSWORD });
          }),
        );
        for (const res of results) expect([200, 401]).toContain(res.statusCode);
        const result = await verify();
        expect(result.ok, JSON.stringify(result)).toBe(true);
        const [stats] = await query<{ n: number; sealed: number; first: string; last: string; distinct_seq: number }>(
          'SELECT count(*)::int AS n, count(seq)::int AS sealed, min(seq)::text AS first, max(seq)::text AS last, count(DISTINCT seq)::int AS distinct_seq FROM audit_events',
        );
        expect(stats).toEqual({ n: stats!.sealed, sealed: stats!.n, first: '1', last: String(stats!.n), distinct_seq: stats!.n });
        expect(result.checked).toBe(stats!.n);
        expect(app.logs.lines.filter((line) => line.msg === 'audit sealer error')).toEqual([]);
      });

      it.skipIf(engine !== 'postgres')('two instances on one database, each sealing while both take writes: one gapless chain', async () => {
        const second: App = await buildApp(app.config, {
          db: createPostgresDatabase({ url: app.database.url!, max: 5 }),
          cache: createMemoryCache({ prefix: `second:${randomBytes(4).toString('hex')}:` }),
          logDestination: app.logs.stream,
        });
        try {
          const results = await Promise.all(
            Array.from({ length: 30 }, (_, i) => {
              const target = i % 2 === 0 ? app : second;
              return signUp(target, uniqueEmail(`two-${i}`), PASSWORD).then(() => undefined);
            }),
          );
          expect(results).toHaveLength(30);
          await app.context.auditLog.sealPending();
          const result = await verify();
          expect(result.ok, JSON.stringify(result)).toBe(true);
          const [stats] = await query<{ n: number; last: string; unsealed: number }>('SELECT count(*)::int AS n, max(seq)::text AS last, count(*) FILTER (WHERE seq IS NULL)::int AS unsealed FROM audit_events');
          expect(stats).toEqual({ n: Number(stats!.last), last: String(stats!.n), unsealed: 0 });
          expect(app.logs.lines.filter((line) => line.msg === 'audit sealer error')).toEqual([]);
        } finally {
          await second.close();
        }
      });
    });
  });
});
