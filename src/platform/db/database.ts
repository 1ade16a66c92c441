import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PGlite, type Transaction as PGliteTransaction } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';

/** The typed query builder; the same type on both engines. */
export type Orm = PgDatabase<PgQueryResultHKT>;

/** Raw SQL with `$1` placeholders, for the few callers that speak SQL text (the job queue). */
export interface SqlRunner {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** What a query function needs: the query builder and raw SQL, inside or outside a transaction. */
export interface DbHandle {
  readonly orm: Orm;
  readonly sql: SqlRunner;
  /**
   * Runs `fn` once the work on this handle is visible to others: after COMMIT inside a
   * transaction (never when it rolls back), at once outside one. For in-process follow-ups that
   * must not see uncommitted rows (waking a job worker). `fn` must not throw. Optional for
   * hand-made handles (tests); the engines' handles always have it.
   */
  afterCommit?(fn: () => void): void;
}

/** Outside a transaction the work is already committed. */
const runNow = (fn: () => void): void => queueMicrotask(fn);

/** Callbacks registered on one transaction, run after its COMMIT. */
function commitHooks(): { add(fn: () => void): void; run(): void } {
  const hooks: (() => void)[] = [];
  return {
    add: (fn) => hooks.push(fn),
    run() {
      for (const fn of hooks) {
        try {
          fn();
        } catch {
          // A follow-up is best effort; the transaction is committed either way.
        }
      }
    },
  };
}

export interface Database extends DbHandle {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: DbHandle) => Promise<T>): Promise<T>;
  /** Several statements in one string, no parameters (job-queue schema scripts). */
  execScript(text: string): Promise<{ rows: Record<string, unknown>[] }>;
  /** Applies pending migrations; safe when several instances start at once on one database. */
  migrate(): Promise<void>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations', import.meta.url));
const MIGRATIONS = { migrationsFolder: MIGRATIONS_DIR, migrationsSchema: 'tessera', migrationsTable: 'migrations' };
/** Advisory-lock key taken while migrating, so concurrent starts on one empty database don't race. */
const MIGRATION_LOCK_KEY = 7_461_726_173; // "tessera" in spirit; any constant bigint works

export interface PostgresOptions {
  url: string;
  /** Pool size per instance. */
  max?: number;
  applicationName?: string;
}

export function createPostgresDatabase(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'tessera',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  const orm: Orm = drizzlePg(pool);
  const sqlRunner: SqlRunner = {
    query: async (text, values) => pool.query(text, values) as never,
  };
  return {
    kind: 'postgres',
    orm,
    sql: sqlRunner,
    afterCommit: runNow,
    async transaction(fn) {
      const client = await pool.connect();
      const hooks = commitHooks();
      try {
        await client.query('BEGIN');
        const result = await fn({
          orm: drizzlePg(client),
          sql: { query: async (text, values) => client.query(text, values) as never },
          afterCommit: hooks.add,
        });
        await client.query('COMMIT');
        hooks.run();
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    execScript: async (text) => {
      const result = await pool.query(text);
      // A multi-statement script yields one result per statement; the job queue wants the last.
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: last?.rows ?? [] };
    },
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        try {
          await migratePg(drizzlePg(client), MIGRATIONS);
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
        }
      } finally {
        client.release();
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  };
}

export interface PgliteOptions {
  /** Directory to keep the data in; absent: in memory. */
  dataDir?: string;
  /** A data-directory dump to start from (tests clone a migrated template this way). */
  loadDataDir?: Blob;
}

function pgliteHandle(client: PGlite | PGliteTransaction, afterCommit: (fn: () => void) => void = runNow): DbHandle {
  return {
    orm: drizzlePglite(client as PGlite),
    sql: { query: async (text, values) => client.query(text, values) as never },
    afterCommit,
  };
}

export async function createPgliteDatabase(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const client = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  const handle = pgliteHandle(client);
  return {
    kind: 'pglite',
    ...handle,
    // PGlite is one connection: its transaction() holds it exclusively, so other queries wait.
    async transaction(fn) {
      const hooks = commitHooks();
      const result = await client.transaction((tx) => fn(pgliteHandle(tx, hooks.add)));
      hooks.run();
      return result;
    },
    execScript: async (text) => {
      const results = await client.exec(text);
      return { rows: (results[results.length - 1]?.rows ?? []) as Record<string, unknown>[] };
    },
    // One process owns a PGlite data directory, so there is no one to race.
    migrate: async () => migratePglite(drizzlePglite(client), MIGRATIONS),
    async ping() {
      await client.query('SELECT 1');
    },
    async close() {
      if (!client.closed) await client.close();
    },
  };
}

/** Dumps a PGlite database's data directory (tests build a migrated template once and clone it). */
export async function dumpPglite(db: Database): Promise<Blob> {
  const client = (db.orm as unknown as { $client: PGlite }).$client;
  return client.dumpDataDir('none');
}
