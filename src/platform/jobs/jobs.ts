import PgBoss from 'pg-boss';
import type { Database, DbHandle } from '../db/database.js';

/**
 * The durable job queue: pg-boss 10 on the application's own database (PGlite or PostgreSQL), so a
 * job can be enqueued inside the business transaction that caused it and survives restarts.
 * pg-boss fetches with `FOR UPDATE SKIP LOCKED`, so with several instances each job runs once;
 * schedules live in the database, so a cron job fires once per slot across instances.
 * pg-boss 11+ needs Node 22; 10.4 is pinned.
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
  /** Seconds between polls for new work (default 1). */
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
  /** At most one queued job per key. */
  singletonKey?: string;
}

export interface Jobs {
  /** Declares a queue and its handler. Call before start(). A failed job after its last retry moves to `<name>__dead`. */
  define<T extends object>(name: string, handler: JobHandler<T>, options?: QueueOptions): void;
  /** Runs `name` on a cron schedule (5 fields, UTC) from any one instance. Call before start(). */
  schedule(name: string, cron: string, data?: object): void;
  enqueue<T extends object>(name: string, data: T, options?: EnqueueOptions): Promise<string>;
  get<T = unknown>(name: string, id: string): Promise<JobInfo<T> | null>;
  /** The cron schedules stored in the database. */
  schedules(): Promise<{ name: string; cron: string }[]>;
  /** Jobs per queue and state, for metrics and the admin. */
  counts(): Promise<{ queue: string; state: JobState; count: number }[]>;
  /** Creates queues and schedules, starts the workers (unless workers: false). */
  start(options?: { workers?: boolean }): Promise<void>;
  /** Stops fetching and waits for running jobs, up to timeoutMs. */
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

function bossDb(handle: { sql: DbHandle['sql'] }, script?: Database['execScript'], stopped: () => boolean = () => false): PgBoss.Db {
  return {
    executeSql: (text, values) => {
      // pg-boss completes a job without awaiting it: a job that outlived stop()'s timeout reports
      // after the pool may be closed. Nothing is written then; the job stays active, expires and
      // runs again elsewhere (at least once), instead of an unhandled rejection.
      if (stopped()) return Promise.resolve({ rows: [], rowCount: 0 } as unknown as Awaited<ReturnType<PgBoss.Db['executeSql']>>);
      // pg-boss sends its schema scripts as several statements without parameters.
      return script && (!values || values.length === 0) ? script(text) : handle.sql.query(text, values ?? []);
    },
  };
}

export function createJobs(db: Database, options: { schema?: string } = {}): Jobs {
  const schema = options.schema ?? 'pgboss';
  let stopped = false;
  const boss = new PgBoss({
    db: bossDb(db, db.execScript, () => stopped),
    schema,
    // Finished jobs are archived after a day and deleted after two weeks.
    archiveCompletedAfterSeconds: 24 * 3600,
    deleteAfterDays: 14,
    cronMonitorIntervalSeconds: 30,
  });
  const errorListeners: ((error: Error) => void)[] = [];
  boss.on('error', (error) => {
    for (const listener of errorListeners) listener(error);
  });
  const queues = new Map<string, QueueDefinition>();
  const schedules: { name: string; cron: string; data: object }[] = [];
  let started = false;

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
      const sendOptions: PgBoss.SendOptions = {};
      if (enqueueOptions.tx) sendOptions.db = bossDb(enqueueOptions.tx);
      if (enqueueOptions.startAfterSeconds) sendOptions.startAfter = enqueueOptions.startAfterSeconds;
      if (enqueueOptions.singletonKey) sendOptions.singletonKey = enqueueOptions.singletonKey;
      const id = await boss.send(name, data, sendOptions);
      if (!id) throw new Error(`jobs: ${name} not enqueued (singleton already queued)`);
      return id;
    },
    async get<T>(name: string, id: string): Promise<JobInfo<T> | null> {
      const job = await boss.getJobById<T>(name, id);
      if (!job) return null;
      return {
        id: job.id,
        name: job.name,
        state: job.state as JobState,
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
      const { rows } = await db.sql.query<{ queue: string; state: JobState; count: string }>(
        `SELECT name AS queue, state, count(*)::text AS count FROM ${schema}.job GROUP BY name, state`,
      );
      return rows.map((row) => ({ queue: row.queue, state: row.state, count: Number(row.count) }));
    },
    async start(startOptions = {}) {
      if (started) return;
      started = true;
      stopped = false;
      try {
        // pg-boss installs its schema on first start under its own advisory lock, yet two instances
        // starting together on an empty PostgreSQL still collide on CREATE SCHEMA ("duplicate key …
        // pg_namespace_nspname_index", seen every time with two processes). So the whole of
        // boss.start() runs while this instance holds a lock in a transaction of its own: the second
        // instance starts after the first has installed, finds the schema and installs nothing.
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
      } catch (error) {
        started = false;
        throw error;
      }
      // pg-boss's create_queue inserts the queue row, then adds a foreign key to the queue table and
      // attaches a partition: two instances creating queues at once deadlock (seen with two instances
      // starting together). So all queue and schedule set-up runs in one transaction that first takes
      // an advisory lock: instances set up one after another, and a failed start leaves nothing half-made.
      // A throw-away PgBoss on the transaction runs pg-boss's own createQueue/updateQueue/schedule SQL.
      await db.transaction(async (tx) => {
        await tx.sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera.jobs.${schema}.setup`]);
        const setup = new PgBoss({ db: bossDb(tx), schema });
        for (const queue of queues.values()) {
          const deadLetter = `${queue.name}${DEAD_LETTER_SUFFIX}`;
          await setup.createQueue(deadLetter);
          const settings: PgBoss.Queue = {
            name: queue.name,
            retryLimit: queue.options.retryLimit,
            retryDelay: queue.options.retryDelaySeconds,
            retryBackoff: queue.options.retryBackoff,
            expireInSeconds: queue.options.expireInSeconds,
            deadLetter,
          };
          // createQueue is a no-op for an existing queue; updateQueue carries changed settings over.
          await setup.createQueue(queue.name, settings);
          await setup.updateQueue(queue.name, settings);
        }
        for (const { name, cron, data } of schedules) await setup.schedule(name, cron, data, { tz: 'UTC' });
      });
      if (startOptions.workers === false) return;
      for (const queue of queues.values()) {
        for (let i = 0; i < queue.options.concurrency; i++) {
          let workerId: string | undefined;
          workerId = await boss.work<object>(
            queue.name,
            { batchSize: 1, pollingIntervalSeconds: queue.options.pollingIntervalSeconds, includeMetadata: true },
            async ([job]) => {
              if (!job) return undefined;
              try {
                return await queue.handler(job.data, { id: job.id, retryCount: job.retryCount });
              } finally {
                // A worker that found work looks for more at once; only an idle one waits out the polling interval.
                if (workerId) boss.notifyWorker(workerId);
              }
            },
          );
        }
      }
    },
    async stop(timeoutMs = 8_000) {
      if (!started) return;
      started = false;
      await boss.stop({ graceful: true, wait: true, close: true, timeout: timeoutMs });
      stopped = true;
    },
    async ping() {
      await db.sql.query(`SELECT 1 FROM ${schema}.version LIMIT 1`);
    },
    onError(listener) {
      errorListeners.push(listener);
    },
  };
}
