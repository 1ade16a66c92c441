import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, engineCases, type TestDatabase } from '../../../test/helpers/db.js';
import { createPgliteDatabase, createPostgresDatabase, type Database } from '../db/database.js';
import { createJobs, DEAD_LETTER_SUFFIX, type JobInfo, type Jobs, type JobState, type QueueOptions } from './jobs.js';
import { waitFor } from '../../../test/helpers/wait.js';

/** Quick settings so a test waits for seconds, not minutes: pg-boss's shortest poll, 1 s retries. */
const FAST: QueueOptions = { pollingIntervalSeconds: 0.5, retryDelaySeconds: 1, retryBackoff: false, concurrency: 2 };

/** A queue name no other test (or earlier run on a reused database) has used. */
function queueName(label: string): string {
  return `t_${label}_${randomBytes(4).toString('hex')}`;
}


const TERMINAL: JobState[] = ['completed', 'failed', 'cancelled'];

/** Waits for a job to reach `state`; fails at once if it ends in another terminal state. */
async function waitForState<T>(jobs: Jobs, name: string, id: string, state: JobState, timeoutMs = 10_000): Promise<JobInfo<T>> {
  return waitFor(
    async () => {
      const job = await jobs.get<T>(name, id);
      if (job && job.state !== state && TERMINAL.includes(job.state)) {
        throw new Error(`job ${name}/${id} ended ${job.state}, expected ${state}`);
      }
      return job?.state === state ? job : null;
    },
    timeoutMs,
    `job ${name}/${id} to be ${state}`,
  );
}

async function jobRows(db: Database, name: string): Promise<{ id: string; name: string; state: string; data: unknown }[]> {
  const { rows } = await db.sql.query<{ id: string; name: string; state: string; data: unknown }>(
    'SELECT id, name, state, data FROM pgboss.job WHERE name = $1',
    [name],
  );
  return rows;
}

