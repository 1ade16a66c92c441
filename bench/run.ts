/**
 * `npm run bench`: starts the server as a child process on 127.0.0.1 with a fresh embedded
 * database (rate limiting off), load-tests each scenario at each of its connection counts, prints
 * one summary line per run and writes them all as one JSON array to
 * `bench/results/run-<timestamp>.json` and `bench/results/latest.json` (baseline.json is never
 * touched).
 *
 * Scenarios:
 * - `GET /health/live`: the floor (autocannon, BENCH_CONNECTIONS connections, default 50).
 * - `POST /v1/auth/login`: bound by argon2id; also measures the mean time of one `hashPassword()`
 *   in this process (`argon2_ms_per_hash`), with the server idle.
 * - `POST /v1/auth/refresh`: refresh-token rotation. Every request must present the token the
 *   previous response of its chain returned (a reused one revokes the session), which autocannon's
 *   per-connection context cannot carry across requests (it resets it after each pass over
 *   `requests`), so this one runs on N hand-written keep-alive workers, one session each.
 * - `GET /v1/me` with a bearer token.
 * - `GET /v1/orgs/{id}/members?limit=50`: an org-scoped permission check plus a page of members,
 *   as user 0 (the owner) of an organization of 1,000 members, among 100 organizations. These are
 *   seeded straight into the embedded database (in DATA_DIR/pglite, migrated first) before the
 *   server starts: 1,000 verified users sharing one argon2id hash, the target organization with all
 *   of them, and 99 more organizations of 10 members each.
 * - Webhook fan-out: BENCH_WEBHOOK_EVENTS (default 10,000) organization changes, each delivered to
 *   10 endpoints on loopback: deliveries per second and the delay from commit to delivery.
 * - OpenID provider: client-credentials tokens per second (`oidc-cc`: an m2m application's JWT for a
 *   resource) and the authorization-code exchange per second (`oidc-code`: codes issued untimed to a
 *   signed-in person before each run, then redeemed with PKCE and client_secret_basic).
 * The login, refresh, me, members and OpenID scenarios run at 1, 10 and 100 connections.
 *
 * Each engine in turn (BENCH_ENGINES: embedded, postgres; by default embedded, and PostgreSQL + Redis
 * when both answer): ready time, idle RSS and CPU, then the scenarios (server CPU per request and RSS
 * per run), then the peak RSS.
 *
 * Environment: BENCH_DURATION (seconds per run; default 10 for /health/live, 5 for the others),
 * BENCH_CONNECTIONS (connections of /health/live, default 50), BENCH_ONLY (comma-separated keys or
 * parts of scenario names, e.g. `refresh,me,members`, to run only those).
 * Exits non-zero when the server does not start, or when a run saw errors, non-2xx responses or
 * no response at all (the results are still written).
 *
 * Only ever targets 127.0.0.1: the server it starts itself, bound to that address.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { configDocs } from '../src/config/index.js';
import { hashPassword } from '../src/platform/crypto/passwords.js';
import { newId } from '../src/platform/crypto/ids.js';
import { createPgliteDatabase, createPostgresDatabase } from '../src/platform/db/database.js';
import { probeServices } from '../test/helpers/services.js';
import { users } from '../src/modules/accounts/accounts.tables.js';
import { orgMembers, organizations } from '../src/modules/orgs/orgs.tables.js';

/** What one run measured, whichever client drove it. */
interface Measurement {
  duration_seconds: number;
  requests_total: number;
  /** Mean completed requests per second over the run. */
  requests_per_second: number;
  latency_ms: { average: number; p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non_2xx: number;
  /** `autocannon`, or `workers` (hand-written keep-alive loops, for request chains). */
  client: 'autocannon' | 'workers';
}

interface BenchResult extends Measurement {
  name: string;
  connections: number;
  date: string;
  node: string;
  git_commit: string | null;
  /** Login only: mean milliseconds of one `hashPassword()` in the bench process, server idle. */
  argon2_ms_per_hash?: number;
  engine: Engine['name'];
  /** Server CPU (user + system) over the run divided by the requests it completed. */
  server_cpu_ms_per_request: number;
  /** The server's resident memory at the end of the run. */
  rss_mib: number;
}

/** The server process of one engine: how fast it became ready, what it holds idle, its peak. */
interface ServerFigures {
  name: 'server';
  engine: Engine['name'];
  date: string;
  node: string;
  git_commit: string | null;
  /** From spawn to the first 200 of /health/ready. */
  ready_ms: number;
  /** Resident memory 5 s after ready, before any scenario. */
  idle_rss_mib: number;
  /** CPU used over those 5 idle seconds, in percent of one core. */
  idle_cpu_percent: number;
  /** The highest resident memory of the whole run (VmHWM). */
  peak_rss_mib: number;
}

/** Where the benchmarked server keeps its data: embedded (PGlite, in-process cache) or PostgreSQL + Redis. */
interface Engine {
  name: 'embedded' | 'postgres';
  dataDir: string;
  /** PostgreSQL + Redis: the database made for this run, and Redis. */
  databaseUrl?: string;
  redisUrl?: string;
}

/** A scenario once its fixtures exist on the server: runs it at a given number of connections. */
interface Prepared {
  /** Untimed work before each run (outside its CPU and time figures). */
  before?(connections: number): Promise<void>;
  run(connections: number, duration: number): Promise<Measurement>;
  extra?: Pick<BenchResult, 'argon2_ms_per_hash'>;
}

interface Scenario {
  /** Shown in output and stored as `name`. */
  readonly name: string;
  /** One run per entry. */
  readonly connections: readonly number[];
  /** Seconds per run unless BENCH_DURATION says otherwise. */
  readonly duration: number;
  /** `GET /health/live` -> `health`; used by BENCH_ONLY. */
  readonly key: string;
  /** Writes fixtures straight into the engine's fresh database, before the server starts (optional). */
  seed?(engine: Engine): Promise<void>;
  /** Creates what the runs need (users, sessions) through the API. */
  prepare(server: BenchServer): Promise<Prepared>;
}

const HOST = '127.0.0.1';
/** The platform admin the server bootstraps for the run (a new password each run). */
const BENCH_ADMIN = { email: 'bench-admin@example.com', password: `bench admin ${randomBytes(12).toString('base64url')}` };
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
function serverEnv(port: number, engine: Engine): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const { name } of configDocs) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
  return {
    ...env,
    HOST,
    PORT: String(port),
    DATA_DIR: engine.dataDir,
    ...(engine.databaseUrl ? { DATABASE_URL: engine.databaseUrl } : {}),
    ...(engine.redisUrl ? { REDIS_URL: engine.redisUrl } : {}),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    TESSERA_SECRET: randomBytes(36).toString('base64url'), // 48 characters
    RATE_LIMIT_ENABLED: 'false',
    // The bench's users sign up through the API and sign in without following the verification mail.
    ALLOW_UNVERIFIED_LOGIN: 'true',
    // The webhook scenario's receivers listen on loopback, over http, with ten endpoints.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    // The OpenID scenarios register their applications as this platform admin.
    BOOTSTRAP_ADMIN_EMAIL: BENCH_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: BENCH_ADMIN.password,
    TIER_LIMITS: JSON.stringify({ free: { webhooks: null } }),
  };
}

