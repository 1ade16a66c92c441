import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { desc } from 'drizzle-orm';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { openDatabase } from './context.js';
import { resolveSecret } from './secret.js';
import { createKeyStore, retiredKeyRetentionSeconds } from '../platform/crypto/keys.js';
import { signingKeys } from '../platform/crypto/keys.tables.js';
import { createSecretBox } from '../platform/crypto/secret-box.js';
import { createAudit, createEvents } from '../platform/events/index.js';
import { createJobs } from '../platform/jobs/jobs.js';
import { listOutbox } from '../platform/mail/index.js';
import { createAdminService } from '../modules/accounts/index.js';
import { sealBatch, verifyChain } from '../modules/audit/index.js';
import type { Database } from '../platform/db/database.js';

const USAGE = `Usage: tessera <command>

Commands:
  start                                   start the server (same as npm start)
  migrate                                 apply pending database migrations and exit
  admin create --email E [--password P]   create a platform admin (or promote an existing user);
                                          without --password, TESSERA_ADMIN_PASSWORD is used
  outbox [--limit N]                      print the newest mail of the development outbox
  keys rotate                             sign tokens with a new key from now on; the old key stays
                                          published until the tokens it signed have expired
  keys list                               the signing keys: kid, status, created_at, retired_at
  audit verify                            seal pending audit entries, walk the hash chain and name the
                                          first entry where it breaks (exit code 1); prints the last hash

Configuration comes from the environment, as for the server (see README). With the embedded
database (no DATABASE_URL), run these while the server is stopped: only one process at a time may
open DATA_DIR/pglite.`;

/** Where a command reads its environment and writes its output: the process's, or a test's. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** A refusal: printed as one line on stderr, exit code 1. */
class CliFailure extends Error {}

function fail(message: string): never {
  throw new CliFailure(message);
}

function config(env: CliIo['env']): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
}

/** Opens the database and brings it (and the job queue's schema) up to date. */
async function migratedDatabase(cfg: Config): Promise<Database> {
  const db = await openDatabase(cfg);
  await db.migrate();
  const jobs = createJobs(db);
  await jobs.start({ workers: false });
  await jobs.stop();
  return db;
}

/**
 * TESSERA_SECRET, or the one a previous start generated into DATA_DIR. Never generates one: a key
 * sealed under a secret the servers do not know would stop them from signing.
 */
async function existingSecret(cfg: Config): Promise<string> {
  if (!cfg.secret && !existsSync(join(cfg.dataDir, 'secret'))) {
    fail(`no TESSERA_SECRET is set and ${join(cfg.dataDir, 'secret')} does not exist: give the secret the server runs with`);
  }
  return (await resolveSecret(cfg)).secret;
}

async function keysCommand(args: string[], io: CliIo): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const sub = positionals[0];
  if (sub !== 'rotate' && sub !== 'list') fail(`unknown keys command ${JSON.stringify(sub ?? '')}\n\n${USAGE}`);
  const cfg = config(io.env);
  const secret = sub === 'rotate' ? await existingSecret(cfg) : undefined;
  const db = await migratedDatabase(cfg);
  try {
    const retain = retiredKeyRetentionSeconds(cfg.auth.accessTokenTtlSeconds);
    if (sub === 'rotate') {
      const keys = createKeyStore({ db, box: createSecretBox(secret!), issuer: cfg.publicUrl, retainRetiredSeconds: retain });
      const before = await db.orm.select({ id: signingKeys.id, status: signingKeys.status }).from(signingKeys);
      const { kid } = await keys.rotate();
      const retired = before.filter((row) => row.status === 'active').map((row) => row.id);
      io.stdout(`new signing key ${kid} is active\n`);
      if (retired.length > 0) {
        const until = new Date(Date.now() + retain * 1000).toISOString();
        io.stdout(
          `retired ${retired.join(', ')}: still published in the JWKS until ${until} (${retain} s), so the tokens it signed keep verifying until they expire\n` +
            'running servers sign with the new key within a minute\n',
        );
      }
      return;
    }
    const rows = await db.orm.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
    if (rows.length === 0) {
      io.stdout('no signing keys yet (the server creates one on first use)\n');
      return;
    }
    const now = Date.now();
    const table = [
      ['KID', 'STATUS', 'CREATED_AT', 'RETIRED_AT', 'IN_JWKS'],
      ...rows.map((row) => {
        const until = row.retiredAt ? row.retiredAt.getTime() + retain * 1000 : undefined;
        const published = row.status === 'active' ? 'yes' : until !== undefined && until > now ? `until ${new Date(until).toISOString()}` : 'no';
        return [row.id, row.status, row.createdAt.toISOString(), row.retiredAt?.toISOString() ?? '-', published];
      }),
    ];
    const widths = table[0]!.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
    for (const line of table) io.stdout(`${line.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}\n`);
  } finally {
    await db.close();
  }
}

