import { fromPglite, PgBoss, type Db, type PGliteLike, type SendOptions } from 'pg-boss';
import type { Database, DbHandle } from '../db/database.js';

/**
 * The durable job queue: pg-boss 12 on the application's own database (PGlite or PostgreSQL), so a
 * job can be enqueued inside the business transaction that caused it and survives restarts.
 * pg-boss fetches with `FOR UPDATE SKIP LOCKED`, so with several instances each job runs once;
 * schedules live in the database, so a cron job fires once per slot across instances.
 * pg-boss 12 needs Node 22.12 or later; its schema (in `pgboss`) is installed or migrated by start().
 */
export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

export interface JobInfo<T = unknown> {
  id: string;
  name: string;
  state: JobState;
  data: T;
  retryCount: number;
  retryLimit: number;
  output: unknown;
  createdOn: Date;
  completedOn: Date | null;
}

export interface QueueOptions {
  /** Attempts after the first (default 5). */
  retryLimit?: number;
  /** Seconds before the first retry; doubled (with jitter) each time when retryBackoff (default 5 s, backoff on). */
  retryDelaySeconds?: number;
  retryBackoff?: boolean;
  /** A running job taking longer than this is failed and retried (default 5 min). */
  expireInSeconds?: number;
  /** Workers of this queue in this process (default 2). */
  concurrency?: number;
  /** Seconds between polls for new work (default 1, at least 0.5). */
  pollingIntervalSeconds?: number;
}

export interface JobContext {
  id: string;
  retryCount: number;
}

export type JobHandler<T> = (data: T, job: JobContext) => Promise<unknown>;

export interface EnqueueOptions {
  /**
   * Enqueue inside this transaction: the job exists only if the transaction commits. Inside a
   * transaction always pass it: on PGlite (one connection) an enqueue outside it would wait for the
   * transaction, which waits for the enqueue.
   */
  tx?: DbHandle;
  startAfterSeconds?: number;
  /** At most one queued (created or retry) job per key: enqueue throws when one is already queued. */
  singletonKey?: string;
}

export interface Jobs {
  /** Declares a queue and its handler. Call before start(). A failed job after its last retry moves to `<name>__dead`. */
  define<T extends object>(name: string, handler: JobHandler<T>, options?: QueueOptions): void;
  /** Runs `name` on a cron schedule (5 fields, UTC) from any one instance. Call before start(). */
  schedule(name: string, cron: string, data?: object): void;
  /** Needs start() first. */
  enqueue<T extends object>(name: string, data: T, options?: EnqueueOptions): Promise<string>;
  get<T = unknown>(name: string, id: string): Promise<JobInfo<T> | null>;
  /** The cron schedules stored in the database. */
  schedules(): Promise<{ name: string; cron: string }[]>;
  /** Jobs per queue and state, for metrics and the admin. */
  counts(): Promise<{ queue: string; state: JobState; count: number }[]>;
  /** Creates queues and schedules, starts the workers (unless workers: false). */
  start(options?: { workers?: boolean }): Promise<void>;
  /** Stops fetching and waits for running jobs, up to timeoutMs; jobs still running then are failed (and retried). */
  stop(timeoutMs?: number): Promise<void>;
  ping(): Promise<void>;
  onError(listener: (error: Error) => void): void;
}

export const DEAD_LETTER_SUFFIX = '__dead';

interface QueueDefinition {
  name: string;
  handler: JobHandler<object>;
  options: Required<QueueOptions>;
}

const DEFAULTS: Required<QueueOptions> = {
  retryLimit: 5,
  retryDelaySeconds: 5,
  retryBackoff: true,
  expireInSeconds: 300,
  concurrency: 2,
  pollingIntervalSeconds: 1,
};

/**
 * Finished jobs (completed, failed, cancelled) stay two weeks, then pg-boss's daily sweep deletes
 * them: get() answers for a job as long as it did with pg-boss 10 (a day in the job table, then two
 * weeks in its archive; pg-boss 11 dropped the archive).
 */
const KEEP_FINISHED_SECONDS = 14 * 24 * 3600;

type SqlResult = Awaited<ReturnType<Db['executeSql']>>;

/**
 * node-postgres answers a string of several statements with one result per statement. pg-boss 12
 * wants the rows of all of them, in order: its claims run as `BEGIN; …; SELECT pg_advisory_xact_lock(…);
 * <claim> RETURNING …; COMMIT` and read the rows from the middle (and check for the lock's row).
 */