interface RunningServer {
  readonly child: ChildProcess;
  /** Resolves with a description of how the process ended. */
  readonly exited: Promise<string>;
}

function startServer(port: number, engine: Engine): RunningServer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: serverEnv(port, engine),
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

/** The started server, for preparing fixtures through its API. */
interface BenchServer {
  readonly port: number;
  url(path: string): string;
  /** One JSON request (POST unless told), with a bearer token when given; throws unless the status is `expect`. */
  postJson<T = Record<string, unknown>>(path: string, body: unknown, expect: number, options?: { token?: string; method?: 'POST' | 'PUT' }): Promise<T>;
}

function benchServer(port: number): BenchServer {
  return {
    port,
    url: (path) => localUrl(port, path),
    async postJson(path, body, expect, options = {}) {
      const response = await fetch(localUrl(port, path), {
        method: options.method ?? 'POST',
        headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status !== expect) throw new Error(`POST ${path}: expected ${expect}, got ${response.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as never;
    },
  };
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** Signs a new user up through the API and returns its credentials. */
async function signUp(server: BenchServer, label: string): Promise<{ email: string; password: string }> {
  const credentials = { email: `bench-${label}@example.com`, password: `bench ${randomBytes(12).toString('base64url')}` };
  await server.postJson('/v1/auth/signup', credentials, 201);
  return credentials;
}

/** `count` sign-ins (each a new session), `parallel` at a time. */
async function logIn(server: BenchServer, credentials: { email: string; password: string }, count = 1, parallel = 8): Promise<Tokens[]> {
  const sessions: Tokens[] = [];
  for (let done = 0; done < count; done += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - done) }, () => server.postJson<Tokens>('/v1/auth/login', credentials, 200));
    sessions.push(...(await Promise.all(batch)));
  }
  return sessions;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** Mean milliseconds of one `hashPassword()` over `count` calls, after one to warm up. */
async function argon2MsPerHash(count = 20): Promise<number> {
  await hashPassword('warm-up password');
  const started = performance.now();
  for (let i = 0; i < count; i++) await hashPassword(`bench password ${i}`);
  return round2((performance.now() - started) / count);
}

async function autocannonRun(
  options: { url: string; method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  connections: number,
  duration: number,
): Promise<Measurement> {
  const result = await autocannon({ ...options, connections, duration });
  return {
    duration_seconds: result.duration,
    requests_total: result.requests.total,
    requests_per_second: result.requests.average,
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
    client: 'autocannon',
  };
}

/** The value at quantile `q` of ascending `sorted` (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const REQUEST_TIMEOUT_MS = 10_000; // autocannon's default

/** One POST on `agent`; resolves with the status and the body, rejects on network errors and timeouts. */
function post(agent: Agent, url: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'BENCH_TIMEOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `connections` workers on keep-alive connections for `duration` seconds (or until `send` has nothing
 * left: null), each sending one request after another and handing each 2xx body to `accept`. A worker
 * whose request fails (non-2xx, error) stops: the counts say so.
 */
async function timedWorkers(
  label: string,
  connections: number,
  duration: number,
  send: (agent: Agent, index: number) => Promise<{ status: number; body: string }> | null,
  accept: (index: number, body: string) => void = () => undefined,
): Promise<Measurement> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  let timeouts = 0;
  let non2xx = 0;
  const started = performance.now();
  const deadline = started + duration * 1000;
  let ended = started;
  const worker = async (index: number): Promise<void> => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const pending = send(agent, index);
      if (!pending) return;
      let answer: { status: number; body: string };
      try {
        answer = await pending;
      } catch (error) {
        errors++;
        if ((error as { code?: string }).code === 'BENCH_TIMEOUT') timeouts++;
        return;
      }
      ended = performance.now();
      latencies.push(ended - sent);
      if (answer.status < 200 || answer.status > 299) {
        non2xx++;
        console.error(`bench: ${label} ${index} broke: ${answer.status} ${answer.body.slice(0, 200)}`);
        return;
      }
      accept(index, answer.body);
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, (_, index) => worker(index)));
  } finally {
    agent.destroy();
  }
  const elapsed = (Math.max(ended, Math.min(performance.now(), deadline)) - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    duration_seconds: round2(elapsed),
    requests_total: sorted.length,
    requests_per_second: round2(sorted.length / elapsed),
    latency_ms: {
      average: round2(sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length)),
      p50: round2(quantile(sorted, 0.5)),
      p90: round2(quantile(sorted, 0.9)),
      p99: round2(quantile(sorted, 0.99)),
      max: round2(sorted.at(-1) ?? 0),
    },
    errors,
    timeouts,
    non_2xx: non2xx,
    client: 'workers',
  };
}

/**
 * Refresh rotation on `connections` keep-alive connections for `duration` seconds: worker i sends
 * chain i's current refresh token and keeps the one the answer returns, so no token is ever
 * presented twice (the chains carry over to the next run). A chain that breaks stops its worker.
 */
async function refreshChains(server: BenchServer, chains: string[], connections: number, duration: number): Promise<Measurement> {
  if (chains.length < connections) throw new Error(`refresh: ${connections} connections need as many sessions, there are ${chains.length}`);
  const url = server.url('/v1/auth/refresh');
  return timedWorkers(
    'refresh chain',
    connections,
    duration,
    (agent, index) => post(agent, url, JSON.stringify({ refresh_token: chains[index] })),
    (index, body) => (chains[index] = (JSON.parse(body) as Tokens).refresh_token),
  );
}

const LEVELS = [1, 10, 100] as const;

const SEED_USERS = 1_000;
const SEED_ORGS = 100;
/** Members of each organization other than the target (drawn from the same users). */
const SEED_MEMBERS_PER_OTHER_ORG = 10;
const SEED_BATCH = 500;

/** What `seedMembers` wrote: the target organization and its owner's credentials. */
interface MembersFixture {
  orgId: string;
  owner: { email: string; password: string };
}

/**
 * Seeds the embedded database the server will open (`DATA_DIR/pglite`, see `openDatabase`):
 * migrates it, then inserts SEED_USERS verified users (one shared argon2id hash), SEED_ORGS
 * organizations, the first with every user as a member (user 0 the owner), the others with
 * SEED_MEMBERS_PER_OTHER_ORG members each. Closes it before the server starts.
 */
async function seedMembers(engine: Engine): Promise<MembersFixture> {
  const started = performance.now();
  const password = `bench ${randomBytes(12).toString('base64url')}`;
  const passwordHash = await hashPassword(password);
  const db = engine.databaseUrl ? createPostgresDatabase({ url: engine.databaseUrl }) : await createPgliteDatabase({ dataDir: join(engine.dataDir, 'pglite') });
  try {
    await db.migrate();
    const userRows = Array.from({ length: SEED_USERS }, (_, n) => ({
      id: newId('usr'),
      email: `bench-${n}@example.test`,
      emailVerified: true,
      passwordHash,
    }));
    const orgRows = Array.from({ length: SEED_ORGS }, (_, n) => ({ id: newId('org'), slug: `bench-org-${n}`, name: `Bench org ${n}` }));
    const memberRows: (typeof orgMembers.$inferInsert)[] = userRows.map((user, n) => ({ orgId: orgRows[0]!.id, userId: user.id, role: n === 0 ? 'owner' : 'member' }));
    for (let o = 1; o < orgRows.length; o++) {
      for (let m = 0; m < SEED_MEMBERS_PER_OTHER_ORG; m++) {
        // Distinct users within an organization; the first of each is its owner.
        const user = userRows[((o - 1) * SEED_MEMBERS_PER_OTHER_ORG + m) % userRows.length]!;
        memberRows.push({ orgId: orgRows[o]!.id, userId: user.id, role: m === 0 ? 'owner' : 'member' });
      }
    }
    const insertAll = async <T>(rows: T[], insert: (batch: T[]) => Promise<unknown>): Promise<void> => {
      for (let i = 0; i < rows.length; i += SEED_BATCH) await insert(rows.slice(i, i + SEED_BATCH));
    };
    await db.transaction(async (tx) => {
      await insertAll(userRows, (batch) => tx.orm.insert(users).values(batch));
      await insertAll(orgRows, (batch) => tx.orm.insert(organizations).values(batch));
      await insertAll(memberRows, (batch) => tx.orm.insert(orgMembers).values(batch));
    });
    console.log(
      `bench: seeded ${userRows.length} users, ${orgRows.length} organizations, ${memberRows.length} memberships ` +
        `in ${Math.round(performance.now() - started)} ms`,
    );
    return { orgId: orgRows[0]!.id, owner: { email: userRows[0]!.email, password } };
  } finally {
    await db.close();
  }
}

function scenarios(options: { healthConnections: number; argon2MsPerHash: () => number }): Scenario[] {
  return [
    {
      name: 'GET /health/live',
      key: 'health',
      connections: [options.healthConnections],
      duration: 10,
      prepare: async (server) => ({ run: (connections, duration) => autocannonRun({ url: server.url('/health/live'), method: 'GET' }, connections, duration) }),
    },
    {
      name: 'POST /v1/auth/login',
      key: 'login',
      connections: LEVELS,
      duration: 5,
      async prepare(server) {
        const credentials = await signUp(server, 'login');
        await logIn(server, credentials); // fails here, clearly, if the flow is broken
        const target = { url: server.url('/v1/auth/login'), method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) };
        return { run: (connections, duration) => autocannonRun(target, connections, duration), extra: { argon2_ms_per_hash: options.argon2MsPerHash() } };
      },
    },
    {
      name: 'POST /v1/auth/refresh',
      key: 'refresh',
      connections: LEVELS,
      duration: 5,
      async prepare(server) {
        // One session per connection of the largest run; each later run carries the chains on.
        const chains = (await logIn(server, await signUp(server, 'refresh'), Math.max(...LEVELS))).map((tokens) => tokens.refresh_token);
        return { run: (connections, duration) => refreshChains(server, chains, connections, duration) };
      },
    },
    {
      name: 'GET /v1/me',
      key: 'me',
      connections: LEVELS,
      duration: 5,
      async prepare(server) {
        const [tokens] = await logIn(server, await signUp(server, 'me'));
        const target = { url: server.url('/v1/me'), method: 'GET' as const, headers: { authorization: `Bearer ${tokens!.access_token}` } };
        return { run: (connections, duration) => autocannonRun(target, connections, duration) };
      },
    },
    membersScenario(),
    webhookScenario(),
    clientCredentialsScenario(),
    codeExchangeScenario(),
  ];
}

const BENCH_RESOURCE = 'https://bench.example.com/api';
const BENCH_CALLBACK = 'http://127.0.0.1:9/callback';

/** An OpenID application registered by the bench's platform admin (and, for m2m, granted the bench resource). */
async function registerApplication(server: BenchServer, body: Record<string, unknown>): Promise<{ client_id: string; client_secret: string }> {
  const [tokens] = await logIn(server, BENCH_ADMIN);
  const token = tokens!.access_token;
  const app = await server.postJson<{ client_id: string; client_secret: string }>('/v1/admin/applications', body, 201, { token });
  if (body.type === 'm2m') {
    await server.postJson('/v1/admin/resources', { indicator: BENCH_RESOURCE, name: 'Bench API', scopes: [{ name: 'bench:read' }] }, 201, { token });
    await server.postJson(`/v1/admin/applications/${app.client_id}/grants`, { grants: [{ resource: BENCH_RESOURCE, scopes: ['bench:read'] }] }, 200, { token, method: 'PUT' });
  }
  return app;
}

const basicAuth = (app: { client_id: string; client_secret: string }): string => `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`;

/** Client credentials: an m2m application's access token (a signed JWT for the bench resource) per request. */
function clientCredentialsScenario(): Scenario {
  return {
    name: 'POST /oauth/token (client credentials)',
    key: 'oidc-cc',
    connections: LEVELS,
    duration: 5,
    async prepare(server) {
      const app = await registerApplication(server, { name: 'Bench m2m', type: 'm2m' });
      const target = {
        url: server.url('/oauth/token'),
        method: 'POST' as const,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(app) },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: BENCH_RESOURCE, scope: 'bench:read' }).toString(),
      };
      const check = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body, signal: AbortSignal.timeout(30_000) });
      if (check.status !== 200) throw new Error(`client credentials: expected 200, got ${check.status}: ${(await check.text()).slice(0, 300)}`);
      return { run: (connections, duration) => autocannonRun(target, connections, duration) };
    },
  };
}

/** A cookie jar of one browser on the benchmarked server (enough for a sign-in and the provider's session). */
function cookieJar() {
  const jar = new Map<string, string>();
  return {
    header: () => [...jar].map(([name, value]) => `${name}=${value}`).join('; '),
    get: (name: string) => jar.get(name),
    keep(response: Response) {
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0]!;
        const at = pair.indexOf('=');
        const value = pair.slice(at + 1);
        if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) jar.delete(pair.slice(0, at));
        else jar.set(pair.slice(0, at), value);
      }
    },
  };
}

const CODE_POOL = 2_500;

/**
 * The code-for-token exchange of a confidential client (authorization code + PKCE): before each run,
 * CODE_POOL codes are issued to a signed-in person (prompt=none, untimed), then the workers redeem
 * them, one request each, until the time is up or the pool is empty.
 */
function codeExchangeScenario(): Scenario {
  return {
    name: 'POST /oauth/token (authorization code)',
    key: 'oidc-code',
    connections: LEVELS,
    duration: 5,
    async prepare(server) {
      const app = await registerApplication(server, { name: 'Bench web', type: 'web', first_party: true, redirect_uris: [BENCH_CALLBACK] });
      const credentials = await signUp(server, 'oidc');
      const jar = cookieJar();
      const send = async (path: string, init: RequestInit = {}): Promise<Response> => {
        const headers = new Headers(init.headers);
        headers.set('cookie', jar.header());
        const csrf = jar.get('tessera_csrf');
        if (init.method === 'POST' && csrf) headers.set('x-csrf-token', csrf);
        const response = await fetch(new URL(path, server.url('/')), { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
        jar.keep(response);
        return response;
      };
      const json = { 'content-type': 'application/json' };
      const signedIn = await send('/v1/auth/login', { method: 'POST', headers: json, body: JSON.stringify({ ...credentials, use_cookie: true }) });
      if (signedIn.status !== 200) throw new Error(`code exchange: sign-in answered ${signedIn.status}`);
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const authorize = (prompt: string) =>
        `/oauth/authorize?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', scope: 'openid', redirect_uri: BENCH_CALLBACK, code_challenge: challenge, code_challenge_method: 'S256', prompt }).toString()}`;
      const codeFrom = (response: Response): string => {
        const code = new URL(response.headers.get('location') ?? '', 'http://x').searchParams.get('code');
        if (!code) throw new Error(`code exchange: no code in ${response.status} ${response.headers.get('location')}`);
        return code;
      };
      // The first authorization goes through the login step (as the hosted page does), making the provider's session.
      const toPage = await send(authorize('login'));
      const uid = /\/authorize\/([\w-]+)$/.exec(toPage.headers.get('location') ?? '')?.[1];
      if (!uid) throw new Error(`code exchange: expected the interaction page, got ${toPage.status} ${toPage.headers.get('location')}`);
      const step = await send(`/v1/oidc/interactions/${uid}/login`, { method: 'POST', headers: json, body: '{}' });
      if (step.status !== 200) throw new Error(`code exchange: login step answered ${step.status}: ${(await step.text()).slice(0, 300)}`);
      codeFrom(await send(((await step.json()) as { redirect_to: string }).redirect_to));
      const tokenUrl = server.url('/oauth/token');
      const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(app) };
      const form = (code: string) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: BENCH_CALLBACK, code_verifier: verifier }).toString();
      const pool: string[] = [];
      return {
        async before() {
          pool.length = 0;
          while (pool.length < CODE_POOL) pool.push(...(await Promise.all(Array.from({ length: 16 }, async () => codeFrom(await send(authorize('none')))))));
        },
        run(connections, duration) {
          return timedWorkers('code exchange', connections, duration, (agent) => {
            const code = pool.pop();
            return code ? post(agent, tokenUrl, form(code), headers) : null;
          });
        },
      };
    },
  };
}

