import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { openDatabase } from './app/context.js';
import { createAudit, createEvents } from './platform/events/index.js';
import { createJobs } from './platform/jobs/jobs.js';
import { listOutbox } from './platform/mail/index.js';
import { createAdminService } from './modules/accounts/index.js';
import type { Database } from './platform/db/database.js';

const USAGE = `Usage: tessera <command>

Commands:
  start                                   start the server (same as npm start)
  migrate                                 apply pending database migrations and exit
  admin create --email E [--password P]   create a platform admin (or promote an existing user);
                                          without --password, TESSERA_ADMIN_PASSWORD is used
  outbox [--limit N]                      print the newest mail of the development outbox

Configuration comes from the environment, as for the server (see README).`;

function fail(message: string): never {
  process.stderr.write(`tessera: ${message}\n`);
  process.exit(1);
}

function config(): Config {
  try {
    return loadConfig();
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

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      await import('./main.js');
      return;
    case 'migrate': {
      const db = await migratedDatabase(config());
      await db.close();
      process.stdout.write('database is up to date\n');
      return;
    }
    case 'admin': {
      const { positionals, values } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { email: { type: 'string' }, password: { type: 'string' } },
      });
      if (positionals[0] !== 'create') fail(`unknown admin command ${JSON.stringify(positionals[0] ?? '')}\n\n${USAGE}`);
      const email = values.email;
      const password = values.password ?? process.env.TESSERA_ADMIN_PASSWORD;
      if (!email) fail('admin create needs --email');
      if (!password) fail('admin create needs --password or TESSERA_ADMIN_PASSWORD');
      const db = await migratedDatabase(config());
      try {
        const admins = createAdminService({ db, audit: createAudit(), events: createEvents() });
        const { user, created } = await admins.createPlatformAdmin({ email, password });
        process.stdout.write(`${created ? 'created' : 'promoted existing user'} ${user.email} (${user.id}) as platform admin\n`);
      } finally {
        await db.close();
      }
      return;
    }
    case 'outbox': {
      const { values } = parseArgs({ args: rest, options: { limit: { type: 'string', default: '20' } } });
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) fail('--limit must be an integer from 1 to 500');
      const db = await migratedDatabase(config());
      try {
        const messages = await listOutbox(db, { limit });
        if (messages.length === 0) process.stdout.write('the outbox is empty\n');
        for (const message of messages) {
          process.stdout.write(
            `--- ${message.id}  ${message.createdAt.toISOString()}  [${message.template}]\nFrom: ${message.from}\nTo: ${message.to}\nSubject: ${message.subject}\n\n${message.text}\n\n`,
          );
        }
      } finally {
        await db.close();
      }
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  fail(message.split('\n')[0] ?? 'failed');
});
