import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { request as httpRequest } from 'node:http';
import { loadConfig } from '../../src/config/index.js';
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { cleanupProcesses, freePort, httpGet, spawnTracked, tempDir, type SpawnedProcess } from '../helpers/process.js';

const PROBLEM = 'application/problem+json';
const REDIS_SERVER = '/usr/bin/redis-server';
const { postgresUrl, redisUrl } = inject('services');

interface CheckBody {
  status: 'up' | 'down';
  kind: string;
  required: boolean;
  latency_ms: number;
  error?: string;
}
interface ReadyBody {
  status: 'ready' | 'unavailable';
  version: string;
  uptime_seconds: number;
  checks: { database: CheckBody; cache: CheckBody; queue: CheckBody; mail: CheckBody };
}

const check = (kind: string) => ({ status: 'up', kind, required: expect.any(Boolean), latency_ms: expect.any(Number) });

async function ready(app: TestApp): Promise<{ statusCode: number; body: ReadyBody }> {
  const res = await app.server.inject({ method: 'GET', url: '/health/ready' });
  return { statusCode: res.statusCode, body: res.json<ReadyBody>() };
}

/** Polls /health/ready until it answers `status` (dependencies reconnect in the background). */
async function readyBecomes(app: TestApp, status: number, deadlineMs = 6_000): Promise<{ statusCode: number; body: ReadyBody }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const res = await ready(app);
    if (res.statusCode === status || Date.now() > deadline) return res;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One app for the suites that need no settings of their own (PGlite, in-process cache, no workers). */
let plain: TestApp;
beforeAll(async () => {
  plain = await createTestApp({ build: { workers: false } });
});
afterAll(async () => plain?.destroy());

