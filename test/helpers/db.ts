import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPgliteDatabase, createPostgresDatabase, type Database } from '../../src/platform/db/database.js';
import { databaseUrl } from './templates.js';

export type Engine = 'pglite' | 'postgres';

/** The engines this run can test on; PostgreSQL only when it answered in global setup. */
export function engines(): Engine[] {
  return inject('postgresTemplate') ? ['pglite', 'postgres'] : ['pglite'];
}

/** Every engine, with whether it can run here: for `describe.each` + `describe.skipIf`. */
export function engineCases(): { engine: Engine; available: boolean }[] {
  const available = engines();
  return (['pglite', 'postgres'] as const).map((engine) => ({ engine, available: available.includes(engine) }));
}

let pgliteTemplate: Blob | undefined;

export interface TestDatabase {
  db: Database;
  /** PostgreSQL URL of this throw-away database (for a second instance), or undefined on PGlite. */
  url?: string;
  /** Closes and, on PostgreSQL, drops the database. */
  destroy(): Promise<void>;
}

/** A fresh migrated database cloned from the run's template: never shared between test files. */
export async function createTestDatabase(engine: Engine, options: { poolMax?: number } = {}): Promise<TestDatabase> {
  if (engine === 'pglite') {
    pgliteTemplate ??= new Blob([await readFile(inject('pgliteTemplate'))]);
    const db = await createPgliteDatabase({ loadDataDir: pgliteTemplate });
    return { db, destroy: () => db.close() };
  }
  const template = inject('postgresTemplate');
  const adminUrl = inject('services').postgresUrl;
  if (!template || !adminUrl) throw new Error('PostgreSQL is not available in this run');
  const name = `tessera_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = databaseUrl(adminUrl, name);
  const db = createPostgresDatabase({ url, max: options.poolMax ?? 5 });
  return {
    db,
    url,
    async destroy() {
      await db.close();
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A new empty (unmigrated) PostgreSQL database, for tests of first start. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; destroy(): Promise<void> }> {
  const adminUrl = inject('services').postgresUrl;
  if (!adminUrl) throw new Error('PostgreSQL is not available in this run');
  const name = `tessera_e_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return { url: databaseUrl(adminUrl, name), destroy: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(text);
      return;
    } catch (error) {
      // Two files cloning one template at the same instant: PostgreSQL refuses the second; try again.
      if (attempt < 20 && /being accessed by other users/.test(String(error))) {
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
        continue;
      }
      throw error;
    } finally {
      await client.end();
    }
  }
}