async function sealPending(db: Database): Promise<void> {
  while ((await sealBatch(db)) === 500);
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'migrate': {
      const db = await migratedDatabase(config(io.env));
      await db.close();
      io.stdout('database is up to date\n');
      return 0;
    }
    case 'admin': {
      const { positionals, values } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { email: { type: 'string' }, password: { type: 'string' } },
      });
      if (positionals[0] !== 'create') fail(`unknown admin command ${JSON.stringify(positionals[0] ?? '')}\n\n${USAGE}`);
      const email = values.email;
      const password = values.password ?? io.env.TESSERA_ADMIN_PASSWORD;
      if (!email) fail('admin create needs --email');
      if (!password) fail('admin create needs --password or TESSERA_ADMIN_PASSWORD');
      const db = await migratedDatabase(config(io.env));
      try {
        const admins = createAdminService({ db, audit: createAudit(), events: createEvents() });
        const { user, created } = await admins.createPlatformAdmin({ email, password });
        io.stdout(`${created ? 'created' : 'promoted existing user'} ${user.email} (${user.id}) as platform admin\n`);
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'outbox': {
      const { values } = parseArgs({ args: rest, options: { limit: { type: 'string', default: '20' } } });
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) fail('--limit must be an integer from 1 to 500');
      const db = await migratedDatabase(config(io.env));
      try {
        const messages = await listOutbox(db, { limit });
        if (messages.length === 0) io.stdout('the outbox is empty\n');
        for (const message of messages) {
          io.stdout(
            `--- ${message.id}  ${message.createdAt.toISOString()}  [${message.template}]\nFrom: ${message.from}\nTo: ${message.to}\nSubject: ${message.subject}\n\n${message.text}\n\n`,
          );
        }
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'keys':
      await keysCommand(rest, io);
      return 0;
    case 'audit': {
      if (rest[0] !== 'verify') fail(`unknown audit command ${JSON.stringify(rest[0] ?? '')}\n\n${USAGE}`);
      const db = await migratedDatabase(config(io.env));
      try {
        await sealPending(db);
        const result = await verifyChain(db);
        if (!result.ok) {
          io.stdout(`audit chain BROKEN at entry ${result.broken.seq}${result.broken.id ? ` (${result.broken.id})` : ''}: ${result.broken.reason}\n${result.checked} entries verified before it\n`);
          return 1;
        }
        io.stdout(`audit chain intact: ${result.checked} entries verified${result.last_seq ? `, last ${result.last_seq} ${result.last_hash}` : ''}${result.unsealed ? ` (${result.unsealed} not sealed yet)` : ''}\n`);
      } finally {
        await db.close();
      }
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout(`${USAGE}\n`);
      return 0;
    default:
      fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  }
}

/**
 * Runs one command (`start` excepted: src/cli.ts hands it to the server's entry) and answers its exit
 * code. A refusal or a failure is one line on stderr, never a stack.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    const message = error instanceof CliFailure ? error.message : (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'failed';
    io.stderr(`tessera: ${message}\n`);
    return 1;
  }
}