const WEBHOOK_ENDPOINTS = 10;

/**
 * Webhook fan-out: BENCH_WEBHOOK_EVENTS (default 10,000) committed changes (PATCH of an
 * organization, `connections` at a time), each delivered to 10 endpoints on loopback receivers
 * that answer 204 at once. `requests_per_second` is deliveries per second from the first change
 * to the last delivery; `latency_ms` is the delay from the event's commit (its `timestamp`) to
 * its arrival at a receiver. Fails (non_2xx) when a delivery is missing or arrives twice.
 */
function webhookScenario(): Scenario {
  return {
    name: 'webhook fan-out (10 endpoints)',
    key: 'webhooks',
    connections: [10],
    duration: 0,
    async prepare(server) {
      const events = positiveIntegerFromEnv('BENCH_WEBHOOK_EVENTS', 10_000);
      const [tokens] = await logIn(server, await signUp(server, 'webhooks'));
      const headers = { authorization: `Bearer ${tokens!.access_token}`, 'content-type': 'application/json' };
      const org = (await (await fetch(server.url('/v1/orgs'), { method: 'POST', headers, body: JSON.stringify({ name: 'Bench' }) })).json()) as { id: string };
      const arrivals = new Map<string, number[]>();
      const receivers = await Promise.all(
        Array.from({ length: WEBHOOK_ENDPOINTS }, () =>
          new Promise<HttpServer>((resolve) => {
            const receiver = createHttpServer((req, res) => {
              const chunks: Buffer[] = [];
              req.on('data', (chunk: Buffer) => chunks.push(chunk));
              req.on('end', () => {
                const body = JSON.parse(Buffer.concat(chunks).toString()) as { timestamp: string };
                const key = `${req.headers['webhook-id']}@${req.url}`;
                arrivals.set(key, [...(arrivals.get(key) ?? []), Date.now() - Date.parse(body.timestamp)]);
                res.writeHead(204).end();
              });
            });
            receiver.listen(0, HOST, () => resolve(receiver));
          }),
        ),
      );
      for (const [index, receiver] of receivers.entries()) {
        const { port } = receiver.address() as { port: number };
        const created = await fetch(server.url(`/v1/orgs/${org.id}/webhooks`), {
          method: 'POST', headers, body: JSON.stringify({ url: `http://${HOST}:${port}/r${index}`, event_types: ['org.updated'] }),
        });
        if (created.status !== 201) throw new Error(`creating a webhook endpoint: ${created.status} ${await created.text()}`);
      }
      return {
        async run(connections) {
          const started = performance.now();
          let next = 0;
          let errors = 0;
          const worker = async (): Promise<void> => {
            while (next < events) {
              const index = next++;
              const answer = await fetch(server.url(`/v1/orgs/${org.id}`), { method: 'PATCH', headers, body: JSON.stringify({ name: `Bench ${index}` }) }).catch(() => null);
              if (answer?.status !== 200) errors++;
              await answer?.arrayBuffer();
            }
          };
          await Promise.all(Array.from({ length: connections }, worker));
          const expected = (events - errors) * WEBHOOK_ENDPOINTS;
          const deadline = Date.now() + 30 * 60_000;
          let received = 0;
          while (Date.now() < deadline) {
            received = [...arrivals.values()].reduce((sum, list) => sum + list.length, 0);
            if (received >= expected) break;
            await sleep(200);
          }
          const elapsed = (performance.now() - started) / 1000;
          await Promise.all(receivers.map((receiver) => new Promise((resolve) => receiver.close(resolve))));
          const delays = [...arrivals.values()].map((list) => list[0]!).sort((a, b) => a - b);
          const duplicates = [...arrivals.values()].filter((list) => list.length > 1).length;
          return {
            duration_seconds: round2(elapsed),
            requests_total: delays.length,
            requests_per_second: round2(delays.length / elapsed),
            latency_ms: {
              average: round2(delays.reduce((sum, value) => sum + value, 0) / Math.max(1, delays.length)),
              p50: round2(quantile(delays, 0.5)), p90: round2(quantile(delays, 0.9)), p99: round2(quantile(delays, 0.99)), max: round2(delays.at(-1) ?? 0),
            },
            errors,
            timeouts: 0,
            non_2xx: Math.max(0, expected - delays.length) + duplicates,
            client: 'workers',
          };
        },
      };
    },
  };
}