describe('health on PGlite + in-process cache', () => {
  let app: TestApp;
  beforeAll(() => {
    app = plain;
  });

  it('live answers 200 {status: ok}', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('ready reports every dependency with its kind and latency, the version and the uptime', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      status: 'ready',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      uptime_seconds: expect.any(Number),
      checks: {
        database: { ...check('pglite'), required: true },
        cache: { ...check('memory'), required: true },
        queue: { ...check('pg-boss'), required: true },
        mail: { ...check('outbox'), required: false },
      },
    });
    expect(body.uptime_seconds).toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(!postgresUrl || !redisUrl)('health on PostgreSQL + Redis', () => {
  let app: TestApp;
  beforeAll(async () => {
    const cache = await createRedisCache(redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
    app = await createTestApp({ engine: 'postgres', build: { workers: false, cache } });
  });
  afterAll(async () => app?.destroy());

  it('ready reports postgres and redis', async () => {
    const res = await ready(app);
    expect(res.statusCode).toBe(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.checks.database).toEqual({ ...check('postgres'), required: true });
    expect(res.body.checks.cache).toEqual({ ...check('redis'), required: true });
    expect(res.body.checks.queue.status).toBe('up');
  });
});

describe.skipIf(!existsSync(REDIS_SERVER))('health when Redis stops and comes back', () => {
  let app: TestApp | undefined;
  let redis: SpawnedProcess | undefined;
  let port: number;
  let dir: string;

  async function startRedis(): Promise<SpawnedProcess> {
    const child = spawnTracked(REDIS_SERVER, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const deadline = Date.now() + 10_000;
    while (!child.stdout().includes('Ready to accept connections')) {
      if (child.exit() || Date.now() > deadline) throw new Error(`redis-server did not start:\n${child.stdout()}\n${child.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return child;
  }

  beforeAll(async () => {
    port = await freePort();
    dir = await tempDir('tessera-redis-');
    redis = await startRedis();
    const cache = await createRedisCache(`redis://127.0.0.1:${port}`, { prefix: 'test:' });
    app = await createTestApp({ build: { workers: false, cache } });
  });
  afterAll(async () => {
    try {
      await app?.destroy();
    } finally {
      await cleanupProcesses(); // the redis-server, whatever state the test left it in
    }
  });

  it('ready turns 503 with the cache down while live stays 200, and recovers when Redis is back', async () => {
    const before = await ready(app!);
    expect(before.statusCode).toBe(200);
    expect(before.body.checks.cache).toMatchObject({ status: 'up', kind: 'redis' });

    await redis!.stop('SIGKILL');
    const down = await readyBecomes(app!, 503);
    expect(down.statusCode).toBe(503);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.cache).toMatchObject({ status: 'down', kind: 'redis', required: true, latency_ms: expect.any(Number) });
    expect(['unreachable', 'timeout']).toContain(down.body.checks.cache.error);
    // Nothing about where Redis lives leaks into the public report.
    expect(JSON.stringify(down.body)).not.toContain(String(port));
    expect(down.body.checks.database.status).toBe('up');
    const live = await app!.server.inject({ method: 'GET', url: '/health/live' });
    expect(live.statusCode).toBe(200);

    redis = await startRedis();
    const back = await readyBecomes(app!, 200, 6_000);
    expect(back.statusCode).toBe(200);
    expect(back.body.checks.cache.status).toBe('up');
  }, 30_000);
});

describe('/metrics without METRICS_TOKEN', () => {
  let app: TestApp;
  beforeAll(() => {
    app = plain;
  });

  it('answers 404 on the API port when no METRICS_TOKEN is set, as if there were no such route', async () => {
    for (const headers of [{}, { authorization: 'Bearer anything' }]) {
      const res = await app.server.inject({ method: 'GET', url: '/metrics', headers });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toContain(PROBLEM);
      expect(res.json()).toMatchObject({ status: 404, code: 'not_found' });
      expect(res.body).not.toContain('tessera_');
    }
    // Not a 405 that would confirm the path exists.
    expect((await app.server.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(404);
    expect((await app.server.inject({ method: 'GET', url: '/openapi.json' })).json().paths['/metrics']).toBeUndefined();
  });

  it('keeps health checks open', async () => {
    expect((await app.server.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.server.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  let app: TestApp;
  const authorization = 'Bearer m-token-1234';
  beforeAll(async () => {
    app = await createTestApp({ env: { METRICS_TOKEN: 'm-token-1234' }, build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('exposes request, latency, job and process metrics in Prometheus text to the bearer token', async () => {
    expect((await app.server.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    // A queued job (no workers here, so it stays queued) for the job gauge to count.
    await app.context.templates.create({ name: 'health.test', channel: 'email', locale: 'en', category: 'security', subject: 'Hello', html: null, text: 'Hello', variables: [] });
    await app.context.mail.send({ to: 'someone@example.com', template: 'health.test' });

    const res = await app.server.inject({ method: 'GET', url: '/metrics', headers: { authorization } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['cache-control']).toBe('no-store');
    const text = res.body;
    expect(text).toMatch(/^tessera_http_requests_total\{[^}]*route="\/health\/live"[^}]*\} 1$/m);
    expect(text).toMatch(/^tessera_http_request_duration_seconds_bucket\{[^}]*route="\/health\/live"[^}]*\} \d+$/m);
    expect(text).toContain('# HELP tessera_jobs ');
    expect(text).toMatch(/^tessera_jobs\{queue="communications\.deliver",state="created"\} 1$/m);
    expect(text).toMatch(/^tessera_process_cpu_user_seconds_total \d/m);
  });

  it('refuses without a token with a 401 problem', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(res.body).not.toContain('tessera_');
  });

  it('refuses a wrong token, and a right token sent another way than Bearer', async () => {
    for (const wrong of ['Bearer m-token-1235', 'Bearer m-token-123', 'Bearer ', 'Bearer  m-token-1234', 'Basic m-token-1234', 'm-token-1234']) {
      const res = await app.server.inject({ method: 'GET', url: '/metrics', headers: { authorization: wrong } });
      expect(res.statusCode, wrong).toBe(401);
      expect(res.json().code).toBe('unauthorized');
    }
  });

  it('keeps health checks open', async () => {
    expect((await app.server.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.server.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});

describe('METRICS_LISTEN: a separate loopback listener', () => {
  let app: TestApp | undefined;
  let port: number;
  const url = (path = '/metrics') => `http://127.0.0.1:${port}${path}`;
  beforeAll(async () => {
    port = await freePort();
    app = await createTestApp({ env: { METRICS_LISTEN: `127.0.0.1:${port}` }, build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('serves metrics on its loopback port without a token while the API port answers 404', async () => {
    expect((await app!.server.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const res = await httpGet(url());
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/^tessera_http_requests_total\{[^}]*route="\/health\/live"[^}]*\} \d+$/m);
    expect((await app!.server.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('answers nothing but GET /metrics, with problems', async () => {
    const other = await httpGet(url('/health/live'));
    expect(other.status).toBe(404);
    expect(other.headers['content-type']).toContain(PROBLEM);
    expect(other.json()).toMatchObject({ status: 404, code: 'not_found' });
    const posted = await new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
      const req = httpRequest(url(), { method: 'POST', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow }));
      });
      req.on('error', reject);
      req.end('x');
    });
    expect(posted).toEqual({ status: 405, allow: 'GET, HEAD' });
  });

  it('stops listening when the app closes', async () => {
    await app!.destroy();
    app = undefined;
    await expect(httpGet(url(), { timeoutMs: 2_000 })).rejects.toThrow();
  });
});

describe('METRICS_LISTEN with METRICS_TOKEN', () => {
  let app: TestApp;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    app = await createTestApp({ env: { METRICS_LISTEN: `127.0.0.1:${port}`, METRICS_TOKEN: 'm-token-5678' }, build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('asks the listener for the token too, and the API port serves it to the token', async () => {
    const without = await httpGet(`http://127.0.0.1:${port}/metrics`);
    expect(without.status).toBe(401);
    expect(without.headers['www-authenticate']).toBe('Bearer');
    expect(without.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    expect((await httpGet(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer m-token-5679' } })).status).toBe(401);
    const right = await httpGet(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer m-token-5678' } });
    expect(right.status).toBe(200);
    expect(right.body).toContain('tessera_http_requests_total');
    const api = await app.server.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer m-token-5678' } });
    expect(api.statusCode).toBe(200);
  });
});

describe('METRICS_LISTEN configuration', () => {
  const env = (value: string) => ({ TESSERA_SECRET: TEST_SECRET, METRICS_LISTEN: value });

  it('takes host:port on a loopback address', () => {
    expect(loadConfig(env('127.0.0.1:9464')).metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadConfig(env('127.0.0.2:9464')).metricsListen).toEqual({ host: '127.0.0.2', port: 9464 });
    expect(loadConfig(env('[::1]:9464')).metricsListen).toEqual({ host: '::1', port: 9464 });
    expect(loadConfig(env('[0:0:0:0:0:0:0:1]:9464')).metricsListen).toEqual({ host: '0:0:0:0:0:0:0:1', port: 9464 });
    expect(loadConfig(env('localhost:9464')).metricsListen).toEqual({ host: 'localhost', port: 9464 });
    expect(loadConfig({ TESSERA_SECRET: TEST_SECRET }).metricsListen).toBeUndefined();
  });

  it('refuses an address other than loopback, and what is not host:port', () => {
    for (const value of ['0.0.0.0:9464', '10.0.0.5:9464', '[::]:9464', '[::2]:9464', 'metrics.example.com:9464']) {
      expect(() => loadConfig(env(value)), value).toThrow(/METRICS_LISTEN: must be a loopback address/);
    }
    for (const value of ['9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:9464', 'http://127.0.0.1:9464']) {
      expect(() => loadConfig(env(value)), value).toThrow(/METRICS_LISTEN: expected host:port/);
    }
  });
});
