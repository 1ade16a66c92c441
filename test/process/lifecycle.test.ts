import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createEmptyPostgresDatabase, createTestDatabase } from '../helpers/db.js';
import { cleanupProcesses, httpGet, REPO_ROOT, spawnMain, startServer, tempDir } from '../helpers/process.js';

const SECRET = 'lifecycle-secret-0123456789-abcdefghijklmnop';
const MIGRATION_FILES = readdirSync(join(REPO_ROOT, 'migrations')).filter((name) => name.endsWith('.sql')).length;
const { postgresUrl, redisUrl } = inject('services');

afterAll(cleanupProcesses);

describe('start-up with a bad configuration', () => {
  // Concurrent: each child exits on its own, so no afterEach may kill the others' children.
  it.concurrent.each<{ env: Record<string, string>; names: string }>([
    { env: { PORT: 'abc' }, names: 'PORT' },
    { env: { PUBLIC_URL: 'not-a-url' }, names: 'PUBLIC_URL' },
    { env: { NODE_ENV: 'production' }, names: 'TESSERA_SECRET' },
    { env: { DATABASE_URL: 'mysql://x' }, names: 'DATABASE_URL' },
  ])('$env exits 1 with one line naming $names and no stack', async ({ env, names }) => {
    const dataDir = await tempDir();
    const child = spawnMain({ DATA_DIR: dataDir, ...env });
    const exit = await child.exited;
    expect(exit, child.stderr()).toEqual({ code: 1, signal: null });
    const stderr = child.stderr();
    expect(stderr.endsWith('\n')).toBe(true);
    const lines = stderr.split('\n').slice(0, -1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(names);
    expect(stderr).not.toContain('    at ');
    // A secret's value never appears (DATABASE_URL may hold a password).
    if (names === 'DATABASE_URL') expect(stderr).not.toContain('mysql://x');
  });
});

describe('embedded start', () => {
  afterEach(cleanupProcesses);

  it('starts with nothing but PORT, DATA_DIR and LOG_LEVEL, generates its secret, and stops on SIGTERM', async () => {
    const dataDir = await tempDir();
    const server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    const ready = await server.waitReady();
    expect(ready).toMatchObject({ status: 'ready', checks: { database: { kind: 'pglite', status: 'up' }, cache: { kind: 'memory', status: 'up' } } });

    const url = `http://localhost:${server.port}`;
    const started = server.logLines().find((line) => typeof line.msg === 'string' && line.msg.includes(url) && line.msg.includes(`${url}/docs`));
    expect(started, server.stdout()).toBeDefined();

    const secret = await stat(join(dataDir, 'secret'));
    expect(secret.mode & 0o777).toBe(0o600);

    expect(await server.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
    expect(server.stderr()).toBe('');
  }, 60_000);

  // There is no deliberately slow route to hold a handler running across the signal; these check
  // what can be checked without one: an idle keep-alive connection does not hold shutdown up, and a
  // request still arriving when the signal lands is answered rather than dropped.
  it('exits 0 on SIGTERM while a keep-alive client stays connected', async () => {
    const server = await startServer({ DATA_DIR: await tempDir(), LOG_LEVEL: 'warn', NODE_ENV: 'test', HOST: '127.0.0.1', TESSERA_SECRET: SECRET });
    await server.waitReady();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const { socket, status, connection } = await new Promise<{ socket: Socket; status: number | undefined; connection: string | undefined }>((resolve, reject) => {
        const req = request(`${server.baseUrl}/health/live`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ socket: req.socket as Socket, status: res.statusCode, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(connection).toBe('keep-alive');
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      expect(socket.destroyed).toBe(false);

      expect(await server.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
      await closed;
    } finally {
      agent.destroy();
    }
  }, 60_000);

  it('answers a request whose headers are still arriving at SIGTERM (503, Connection: close) and exits 0', async () => {
    const server = await startServer({ DATA_DIR: await tempDir(), LOG_LEVEL: 'info', NODE_ENV: 'test', HOST: '127.0.0.1', TESSERA_SECRET: SECRET });
    await server.waitReady();
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n');

    const stopped = server.stop('SIGTERM', 10_000);
    const deadline = Date.now() + 10_000;
    while (!server.logLines().some((line) => line.msg === 'shutting down') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    socket.write('\r\n');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 503 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(await stopped).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe.skipIf(!postgresUrl)('on PostgreSQL', () => {
  afterEach(cleanupProcesses);

  it('two instances starting together on an empty database migrate it once and both become ready (regression: pg-boss CREATE SCHEMA race)', async () => {
    const database = await createEmptyPostgresDatabase();
    try {
      const env = { DATABASE_URL: database.url, TESSERA_SECRET: SECRET, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
      const [dirA, dirB] = await Promise.all([tempDir(), tempDir()]);
      const [a, b] = await Promise.all([startServer({ ...env, DATA_DIR: dirA }), startServer({ ...env, DATA_DIR: dirB })]);
      const [readyA, readyB] = await Promise.all([a.waitReady(), b.waitReady()]);
      for (const ready of [readyA, readyB]) {
        expect(ready).toMatchObject({ status: 'ready', checks: { database: { kind: 'postgres' }, cache: { kind: 'memory' }, queue: { status: 'up' } } });
      }

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const migrations = await client.query<{ n: number; hashes: number }>('SELECT count(*)::int AS n, count(DISTINCT hash)::int AS hashes FROM tessera.migrations');
        expect(migrations.rows[0]).toEqual({ n: MIGRATION_FILES, hashes: MIGRATION_FILES });
        const boss = await client.query<{ version: number }>('SELECT version FROM pgboss.version');
        expect(boss.rows).toHaveLength(1);
      } finally {
        await client.end();
      }

      const [exitA, exitB] = await Promise.all([a.stop('SIGTERM', 10_000), b.stop('SIGTERM', 10_000)]);
      expect(exitA, a.stderr()).toEqual({ code: 0, signal: null });
      expect(exitB, b.stderr()).toEqual({ code: 0, signal: null });
    } finally {
      await cleanupProcesses();
      await database.destroy();
    }
  }, 60_000);

  it.skipIf(!redisUrl)('with REDIS_URL reports postgres and redis', async () => {
    const database = await createTestDatabase('postgres', { poolMax: 1 });
    try {
      const server = await startServer({
        DATABASE_URL: database.url!,
        REDIS_URL: redisUrl!,
        TESSERA_SECRET: SECRET,
        DATA_DIR: await tempDir(),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      });
      const ready = await server.waitReady();
      expect(ready).toMatchObject({ status: 'ready', checks: { database: { kind: 'postgres', status: 'up' }, cache: { kind: 'redis', status: 'up' } } });
      expect((await httpGet(`${server.baseUrl}/health/live`)).status).toBe(200);
      expect(await server.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
    } finally {
      await cleanupProcesses();
      await database.destroy();
    }
  }, 60_000);
});