function membersScenario(): Scenario {
  let fixture: MembersFixture | undefined;
  return {
    name: 'GET /v1/orgs/{id}/members (1,000 members, 100 orgs)',
    key: 'members',
    connections: LEVELS,
    duration: 5,
    async seed(engine) {
      fixture = await seedMembers(engine);
    },
    async prepare(server) {
      if (!fixture) throw new Error('members: the database was not seeded');
      const [tokens] = await logIn(server, fixture.owner);
      const path = `/v1/orgs/${fixture.orgId}/members?limit=50`;
      const target = { url: server.url(path), method: 'GET' as const, headers: { authorization: `Bearer ${tokens!.access_token}` } };
      // Fails here, clearly, if the seeded organization is not what the server sees.
      const check = await fetch(target.url, { headers: target.headers, signal: AbortSignal.timeout(30_000) });
      const body = (await check.json()) as { data?: unknown[] };
      if (check.status !== 200 || !Array.isArray(body.data) || body.data.length !== 50) {
        throw new Error(`GET ${path}: expected 200 with 50 members, got ${check.status}: ${JSON.stringify(body).slice(0, 300)}`);
      }
      return { run: (connections, duration) => autocannonRun(target, connections, duration) };
    },
  };
}

const IDLE_SECONDS = 5;
/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU milliseconds (user + system) the process has used so far (Linux /proc). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** A memory figure of /proc/<pid>/status (VmRSS now, VmHWM the peak) in MiB. */
function memoryMib(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return round2(Number(kib ?? 0) / 1024);
}

