import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/app/cli.js';
import { createPgliteDatabase, type Database } from '../../src/platform/db/database.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import { childEnv, cleanupProcesses, REPO_ROOT, spawnTracked, tempDir, type Exit } from '../helpers/process.js';

const SECRET = 'cli-test-secret-0123456789-abcdefghijklmn'; // 40 characters

interface CliRun {
  exit: Exit;
  stdout: string;
  stderr: string;
}

/**
 * A command run in this process (the commands' code, with this environment and nothing else): the
 * same code `npx tessera` runs, without a node + tsx start of several seconds per command.
 */
async function tessera(args: string[], env: Record<string, string>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { env: { ...env }, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { exit: { code, signal: null }, stdout, stderr };
}

/** A real `npx tessera …`: node + tsx + the bin script, as a person runs it. */
async function spawned(args: string[], env: Record<string, string>): Promise<CliRun> {
  const child = spawnTracked(process.execPath, ['bin/tessera.js', ...args], { cwd: REPO_ROOT, env: childEnv(env) });
  const exit = await child.exited;
  return { exit, stdout: child.stdout(), stderr: child.stderr() };
}

const OK: Exit = { code: 0, signal: null };
const FAILED: Exit = { code: 1, signal: null };

afterAll(cleanupProcesses);

describe('npx tessera, the real process', () => {
  it('migrates a new data directory (exit 0), then a bad PORT is one line on stderr and exit 1, and an unknown command prints the usage', async () => {
    const env = { DATA_DIR: await tempDir('tessera-cli-'), TESSERA_SECRET: SECRET, LOG_LEVEL: 'warn' };
    const migrate = await spawned(['migrate'], env);
    expect(migrate.exit, migrate.stderr).toEqual(OK);
    expect(migrate.stdout).toBe('database is up to date\n');

    const badPort = await spawned(['migrate'], { ...env, PORT: 'abc' });
    expect(badPort.exit).toEqual(FAILED);
    expect(badPort.stderr).toMatch(/^tessera: invalid configuration: .*PORT.*\n$/);
    expect(badPort.stdout).toBe('');

    const unknown = await spawned(['frobnicate'], env);
    expect(unknown.exit).toEqual(FAILED);
    expect(unknown.stderr).toContain('tessera: unknown command "frobnicate"');
    expect(unknown.stderr).toContain('Usage: tessera <command>');
  }, 120_000);
});

describe('npx tessera', () => {
  let env: Record<string, string>;

  beforeAll(async () => {
    env = { DATA_DIR: await tempDir('tessera-cli-'), TESSERA_SECRET: SECRET, LOG_LEVEL: 'warn' };
  });

  // One data directory, commands in order: each builds on the state the previous one left.
  it('migrates, creates an admin (twice), rotates and lists keys, and reads the outbox', async () => {
    const migrate = await tessera(['migrate'], env);
    expect(migrate.exit, migrate.stderr).toEqual(OK);
    expect(migrate.stdout).toContain('database is up to date');

    const admin = ['admin', 'create', '--email', 'a@example.com', '--password', 'long password 1'];
    const created = await tessera(admin, env);
    expect(created.exit, created.stderr).toEqual(OK);
    expect(created.stdout).toMatch(/^created a@example\.com \(usr_[0-9a-z]+\) as platform admin\n$/);
    const id = /\((usr_[0-9a-z]+)\)/.exec(created.stdout)![1];

    const again = await tessera(admin, env);
    expect(again.exit, again.stderr).toEqual(OK);
    expect(again.stdout).toBe(`promoted existing user a@example.com (${id}) as platform admin\n`);

    // No server ever ran here, so there is no key yet: the first rotation creates one, the second retires it.
    const first = await tessera(['keys', 'rotate'], env);
    expect(first.exit, first.stderr).toEqual(OK);
    const firstKid = /new signing key (jwk_[0-9a-z]+) is active/.exec(first.stdout)?.[1];
    expect(firstKid, first.stdout).toBeDefined();
    const second = await tessera(['keys', 'rotate'], env);
    expect(second.exit, second.stderr).toEqual(OK);
    const secondKid = /new signing key (jwk_[0-9a-z]+) is active/.exec(second.stdout)?.[1];
    expect(secondKid, second.stdout).toBeDefined();
    expect(secondKid).not.toBe(firstKid);
    expect(second.stdout).toContain(`retired ${firstKid}: still published in the JWKS until`);

    const list = await tessera(['keys', 'list'], env);
    expect(list.exit, list.stderr).toEqual(OK);
    const [header, ...rows] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^KID\s+STATUS\s+CREATED_AT\s+RETIRED_AT/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^${secondKid}\\s+active\\s+\\S+Z\\s+-\\s+yes$`));
    expect(rows[1]).toMatch(new RegExp(`^${firstKid}\\s+retired\\s+\\S+Z\\s+\\S+Z\\s+until \\S+Z$`));

    const outbox = await tessera(['outbox'], env);
    expect(outbox.exit, outbox.stderr).toEqual(OK);
    expect(outbox.stdout).toBe('the outbox is empty\n');
  }, 60_000);

  it('exits 1 with the usage on an unknown command', async () => {
    const run = await tessera(['frobnicate'], env);
    expect(run.exit).toEqual(FAILED);
    expect(run.stderr).toContain('unknown command "frobnicate"');
    expect(run.stderr).toContain('Usage: tessera <command>');
    expect(run.stderr).toContain('keys rotate');
  });

  it('keys rotate refuses to run without the server\'s secret rather than seal a key under a new one', async () => {
    const dataDir = await tempDir('tessera-cli-');
    const run = await tessera(['keys', 'rotate'], { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    expect(run.exit).toEqual(FAILED);
    expect(run.stderr).toContain('no TESSERA_SECRET is set');
    expect(run.stdout).toBe('');
  });

  it('exits 1 with one line naming PORT when PORT is not a port', async () => {
    const run = await tessera(['migrate'], { ...env, PORT: 'abc' });
    expect(run.exit).toEqual(FAILED);
    const lines = run.stderr.split('\n').slice(0, -1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('PORT');
    expect(run.stderr).not.toContain('    at ');
    expect(run.stdout).toBe('');
  });
});

describe('npx tessera audit verify', () => {
  /** Runs `fn` on the database with the append-only trigger disabled, as a superuser could. */
  async function tamper(db: Database, fn: () => Promise<unknown>): Promise<void> {
    await db.sql.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    try {
      await fn();
    } finally {
      await db.sql.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
    }
  }
  const chain = async (db: Database) =>
    (await db.sql.query<{ id: string; seq: string; hash: string }>('SELECT id, seq::text AS seq, hash FROM audit_events ORDER BY audit_events.seq')).rows;
  const INTACT = /^audit chain intact: 3 entries verified, last 3 ([0-9a-f]{64})\n$/;

  it('on the embedded database: intact (exit 0, the count and last hash); an altered entry (exit 1, named); a deleted middle entry (exit 1, its position)', async () => {
    const env = { DATA_DIR: await tempDir('tessera-cli-audit-'), TESSERA_SECRET: SECRET, LOG_LEVEL: 'warn' };
    // Each platform admin created writes one audit entry (user.created); the CLI seals them when it verifies.
    for (const who of ['a', 'b', 'c']) {
      const created = await tessera(['admin', 'create', '--email', `${who}@example.com`, '--password', 'long password 1'], env);
      expect(created.exit, created.stderr).toEqual(OK);
    }
    const intact = await tessera(['audit', 'verify'], env);
    expect(intact.exit, intact.stderr).toEqual(OK);
    expect(intact.stdout).toMatch(INTACT);

    // The CLI has exited: the test may open DATA_DIR/pglite itself (one process at a time).
    let db = await createPgliteDatabase({ dataDir: join(env.DATA_DIR, 'pglite') });
    let middle: { id: string; seq: string; hash: string };
    try {
      const rows = await chain(db);
      expect(rows.map((row) => row.seq)).toEqual(['1', '2', '3']);
      expect(INTACT.exec(intact.stdout)![1]).toBe(rows[2]!.hash);
      middle = rows[1]!;
      await tamper(db, () => db.sql.query(`UPDATE audit_events SET actor_display = 'mallory@example.com' WHERE id = $1`, [middle.id]));
    } finally {
      await db.close();
    }
    const altered = await tessera(['audit', 'verify'], env);
    expect(altered.exit).toEqual(FAILED);
    expect(altered.stdout).toBe(`audit chain BROKEN at entry 2 (${middle.id}): its content does not match its hash: it was altered\n1 entries verified before it\n`);

    db = await createPgliteDatabase({ dataDir: join(env.DATA_DIR, 'pglite') });
    try {
      await tamper(db, () => db.sql.query('DELETE FROM audit_events WHERE id = $1', [middle.id]));
    } finally {
      await db.close();
    }
    const missing = await tessera(['audit', 'verify'], env);
    expect(missing.exit).toEqual(FAILED);
    expect(missing.stdout).toMatch(/^audit chain BROKEN at entry 2: entry 2 is missing: the chain jumps to 3 \(aud_[0-9a-z]{26}\)\n1 entries verified before it\n$/);
  }, 180_000);

  it.skipIf(!engines().includes('postgres'))('on PostgreSQL (DATABASE_URL): an altered entry makes it exit 1 and name the entry', async () => {
    const database = await createTestDatabase('postgres');
    try {
      const env = { DATABASE_URL: database.url!, DATA_DIR: await tempDir('tessera-cli-audit-'), TESSERA_SECRET: SECRET, LOG_LEVEL: 'warn' };
      for (const who of ['a', 'b', 'c']) {
        const created = await tessera(['admin', 'create', '--email', `${who}@example.com`, '--password', 'long password 1'], env);
        expect(created.exit, created.stderr).toEqual(OK);
      }
      const intact = await tessera(['audit', 'verify'], env);
      expect(intact.exit, intact.stderr).toEqual(OK);
      expect(intact.stdout).toMatch(INTACT);
      const [, middle] = await chain(database.db);
      await tamper(database.db, () => database.db.sql.query(`UPDATE audit_events SET reason = 'nothing to see' WHERE id = $1`, [middle!.id]));
      const altered = await tessera(['audit', 'verify'], env);
      expect(altered.exit).toEqual(FAILED);
      expect(altered.stdout).toContain(`audit chain BROKEN at entry 2 (${middle!.id}): its content does not match its hash: it was altered`);
    } finally {
      await database.destroy();
    }
  }, 120_000);

  it('an unknown audit command: exit 1 with the usage', async () => {
    const run = await tessera(['audit', 'frobnicate'], { DATA_DIR: await tempDir('tessera-cli-'), LOG_LEVEL: 'warn' });
    expect(run.exit).toEqual(FAILED);
    expect(run.stderr).toContain('unknown audit command "frobnicate"');
    expect(run.stderr).toContain('audit verify');
    expect(run.stdout).toBe('');
  });
});
