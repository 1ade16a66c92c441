import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { buildApp, type App, type BuildOptions } from '../../src/app/app.js';
import { createMemoryCache, createRedisCache } from '../../src/platform/cache/index.js';
import { ACCESS_TOKEN_TYPE } from '../../src/platform/http/auth.js';
import { createTestDatabase, type Engine, type TestDatabase } from './db.js';

export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** Collects every log line the app writes, parsed, so tests can assert on what is (not) logged. */
export function logCollector(): { stream: Writable; lines: Record<string, unknown>[]; text(): string } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    get lines() {
      return raw.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

export interface TestApp extends App {
  config: Config;
  database: TestDatabase;
  logs: ReturnType<typeof logCollector>;
  /** Closes the app and throws away its database. */
  destroy(): Promise<void>;
}

/**
 * An app on a fresh database cloned from the migrated template, with an in-process cache unless
 * overridden, logs captured at debug level, and the rate limiter off unless env turns it on.
 */
export async function createTestApp(
  options: { engine?: Engine; env?: Record<string, string>; build?: Omit<BuildOptions, 'db' | 'logDestination'> } = {},
): Promise<TestApp> {
  const database = await createTestDatabase(options.engine ?? 'pglite');
  const config = loadConfig({
    NODE_ENV: 'test',
    TESSERA_SECRET: TEST_SECRET,
    LOG_LEVEL: 'debug',
    DATA_DIR: '/tmp/tessera-test-unused',
    RATE_LIMIT_ENABLED: 'false',
    ...options.env,
  });
  const logs = logCollector();
  const app = await buildApp(config, {
    cache: createMemoryCache({ prefix: 'test:' }),
    ...options.build,
    db: database.db,
    logDestination: logs.stream,
  });
  return {
    ...app,
    config,
    database,
    logs,
    async destroy() {
      await app.close();
      await database.destroy();
    },
  };
}

/**
 * An access token for a user: a real session started by the session service, as a sign-in would.
 * For an id with no user, a token signed by the app's keys for a made-up session.
 */
export async function accessTokenFor(app: App, userId: string): Promise<string> {
  const user = await app.context.accounts.getUser(userId);
  if (user) return (await app.context.sessions.start(user, { amr: ['pwd'], client: { ip: null, userAgent: null } })).accessToken;
  return app.context.keys.sign(
    { sid: 'ses_00000000000000000000000000' },
    { subject: userId, expiresInSeconds: 300, type: ACCESS_TOKEN_TYPE, audience: app.context.config.auth.audience },
  );
}

/** A test app on `engine`: PGlite with the in-process cache, or PostgreSQL with Redis (under a key prefix of its own). */
export async function createEngineApp(engine: Engine, env: Record<string, string> = {}): Promise<TestApp> {
  if (engine === 'pglite') return createTestApp({ engine, env });
  const { redisUrl } = inject('services');
  const cache = await createRedisCache(redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
  return createTestApp({ engine, env, build: { cache } });
}
