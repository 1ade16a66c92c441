import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where `src/main.ts` and `migrations/` are. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A TCP port nothing listens on right now (the OS picks it; closed again before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by `cleanupProcesses()`. */
export async function tempDir(prefix = 'tessera-proc-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * The environment of a child: only what a shell needs to run node, plus `env`. Nothing of the test
 * runner's own environment (NODE_ENV=test, VITEST_*, DATABASE_URL…) leaks into the server.
 */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...env };
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** The exit, once it happened. */
  exit(): Exit | undefined;
  /**
   * Sends `signal` and waits for the exit. When the process has not exited after `deadlineMs`, it is
   * killed with SIGKILL and this rejects: a graceful stop that hangs is a failure.
   */
  stop(signal?: NodeJS.Signals, deadlineMs?: number): Promise<Exit>;
  /** SIGKILL when still running; for clean-up. */
  kill(): Promise<void>;
}

const running = new Set<SpawnedProcess>();

/** Runs `node --import tsx src/main.ts` from the repository root with exactly `env` (see childEnv). */
export function spawnMain(env: Record<string, string>): SpawnedProcess {
  return spawnTracked(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env: childEnv(env) });
}

/** Spawns any command and tracks it, so `cleanupProcesses()` kills it if a test does not. */
export function spawnTracked(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): SpawnedProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': the output streams are complete by then.
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    child.once('error', (error) => {
      err.push(Buffer.from(`spawn error: ${error.message}\n`));
      exit = { code: null, signal: null };
      resolve(exit);
    });
  });
  const spawned: SpawnedProcess = {
    child,
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    exited,
    exit: () => exit,
    async stop(signal = 'SIGTERM', deadlineMs = 10_000) {
      if (exit) return exit;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), deadlineMs);
      });
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (result === 'late') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`process ${child.pid} did not exit within ${deadlineMs} ms of ${signal}\nstdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`);
      }
      return result;
    },
    async kill() {
      if (exit) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  running.add(spawned);
  void exited.then(() => running.delete(spawned));
  return spawned;
}

/** Kills every process spawned through this module that is still running, and removes temp dirs. */
export async function cleanupProcesses(): Promise<void> {
  await Promise.all([...running].map((spawned) => spawned.kill()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** One GET on its own connection (no pooling, so nothing lingers between tests). */
export function httpGet(url: string, options: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, headers: options.headers, timeout: options.timeoutMs ?? 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

export interface ServerProcess extends SpawnedProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** Parsed JSON log lines written to stdout so far. */
  logLines(): Record<string, unknown>[];
  /** Polls `/health/ready` until it answers 200 and returns that body; rejects at the deadline or when the process exits. */
  waitReady(deadlineMs?: number): Promise<Record<string, unknown>>;
}

/** Starts a server on `port` (a free one when not given) with exactly `env` plus PORT. */
export async function startServer(env: Record<string, string>, options: { port?: number } = {}): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const spawned = spawnMain({ ...env, PORT: String(port) });
  const baseUrl = `http://127.0.0.1:${port}`;
  const describe = (): string => `\nstdout:\n${spawned.stdout()}\nstderr:\n${spawned.stderr()}`;
  return {
    ...spawned,
    port,
    baseUrl,
    logLines() {
      return spawned
        .stdout()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    async waitReady(deadlineMs = 45_000) {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        const exit = spawned.exit();
        if (exit) throw new Error(`server exited (code ${exit.code}, signal ${exit.signal}) before it was ready${describe()}`);
        try {
          const res = await httpGet(`${baseUrl}/health/ready`, { timeoutMs: 3_000 });
          if (res.status === 200) return res.json();
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`server on port ${port} not ready within ${deadlineMs} ms${describe()}`);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    },
  };
}
