import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgliteDatabase, createPostgresDatabase, dumpPglite, type Database } from '../../src/platform/db/database.js';
import { createJobs } from '../../src/platform/jobs/jobs.js';
import type { Services } from './services.js';

export interface Templates {
  /** Path of a PGlite data-directory dump, migrated, with the job-queue schema. */
  pglite: string;
  /** Name of a migrated PostgreSQL database every test database is created from, or null. */
  postgres: string | null;
}

/** Migrates and installs the job-queue schema: what a first start does. */
async function prepare(db: Database): Promise<void> {
  await db.migrate();
  const jobs = createJobs(db);
  await jobs.start({ workers: false });
  await jobs.stop();
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function prepareTemplates(services: Services): Promise<Templates> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-test-'));
  const pgliteDb = await createPgliteDatabase();
  await prepare(pgliteDb);
  const dump = await dumpPglite(pgliteDb);
  await pgliteDb.close();
  const pglitePath = join(dir, 'template.tar');
  await writeFile(pglitePath, Buffer.from(await dump.arrayBuffer()));

  let postgres: string | null = null;
  if (services.postgresUrl) {
    postgres = `tessera_tpl_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: services.postgresUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${postgres}`);
    } finally {
      await admin.end();
    }
    const db = createPostgresDatabase({ url: databaseUrl(services.postgresUrl, postgres), max: 2 });
    try {
      await prepare(db);
    } finally {
      await db.close();
    }
  }
  return { pglite: pglitePath, postgres };
}

export async function dropTemplates(services: Services, templates: Templates): Promise<void> {
  await rm(join(templates.pglite, '..'), { recursive: true, force: true });
  if (templates.postgres && services.postgresUrl) {
    const admin = new pg.Client({ connectionString: services.postgresUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${templates.postgres} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}