/**
 * The engines to measure: BENCH_ENGINES (`embedded`, `postgres`, or both comma-separated); by default
 * embedded, and PostgreSQL + Redis too when both answer (TEST_DATABASE_URL / TEST_REDIS_URL, or the
 * local defaults).
 */
async function benchEngines(): Promise<Engine['name'][]> {
  const asked = (process.env.BENCH_ENGINES ?? '').split(',').map((part) => part.trim()).filter(Boolean);
  for (const name of asked) if (name !== 'embedded' && name !== 'postgres') throw new Error(`BENCH_ENGINES: unknown engine ${JSON.stringify(name)} (embedded, postgres)`);
  const services = await probeServices();
  const available = Boolean(services.postgresUrl && services.redisUrl);
  if (asked.includes('postgres') && !available) throw new Error('BENCH_ENGINES=postgres: PostgreSQL or Redis does not answer');
  if (asked.length > 0) return asked as Engine['name'][];
  if (!available) console.log('bench: PostgreSQL + Redis do not answer: embedded only');
  return available ? ['embedded', 'postgres'] : ['embedded'];
}

/** A fresh data directory, and for PostgreSQL a database of its own (dropped at the end). */
async function prepareEngine(name: Engine['name'], cleanups: (() => Promise<void>)[]): Promise<Engine> {
  const dataDir = await mkdtemp(join(tmpdir(), `tessera-bench-${name}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  if (name === 'embedded') return { name, dataDir };
  const services = await probeServices();
  const admin = new URL(services.postgresUrl!);
  const database = `tessera_bench_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.href });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${database}`);
  cleanups.push(() => run(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  const url = new URL(admin.href);
  url.pathname = `/${database}`;
  return { name, dataDir, databaseUrl: url.href, redisUrl: services.redisUrl! };
}

function problems(result: BenchResult): string[] {
  const found: string[] = [];
  if (result.requests_total === 0) found.push('no request completed');
  if (result.errors > 0) found.push(`${result.errors} errors (${result.timeouts} timeouts)`);
  if (result.non_2xx > 0) found.push(`${result.non_2xx} non-2xx responses`);
  return found;
}

function summary(result: BenchResult): string {
  const cpu = `, ${result.server_cpu_ms_per_request} ms CPU/req, ${result.rss_mib} MiB`;
  const unit = result.name === 'POST /v1/auth/login' ? 'logins/s' : 'req/s';
  const { latency_ms: latency } = result;
  const argon2 = result.argon2_ms_per_hash === undefined ? '' : `, argon2 ${result.argon2_ms_per_hash} ms/hash`;
  return (
    `[${result.engine}] ${result.name.padEnd(22)} ${String(result.connections).padStart(3)} conn: ${result.requests_per_second.toFixed(0).padStart(6)} ${unit}, ` +
    `p50 ${latency.p50} ms, p99 ${latency.p99} ms, ${result.non_2xx} non-2xx, ${result.errors} errors${argon2}${cpu}`
  );
}

async function main(): Promise<number> {
  const durationOverride = process.env.BENCH_DURATION ? positiveIntegerFromEnv('BENCH_DURATION', 10) : undefined;
  const healthConnections = positiveIntegerFromEnv('BENCH_CONNECTIONS', 50);
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((part) => part.trim().toLowerCase()).filter(Boolean);
  let argon2 = Number.NaN;
  const selected = scenarios({ healthConnections, argon2MsPerHash: () => argon2 }).filter(
    (scenario) => only.length === 0 || only.some((part) => scenario.key === part || scenario.name.toLowerCase().includes(part)),
  );
  if (selected.length === 0) throw new Error(`BENCH_ONLY=${JSON.stringify(process.env.BENCH_ONLY)} matches no scenario`);
  // Measured before the server starts, so nothing else competes for the CPU.
  if (selected.some((scenario) => scenario.key === 'login')) {
    argon2 = await argon2MsPerHash();
    console.log(`bench: argon2id hashPassword(): ${argon2} ms a hash (mean of 20, this process)`);
  }

  const commit = gitCommit();
  const engines = await benchEngines();
  const cleanups: (() => Promise<void>)[] = [];
  let server: RunningServer | undefined;

  const interrupt = (signal: NodeJS.Signals): void => {
    server?.child.kill('SIGTERM');
    void Promise.allSettled(cleanups.map((cleanup) => cleanup())).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const results: (BenchResult | ServerFigures)[] = [];
  const started = new Date();
  let failed = false;
  try {
    for (const kind of engines) {
      const engine = await prepareEngine(kind, cleanups);
      for (const scenario of selected) await scenario.seed?.(engine);
      const port = await freePort();
      console.log(`bench: [${engine.name}] starting the server on ${HOST}:${port}`);
      const spawned = performance.now();
      server = startServer(port, engine);
      await waitUntilReady(port, server);
      const readyMs = Math.round(performance.now() - spawned);
      const pid = server.child.pid!;
      // Idle: what the server holds and spends when nothing happens.
      const idleFrom = cpuMs(pid);
      await sleep(IDLE_SECONDS * 1000);
      const figures: ServerFigures = {
        name: 'server',
        engine: engine.name,
        date: new Date().toISOString(),
        node: process.version,
        git_commit: commit,
        ready_ms: readyMs,
        idle_rss_mib: memoryMib(pid, 'VmRSS'),
        idle_cpu_percent: round2(((cpuMs(pid) - idleFrom) / (IDLE_SECONDS * 1000)) * 100),
        peak_rss_mib: 0,
      };
      console.log(`bench: [${engine.name}] ready in ${readyMs} ms; idle: ${figures.idle_rss_mib} MiB, ${figures.idle_cpu_percent}% CPU`);
      const api = benchServer(port);

      for (const scenario of selected) {
        const prepared = await scenario.prepare(api);
        for (const connections of scenario.connections) {
          const duration = durationOverride ?? scenario.duration;
          await prepared.before?.(connections);
          const date = new Date();
          const cpuBefore = cpuMs(pid);
          const measured = await prepared.run(connections, duration);
          const result: BenchResult = {
            name: scenario.name,
            engine: engine.name,
            connections,
            date: date.toISOString(),
            node: process.version,
            git_commit: commit,
            ...measured,
            server_cpu_ms_per_request: round2((cpuMs(pid) - cpuBefore) / Math.max(1, measured.requests_total)),
            rss_mib: memoryMib(pid, 'VmRSS'),
            ...prepared.extra,
          };
          results.push(result);
          console.log(summary(result));
          const found = problems(result);
          if (found.length > 0) {
            failed = true;
            console.error(`bench: ${result.name} at ${connections} connections failed: ${found.join(', ')}`);
          }
        }
      }
      figures.peak_rss_mib = memoryMib(pid, 'VmHWM');
      results.push(figures);
      console.log(`bench: [${engine.name}] peak ${figures.peak_rss_mib} MiB`);
      await stopServer(server);
      server = undefined;
    }
  } finally {
    if (server) await stopServer(server);
    await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
    if (results.length > 0) {
      await mkdir(RESULTS_DIR, { recursive: true });
      const file = join(RESULTS_DIR, `run-${started.toISOString().replace(/:/g, '-')}.json`);
      const json = `${JSON.stringify(results, null, 2)}\n`;
      await writeFile(file, json);
      await writeFile(join(RESULTS_DIR, 'latest.json'), json);
      console.log(`bench: ${results.length} results -> ${file} (and latest.json)`);
    }
  }
  return failed ? 1 : 0;
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
