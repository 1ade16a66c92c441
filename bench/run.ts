/**
 * `npm run bench`: starts the server as a child process on 127.0.0.1 with a fresh embedded
 * database, load-tests each scenario with autocannon, prints one summary line per scenario and
 * writes the results as JSON to bench/results/ (`<scenario>-<timestamp>.json` and `latest.json`).
 *
 * Environment: BENCH_DURATION (seconds, default 10), BENCH_CONNECTIONS (default 50).
 * Exits non-zero when the server does not start, or when a scenario saw errors, non-2xx
 * responses or no response at all (its results are still written).
 *
 * Only ever targets 127.0.0.1: the server it starts itself, bound to that address.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { configDocs } from '../src/config/index.js';

interface Scenario {
  /** Shown in output and stored as `name`. */
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute path on the server, starting with a single `/`. */
  readonly path: string;
}

/** Add endpoints here. */
const SCENARIOS: readonly Scenario[] = [{ name: 'GET /health/live', method: 'GET', path: '/health/live' }];

interface BenchResult {
  name: string;
  date: string;
  node: string;
  connections: number;
  duration_seconds: number;
  requests_total: number;
  requests_per_second: { average: number; stddev: number; min: number; p2_5: number; p50: number; p97_5: number; max: number };
  latency_ms: { average: number; p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non_2xx: number;
  git_commit: string | null;
}

const HOST = '127.0.0.1';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

function gitCommit(): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim() || null;
  } catch {
    return null;
  }
}

/** A URL on the benchmarked server; refuses anything that would leave 127.0.0.1:port. */
function localUrl(port: number, path: string): string {
  const base = `http://${HOST}:${port}`;
  const url = new URL(path, base);
  if (!path.startsWith('/') || path.startsWith('//') || url.origin !== base) {
    throw new Error(`scenario path ${JSON.stringify(path)} must be a path on ${base}`);
  }
  return url.href;
}

/** The inherited environment without any Tessera setting, so the run is the same on every machine. */
function serverEnv(port: number, dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const { name } of configDocs) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
  return {
    ...env,
    HOST,
    PORT: String(port),
    DATA_DIR: dataDir,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    TESSERA_SECRET: randomBytes(36).toString('base64url'), // 48 characters
    RATE_LIMIT_ENABLED: 'false',
  };
}

interface RunningServer {
  readonly child: ChildProcess;
  /** Resolves with a description of how the process ended. */
  readonly exited: Promise<string>;
}

function startServer(port: number, dataDir: string): RunningServer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: serverEnv(port, dataDir),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not be started: ${error.message}`));
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
  });
  return { child, exited };
}

async function waitUntilReady(port: number, server: RunningServer): Promise<void> {
  const url = localUrl(port, '/health/ready');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ended: string | undefined;
  void server.exited.then((how) => (ended = how));
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (ended !== undefined) throw new Error(`the server ${ended} before it was ready`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

async function stopServer(server: RunningServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const how = await server.exited;
  clearTimeout(timer);
  if (how !== 'exited with code 0' && how !== 'was killed by SIGTERM') console.warn(`bench: the server ${how} on SIGTERM`);
}

async function runScenario(
  scenario: Scenario,
  port: number,
  options: { connections: number; duration: number; gitCommit: string | null },
): Promise<BenchResult> {
  const date = new Date();
  const result = await autocannon({
    url: localUrl(port, scenario.path),
    method: scenario.method,
    connections: options.connections,
    duration: options.duration,
  });
  return {
    name: scenario.name,
    date: date.toISOString(),
    node: process.version,
    connections: options.connections,
    duration_seconds: result.duration,
    requests_total: result.requests.total,
    requests_per_second: {
      average: result.requests.average,
      stddev: result.requests.stddev,
      min: result.requests.min,
      p2_5: result.requests.p2_5,
      p50: result.requests.p50,
      p97_5: result.requests.p97_5,
      max: result.requests.max,
    },
    latency_ms: {
      average: result.latency.average,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non_2xx: result.non2xx,
    git_commit: options.gitCommit,
  };
}

/** `GET /health/live` -> `health-live`; other methods are prefixed: `post-v1-sessions`. */
function fileSlug(scenario: Scenario): string {
  const path = scenario.path.replace(/\?.*$/, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'root';
  return scenario.method === 'GET' ? path : `${scenario.method.toLowerCase()}-${path}`;
}

function problems(result: BenchResult): string[] {
  const found: string[] = [];
  if (result.requests_total === 0) found.push('no request completed');
  if (result.errors > 0) found.push(`${result.errors} errors (${result.timeouts} timeouts)`);
  if (result.non_2xx > 0) found.push(`${result.non_2xx} non-2xx responses`);
  return found;
}

async function main(): Promise<number> {
  const duration = positiveIntegerFromEnv('BENCH_DURATION', 10);
  const connections = positiveIntegerFromEnv('BENCH_CONNECTIONS', 50);
  const commit = gitCommit();
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
  let server: RunningServer | undefined;

  const interrupt = (signal: NodeJS.Signals): void => {
    server?.child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    console.log(`bench: starting the server on ${HOST}:${port} (data in ${dataDir})`);
    server = startServer(port, dataDir);
    await waitUntilReady(port, server);

    const results: BenchResult[] = [];
    for (const scenario of SCENARIOS) {
      console.log(`bench: ${scenario.name}: ${connections} connections for ${duration} s`);
      results.push(await runScenario(scenario, port, { connections, duration, gitCommit: commit }));
    }

    await mkdir(RESULTS_DIR, { recursive: true });
    let failed = false;
    for (const [index, result] of results.entries()) {
      const scenario = SCENARIOS[index]!;
      const file = join(RESULTS_DIR, `${fileSlug(scenario)}-${result.date.replace(/:/g, '-')}.json`);
      await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
      const { requests_per_second: rps, latency_ms: latency } = result;
      console.log(
        `${result.name}: ${rps.average.toFixed(0)} req/s average, latency p50 ${latency.p50} ms, p99 ${latency.p99} ms, ` +
          `${result.errors} errors, ${result.non_2xx} non-2xx -> ${file}`,
      );
      const found = problems(result);
      if (found.length > 0) {
        failed = true;
        console.error(`bench: ${result.name} failed: ${found.join(', ')}`);
      }
    }
    // One scenario: latest.json is its result; several: the list of them.
    const latest = results.length === 1 ? results[0] : results;
    await writeFile(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(latest, null, 2)}\n`);
    return failed ? 1 : 0;
  } finally {
    if (server) await stopServer(server);
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