function allRows(result: unknown): SqlResult {
  if (!Array.isArray(result)) return result as SqlResult;
  return { rows: result.flatMap((each: { rows?: unknown[] }) => each.rows ?? []) };
}

/** pg-boss statements on one of our handles: a caller's transaction, or the PostgreSQL pool. */
function handleDb(handle: DbHandle): Db {
  // Without parameters node-postgres uses the simple protocol, which takes several statements.
  // A script that fails inside its BEGIN leaves no aborted transaction behind on the pool:
  // pool.query() discards a client whose query failed.
  return { executeSql: async (text, values) => allRows(await handle.sql.query(text, values ?? [])) };
}

/**
 * pg-boss's own statements, on the instance's database. PGlite goes through pg-boss's PGlite
 * adapter: scripts through exec() with the rows of every statement, and a ROLLBACK after a failed
 * statement, so a script failing inside its BEGIN cannot leave the one connection, shared with
 * HTTP, in an aborted transaction. (Database.execScript() returns the last statement's rows only.)
 */
function instanceDb(db: Database, stopped: () => boolean): Db {
  let inner: Db;
  if (db.kind === 'pglite') {
    // The PGlite client behind the query builder, as dumpPglite() in database.ts reaches it.
    const client = (db.orm as unknown as { $client?: PGliteLike }).$client;
    if (typeof client?.exec !== 'function' || typeof client.query !== 'function') {
      throw new Error('jobs: no PGlite client behind this database');
    }
    inner = fromPglite(client);
  } else {
    inner = handleDb(db);
  }
  return {
    executeSql: (text, values) => {
      // After stop() nothing is written: the caller may close the pool next. pg-boss 10 completed a
      // job without awaiting it, so a job that outlived stop()'s timeout reported after the pool was
      // closed. pg-boss 12 settles what it fetched before stop() returns (a job still running at the
      // deadline is failed for a retry, and the handler's late result is dropped); in a test with
      // such a job nothing reached this point after stop(). So this is now a backstop for the
      // contract, at the cost of one check: whatever pg-boss might still have in flight answers
      // "no rows" instead of writing, or rejecting on a closed pool.
      if (stopped()) return Promise.resolve({ rows: [] });
      return inner.executeSql(text, values);
    },
  };
}