describe.each(engineCases())('jobs on $engine', ({ engine, available }) => {
  describe.skipIf(!available)('contract', () => {
    let t: TestDatabase;
    /** Undone after each test, last first: stop job instances, close extra databases, remove directories. */
    const cleanups: (() => Promise<void>)[] = [];
    /** Errors pg-boss reported on any instance during the test; each test ends with none. */
    let errors: Error[] = [];

    beforeAll(async () => {
      t = await createTestDatabase(engine, { poolMax: 10 });
    });
    afterAll(async () => t?.destroy());
    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
      const reported = errors;
      errors = [];
      expect(reported).toEqual([]);
    });

    /** A fresh queue instance on `db`, stopped after the test. */
    function newJobs(db: Database = t.db): Jobs {
      const jobs = createJobs(db);
      jobs.onError((error) => errors.push(error));
      cleanups.push(() => jobs.stop());
      return jobs;
    }

    it('runs an enqueued job with its data and shows it completed', async () => {
      const name = queueName('basic');
      const seen: { data: { greeting: string }; id: string; retryCount: number }[] = [];
      const jobs = newJobs();
      jobs.define<{ greeting: string }>(
        name,
        async (data, job) => {
          seen.push({ data, id: job.id, retryCount: job.retryCount });
          return { handled: data.greeting };
        },
        FAST,
      );
      await jobs.start();

      const id = await jobs.enqueue(name, { greeting: 'hello' });
      const done = await waitForState<{ greeting: string }>(jobs, name, id, 'completed');

      expect(seen).toEqual([{ data: { greeting: 'hello' }, id, retryCount: 0 }]);
      expect(done).toMatchObject({ id, name, state: 'completed', data: { greeting: 'hello' }, retryCount: 0, output: { handled: 'hello' } });
      expect(done.completedOn).toBeInstanceOf(Date);
    });

    it('retries a handler that throws twice, then completes with retryCount 2', async () => {
      const name = queueName('retry');
      const attempts: number[] = [];
      const jobs = newJobs();
      jobs.define(
        name,
        async (_data, job) => {
          attempts.push(job.retryCount);
          if (attempts.length <= 2) throw new Error(`attempt ${attempts.length} fails`);
          return { ok: true };
        },
        { ...FAST, retryLimit: 3 },
      );
      await jobs.start();

      const id = await jobs.enqueue(name, { n: 1 });
      const done = await waitForState(jobs, name, id, 'completed', 15_000);

      expect(attempts).toEqual([0, 1, 2]);
      expect(done.retryCount).toBe(2);
      expect(done.retryLimit).toBe(3);
      expect(done.output).toEqual({ ok: true });
    });

    it('fails a job after its last retry and moves a copy to the dead-letter queue', async () => {
      const name = queueName('dead');
      const deadLetter = `${name}${DEAD_LETTER_SUFFIX}`;
      let calls = 0;
      const jobs = newJobs();
      jobs.define(
        name,
        async () => {
          calls += 1;
          throw new Error('provider down');
        },
        { ...FAST, retryLimit: 1 },
      );
      await jobs.start();

      const id = await jobs.enqueue(name, { to: 'someone@example.com' });
      const failed = await waitForState(jobs, name, id, 'failed', 15_000);

      expect(calls).toBe(2);
      expect(failed.retryCount).toBe(1);
      expect(failed.output).toMatchObject({ message: 'provider down' });
      const dead = await jobRows(t.db, deadLetter);
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ name: deadLetter, state: 'created', data: { to: 'someone@example.com' } });
      const deadJob = await jobs.get(deadLetter, dead[0]!.id);
      expect(deadJob).toMatchObject({ state: 'created', data: { to: 'someone@example.com' } });
    });

    it('enqueues inside a transaction: nothing when it rolls back, the job when it commits', async () => {
      const name = queueName('tx');
      const ran: string[] = [];
      const jobs = newJobs();
      // One worker: jobs are fetched oldest first, so the committed job completing proves no older job is waiting.
      jobs.define<{ label: string }>(
        name,
        async (data) => {
          ran.push(data.label);
        },
        { ...FAST, concurrency: 1 },
      );
      await jobs.start();

      let rolledBackId: string | undefined;
      await expect(
        t.db.transaction(async (tx) => {
          rolledBackId = await jobs.enqueue(name, { label: 'rolled back' }, { tx });
          throw new Error('business rule refused');
        }),
      ).rejects.toThrow('business rule refused');
      expect(rolledBackId).toEqual(expect.any(String));
      expect(await jobRows(t.db, name)).toEqual([]);
      expect(await jobs.get(name, rolledBackId!)).toBeNull();

      const committedId = await t.db.transaction(async (tx) => jobs.enqueue(name, { label: 'committed' }, { tx }));
      await waitForState(jobs, name, committedId, 'completed');

      expect(ran).toEqual(['committed']);
      const rows = await jobRows(t.db, name);
      expect(rows.map((row) => row.id)).toEqual([committedId]);
    });

    it('runs a job enqueued before a restart after it', async () => {
      const name = queueName('restart');
      const ranBefore: unknown[] = [];
      const ranAfter: unknown[] = [];
      let first: Database;
      let reopen: () => Promise<Database>;
      if (engine === 'pglite') {
        const dataDir = await mkdtemp(join(tmpdir(), 'tessera-jobs-'));
        cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
        first = await createPgliteDatabase({ dataDir });
        cleanups.push(() => first.close());
        await first.migrate();
        reopen = () => createPgliteDatabase({ dataDir });
      } else {
        first = t.db;
        reopen = async () => createPostgresDatabase({ url: t.url!, max: 5 });
      }

      const before = createJobs(first);
      before.onError((error) => errors.push(error));
      cleanups.push(() => before.stop());
      before.define(name, async (data) => void ranBefore.push(data), FAST);
      await before.start({ workers: false });
      const id = await before.enqueue(name, { survives: true });
      await before.stop();
      if (engine === 'pglite') await first.close();

      const second = await reopen();
      cleanups.push(() => second.close());
      const after = newJobs(second);
      after.define(name, async (data) => void ranAfter.push(data), FAST);
      await after.start();
      const done = await waitForState(after, name, id, 'completed');

      expect(done.data).toEqual({ survives: true });
      expect(ranBefore).toEqual([]);
      expect(ranAfter).toEqual([{ survives: true }]);
    });

    it.skipIf(engine !== 'postgres')('runs each job exactly once across two instances', async () => {
      const name = queueName('multi');
      const total = 40;
      const runs = new Map<number, string[]>();
      const instances = ['a', 'b'].map((label) => {
        const db = createPostgresDatabase({ url: t.url!, max: 5 });
        cleanups.push(() => db.close());
        const jobs = newJobs(db);
        jobs.define<{ n: number }>(
          name,
          async (data) => {
            runs.set(data.n, [...(runs.get(data.n) ?? []), label]);
            await sleep(5);
          },
          { ...FAST, concurrency: 2 },
        );
        return jobs;
      });
      // Both start at the same moment, as a rolling deploy does.
      await Promise.all(instances.map((jobs) => jobs.start()));

      const [a] = instances;
      // A third instance without workers enqueues (a worker's own instance would wake it at once and
      // let it take every job before the other polls).
      const producer = newJobs();
      producer.define(name, async () => undefined, FAST);
      await producer.start({ workers: false });
      const ids = await Promise.all(Array.from({ length: total }, (_, n) => producer.enqueue(name, { n })));
      await waitFor(
        async () => {
          const states = await Promise.all(ids.map(async (id) => (await a!.get(name, id))?.state));
          return states.every((state) => state === 'completed');
        },
        30_000,
        `${total} jobs to complete`,
      );

      expect([...runs.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, n) => n));
      const duplicated = [...runs.entries()].filter(([, by]) => by.length !== 1);
      expect(duplicated).toEqual([]);
      const perInstance = [...runs.values()].flat();
      // Both instances took part, so "exactly once" was tested under competition.
      expect(perInstance.filter((label) => label === 'a').length).toBeGreaterThan(0);
      expect(perInstance.filter((label) => label === 'b').length).toBeGreaterThan(0);
    });

    it.skipIf(engine !== 'postgres')('regression: two instances starting at once both create their queues (create_queue deadlock)', async () => {
      const shared = [queueName('shared1'), queueName('shared2')];
      const own = [queueName('own_a'), queueName('own_b')];
      const instances = own.map((ownQueue) => {
        const db = createPostgresDatabase({ url: t.url!, max: 5 });
        cleanups.push(() => db.close());
        const jobs = newJobs(db);
        for (const name of [...shared, ownQueue]) jobs.define(name, async () => undefined, FAST);
        jobs.schedule(shared[0]!, '0 3 * * *');
        return jobs;
      });

      await Promise.all(instances.map((jobs) => jobs.start({ workers: false })));

      const expected = [...shared, ...own].flatMap((name) => [name, `${name}${DEAD_LETTER_SUFFIX}`]).sort();
      const { rows } = await t.db.sql.query<{ name: string }>('SELECT name FROM pgboss.queue WHERE name = ANY($1::text[])', [expected]);
      expect(rows.map((row) => row.name).sort()).toEqual(expected);
      await expect(instances[1]!.enqueue(own[0]!, {})).rejects.toThrow(/unknown queue/);
      for (const [index, jobs] of instances.entries()) {
        const id = await jobs.enqueue(shared[1]!, { index });
        expect(await jobs.get(shared[1]!, id)).toMatchObject({ state: 'created', data: { index } });
      }
    });

    it('stores a cron schedule declared before start', async () => {
      const name = queueName('cron');
      const jobs = newJobs();
      jobs.define(name, async () => undefined, FAST);
      jobs.schedule(name, '*/5 * * * *', { kind: 'sweep' });
      await jobs.start({ workers: false });

      expect(await jobs.schedules()).toContainEqual({ name, cron: '*/5 * * * *' });
      expect(() => jobs.schedule(name, '0 * * * *')).toThrow(/after start/);
    });

    it('holds a job with startAfterSeconds until its time', async () => {
      const name = queueName('delayed');
      const ranAt: number[] = [];
      const jobs = newJobs();
      jobs.define(name, async () => void ranAt.push(Date.now()), FAST);
      await jobs.start();

      const enqueuedAt = Date.now();
      const id = await jobs.enqueue(name, {}, { startAfterSeconds: 2 });
      // This test is about time: look for a second that nothing happens (two polls of the worker).
      while (Date.now() - enqueuedAt < 1_000) {
        expect((await jobs.get(name, id))?.state).toBe('created');
        await sleep(200);
      }
      expect(ranAt).toEqual([]);

      await waitForState(jobs, name, id, 'completed');
      expect(ranAt).toHaveLength(1);
      expect(ranAt[0]! - enqueuedAt).toBeGreaterThanOrEqual(1_900);
    });

    it('counts jobs per queue and state', async () => {
      const name = queueName('counts');
      const jobs = newJobs();
      jobs.define(name, async () => undefined, FAST);
      await jobs.start();

      const doneId = await jobs.enqueue(name, { n: 1 });
      await jobs.enqueue(name, { n: 2 }, { startAfterSeconds: 600 });
      await waitForState(jobs, name, doneId, 'completed');

      const counts = (await jobs.counts()).filter((row) => row.queue === name);
      expect(counts.sort((x, y) => x.state.localeCompare(y.state))).toEqual([
        { queue: name, state: 'completed', count: 1 },
        { queue: name, state: 'created', count: 1 },
      ]);
    });

    it('keeps at most one queued job per singletonKey, inside a transaction too', async () => {
      const name = queueName('single');
      const jobs = newJobs();
      jobs.define(name, async () => undefined, FAST);
      await jobs.start({ workers: false });

      const first = await jobs.enqueue(name, { n: 1 }, { singletonKey: 'k1' });
      await expect(jobs.enqueue(name, { n: 2 }, { singletonKey: 'k1' })).rejects.toThrow(/singleton already queued/);
      await expect(t.db.transaction(async (tx) => jobs.enqueue(name, { n: 3 }, { tx, singletonKey: 'k1' }))).rejects.toThrow(
        /singleton already queued/,
      );
      const other = await jobs.enqueue(name, { n: 4 }, { singletonKey: 'k2' });
      const plain = await Promise.all([jobs.enqueue(name, { n: 5 }), jobs.enqueue(name, { n: 6 })]);

      const rows = await jobRows(t.db, name);
      expect(rows.map((row) => row.id).sort()).toEqual([first, other, ...plain].sort());
    });

    it('a worker that found work fetches again at once; only an idle one waits out its polling interval', async () => {
      const name = queueName('burst');
      const producer = newJobs();
      producer.define(name, async () => undefined, FAST);
      await producer.start({ workers: false });
      const ids = await Promise.all([1, 2, 3, 4].map((n) => producer.enqueue(name, { n })));

      const ran: number[] = [];
      const worker = newJobs();
      // One worker polling every 5 s: four jobs in well under 5 s means it did not wait between them.
      worker.define<{ n: number }>(name, async (data) => void ran.push(data.n), { ...FAST, pollingIntervalSeconds: 5, concurrency: 1 });
      const startedAt = Date.now();
      await worker.start();
      for (const id of ids) await waitForState(worker, name, id, 'completed', 4_000);

      expect(Date.now() - startedAt).toBeLessThan(4_000);
      expect(ran.sort()).toEqual([1, 2, 3, 4]);
    });

    it('a job enqueued in this process wakes its idle worker once committed (not before; never for a rolled-back one)', async () => {
      const name = queueName('wake');
      const ran: string[] = [];
      const jobs = newJobs();
      // Polling every 30 s: a job done within 10 s was started by the wake-up, not by a poll.
      jobs.define<{ label: string }>(name, async (data) => void ran.push(data.label), { ...FAST, pollingIntervalSeconds: 30, concurrency: 1 });
      await jobs.start();
      // Let the worker's first (empty) fetch pass, so it sits in its 30 s wait.
      await sleep(500);

      const outside = await jobs.enqueue(name, { label: 'outside' });
      await waitForState(jobs, name, outside, 'completed', 10_000);

      let seenInside: string[] = [];
      const inside = await t.db.transaction(async (tx) => {
        const id = await jobs.enqueue(name, { label: 'inside' }, { tx });
        // Still uncommitted: a woken worker would find nothing; the wake waits for the commit.
        seenInside = [...ran];
        return id;
      });
      await waitForState(jobs, name, inside, 'completed', 10_000);
      expect(seenInside).toEqual(['outside']);

      await expect(t.db.transaction(async (tx) => {
        await jobs.enqueue(name, { label: 'rolled back' }, { tx });
        throw new Error('refused');
      })).rejects.toThrow('refused');
      expect(ran).toEqual(['outside', 'inside']);
    });

    it('stop() waits for a running job up to its timeout, then fails it for a retry; nothing is written after', async () => {
      const name = queueName('stop');
      let finished = 0;
      let running = 0;
      const jobs = newJobs();
      jobs.define(
        name,
        async () => {
          running += 1;
          await sleep(2_500);
          finished += 1;
          return { late: true };
        },
        { ...FAST, concurrency: 1 },
      );
      await jobs.start();
      const id = await jobs.enqueue(name, {});
      await waitFor(async () => running === 1 || null, 5_000, 'the job to start');

      const stopAt = Date.now();
      await jobs.stop(1_000);
      expect(Date.now() - stopAt).toBeLessThan(2_000);
      expect(finished).toBe(0);
      const [row] = await jobRows(t.db, name);
      expect(row).toMatchObject({ id, state: 'retry' });

      // The handler ends after stop(): its result is not written, the job waits for its retry.
      await waitFor(async () => finished === 1 || null, 5_000, 'the abandoned handler to end');
      await sleep(200);
      const [after] = await jobRows(t.db, name);
      expect(after).toMatchObject({ id, state: 'retry' });
    });

    it('refuses a job for an undefined queue and a queue defined after start', async () => {
      const name = queueName('known');
      const unknown = queueName('unknown');
      const jobs = newJobs();
      jobs.define(name, async () => undefined, FAST);
      await jobs.start({ workers: false });

      await expect(jobs.enqueue(unknown, { n: 1 })).rejects.toThrow(/unknown queue/);
      expect(await jobRows(t.db, unknown)).toEqual([]);
      expect(() => jobs.define(queueName('late'), async () => undefined)).toThrow(/after start/);
    });
  });
});