export function createJobs(db: Database, options: { schema?: string } = {}): Jobs {
  const schema = options.schema ?? 'pgboss';
  let stopped = false;
  const boss = new PgBoss({
    db: instanceDb(db, () => stopped),
    schema,
    backend: db.kind,
    // Background work, per instance, kept modest: on PGlite it shares one connection with HTTP.
    // - Cron: a pass every 30 s (as before) files the due slots as jobs of pg-boss's internal send-it
    //   queue, which forwards them to their queues. Schedules are minute-grained, so that queue is
    //   polled every 15 s rather than 5 s.
    cronMonitorIntervalSeconds: 30,
    cronWorkerIntervalSeconds: 15,
    // - Supervision keeps its defaults: once a minute (claimed by one instance) it fails jobs that
    //   outlived expireInSeconds and refreshes queue counts; retention sweeps once a day; the clock
    //   skew check every 10 min; the migration runner (BAM) looks for queued index builds once a minute.
    // - Flows (job dependencies) are not used here: their resolver's 5 s poll is slowed to 5 min.
    flowIntervalSeconds: 300,
    // - No instance registry: a row rewritten every 30 s per instance that nothing here reads.
    registerInstance: false,
    // - pg-boss checks each pass that vacuum keeps up (and warns when not): on PostgreSQL. Embedded
    //   PGlite is one process with no autovacuum workers; the check would only add catalog queries.
    monitorVacuum: db.kind === 'postgres',
    // - No OpenTelemetry here (metrics come from counts()): no spans, no trace context stored on jobs.
    openTelemetry: { enabled: false },
    // LISTEN/NOTIFY stays off (the default): on PostgreSQL it holds a connection per instance outside
    // the pool; workers poll.
  });
  const errorListeners: ((error: Error) => void)[] = [];
  boss.on('error', (error) => {
    for (const listener of errorListeners) listener(error);
  });
  const queues = new Map<string, QueueDefinition>();
  const schedules: { name: string; cron: string; data: object }[] = [];
  /** This process's workers by queue, to wake when a job is enqueued here. */
  const workerIds = new Map<string, string[]>();
  let started = false;

  /**
   * A job enqueued by this process wakes this process's idle workers of its queue, once it is
   * committed: it runs at once instead of after the polling interval (other instances still find
   * it by polling).
   */
  function wakeAfter(name: string, handle: DbHandle): void {
    const ids = workerIds.get(name);
    if (!ids || ids.length === 0) return;
    const wake = (): void => {
      if (stopped || !started) return;
      for (const id of ids) boss.notifyWorker(id);
    };
    if (handle.afterCommit) handle.afterCommit(wake);
    else queueMicrotask(wake);
  }

  async function send(name: string, data: object, enqueueOptions: EnqueueOptions, tx?: DbHandle): Promise<string> {
    const sendOptions: SendOptions = {};
    if (tx) sendOptions.db = handleDb(tx);
    if (enqueueOptions.startAfterSeconds) sendOptions.startAfter = enqueueOptions.startAfterSeconds;
    if (enqueueOptions.singletonKey) sendOptions.singletonKey = enqueueOptions.singletonKey;
    const id = await boss.send(name, data, sendOptions);
    if (!id) throw new Error(`jobs: ${name} not enqueued`);
    if (!enqueueOptions.startAfterSeconds) wakeAfter(name, tx ?? db);
    return id;
  }

  return {
    define(name, handler, queueOptions) {
      if (started) throw new Error(`jobs: define(${name}) after start()`);
      if (queues.has(name)) throw new Error(`jobs: queue ${name} defined twice`);
      queues.set(name, { name, handler: handler as JobHandler<object>, options: { ...DEFAULTS, ...queueOptions } });
    },
    schedule(name, cron, data = {}) {
      if (started) throw new Error(`jobs: schedule(${name}) after start()`);
      schedules.push({ name, cron, data });
    },
    async enqueue(name, data, enqueueOptions = {}) {
      if (!queues.has(name)) throw new Error(`jobs: unknown queue ${name}`);
      // pg-boss 12 reads the queue's settings from a cache that start() fills.
      if (!started) throw new Error(`jobs: enqueue(${name}) needs start() first`);
      const key = enqueueOptions.singletonKey;
      if (!key) return send(name, data, enqueueOptions, enqueueOptions.tx);
      // pg-boss keeps a singletonKey unique only under a queue policy ('short', 'singleton', …) or a
      // throttle, never on a standard queue (nor did pg-boss 10). So: a lock on the key, a look for a
      // queued job with it, and the insert, in one transaction (the caller's, or one of our own).
      const once = async (tx: DbHandle): Promise<string> => {
        await tx.sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera.jobs.${schema}.${name}.${key}`]);
        const queued = await boss.findJobs(name, { key, queued: true, limit: 1, db: handleDb(tx) });
        if (queued.length > 0) throw new Error(`jobs: ${name} not enqueued (singleton already queued)`);
        return send(name, data, enqueueOptions, tx);
      };
      return enqueueOptions.tx ? once(enqueueOptions.tx) : db.transaction(once);
    },
    async get<T>(name: string, id: string): Promise<JobInfo<T> | null> {
      let job;
      try {
        [job] = await boss.findJobs<T>(name, { id, limit: 1 });
      } catch (error) {
        if ((error as { code?: string }).code === 'PGBOSS_QUEUE_NOT_FOUND') return null;
        throw error;
      }
      if (!job) return null;
      return {
        id: job.id,
        name: job.name,
        state: job.state,
        data: job.data,
        retryCount: job.retryCount,
        retryLimit: job.retryLimit,
        output: job.output ?? null,
        createdOn: job.createdOn,
        completedOn: job.completedOn ?? null,
      };
    },
    async schedules() {
      return (await boss.getSchedules()).map((entry) => ({ name: entry.name, cron: entry.cron }));
    },
    async counts() {
      // `job` is partitioned in pg-boss 12 (job_common holds every queue not created with
      // partition: true); its name and state columns are as in pg-boss 10.
      const { rows } = await db.sql.query<{ queue: string; state: JobState; count: string }>(
        `SELECT name AS queue, state, count(*)::text AS count FROM ${schema}.job GROUP BY name, state`,
      );
      return rows.map((row) => ({ queue: row.queue, state: row.state, count: Number(row.count) }));
    },
    async start(startOptions = {}) {
      if (started) return;
      for (const { name } of schedules) {
        if (!queues.has(name)) throw new Error(`jobs: schedule(${name}) of an undefined queue`);
      }
      started = true;
      stopped = false;
      try {
        // pg-boss installs its schema on first start in one transaction that begins with an advisory
        // lock, yet two instances starting together on an empty PostgreSQL still collide on CREATE
        // SCHEMA ("duplicate key … pg_namespace_nspname_index", seen every time with two processes).
        // Still so with pg-boss 12: two instances that had just run db.migrate() (as the app does)
        // and then started pg-boss at once failed so in 6 runs of 6 without this lock; with it, three
        // such instances started in 10 runs of 10. So the whole of boss.start() runs while this
        // instance holds a lock in a transaction of its own: the second instance starts after the
        // first has installed, finds the schema and installs nothing.
        // (PGlite is one process's own database: nothing to serialise, and a held transaction would
        // block boss.start() on its single connection.)
        if (db.kind === 'postgres') {
          await db.transaction(async (tx) => {
            await tx.sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera.jobs.${schema}.install`]);
            await boss.start();
          });
        } else {
          await boss.start();
        }
        // Queues and schedules. pg-boss 10's create_queue added a foreign key and attached a
        // partition, so two instances creating queues at once deadlocked, and Tessera ran all of this
        // in one transaction behind an advisory lock. pg-boss 12's create_queue takes an advisory lock
        // of its own and, for a queue in the shared job table (no `partition: true` here), only inserts
        // a row; it runs in a BEGIN … COMMIT of its own, so it cannot be run inside ours anyway. Each
        // call below is idempotent: a start that fails half-way is completed by the next.
        for (const queue of queues.values()) {
          const deadLetter = `${queue.name}${DEAD_LETTER_SUFFIX}`;
          await boss.createQueue(deadLetter, { deleteAfterSeconds: KEEP_FINISHED_SECONDS });
          const settings = {
            retryLimit: queue.options.retryLimit,
            retryDelay: queue.options.retryDelaySeconds,
            retryBackoff: queue.options.retryBackoff,
            expireInSeconds: queue.options.expireInSeconds,
            deleteAfterSeconds: KEEP_FINISHED_SECONDS,
            deadLetter,
          };
          // createQueue leaves an existing queue as it is; updateQueue carries changed settings over.
          await boss.createQueue(queue.name, settings);
          await boss.updateQueue(queue.name, settings);
        }
        for (const { name, cron, data } of schedules) await boss.schedule(name, cron, data, { tz: 'UTC' });
        if (startOptions.workers !== false) await startWorkers();
      } catch (error) {
        started = false;
        await boss.stop({ graceful: false }).catch(() => undefined);
        stopped = true;
        throw error;
      }
    },
    async stop(timeoutMs = 8_000) {
      if (!started) return;
      started = false;
      workerIds.clear();
      // Waits up to timeoutMs for running handlers; then fails the jobs still running (each is
      // retried, or dead-lettered after its last retry) and waits for that to be written.
      await boss.stop({ graceful: true, timeout: timeoutMs });
      stopped = true;
    },
    async ping() {
      await db.sql.query(`SELECT 1 FROM ${schema}.version LIMIT 1`);
    },
    onError(listener) {
      errorListeners.push(listener);
    },
  };

  async function startWorkers(): Promise<void> {
    for (const queue of queues.values()) {
      // One work() call per worker rather than localConcurrency: work() returns the first worker's id only.
      for (let i = 0; i < queue.options.concurrency; i++) {
        let workerId: string | undefined;
        workerId = await boss.work<object>(
          queue.name,
          { batchSize: 1, pollingIntervalSeconds: queue.options.pollingIntervalSeconds },
          async ([job]) => {
            if (!job) return undefined;
            try {
              return await queue.handler(job.data, { id: job.id, retryCount: job.retryCount });
            } finally {
              // A worker that found work looks for more at once; only an idle one waits out the polling
              // interval. pg-boss 12 still waits the interval (less the job's run time) after every batch,
              // unless in "burst" mode, which needs batches of more than one (burstWhenBatchFull) or the
              // queue counts it caches once a minute (burstWhenReadyExceeds).
              if (workerId) boss.notifyWorker(workerId);
            }
          },
        );
        workerIds.set(queue.name, [...(workerIds.get(queue.name) ?? []), workerId]);
      }
    }
  }
}
