import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect as connectTcp, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest';
import type { Cache } from './cache.js';
import { createCache } from './index.js';
import { createMemoryCache } from './memory.js';
import { createRedisCache } from './redis.js';

const services = inject('services');
const redisUrl = services.redisUrl;
const requireServices = process.env.TESSERA_REQUIRE_SERVICES === '1';
const REDIS_SERVER = '/usr/bin/redis-server';

/** Everything this file writes to a shared Redis lives under this prefix, removed in afterAll. */
const FILE_PREFIX = `test:${randomUUID()}:`;
let prefixCount = 0;
/** A fresh namespace per test, so tests never see each other's keys. */
function nextPrefix(): string {
  prefixCount += 1;
  return `${FILE_PREFIX}${prefixCount}:`;
}

interface Adapter {
  kind: 'memory' | 'redis';
  available: boolean;
  /** Whether instances with the same prefix share keys and messages (Redis) or not (in-process). */
  sharedAcrossInstances: boolean;
  create(prefix: string): Promise<Cache>;
}

const adapters: Adapter[] = [
  {
    kind: 'memory',
    available: true,
    sharedAcrossInstances: false,
    create: async (prefix) => createMemoryCache({ prefix }),
  },
  {
    kind: 'redis',
    available: redisUrl !== null,
    sharedAcrossInstances: true,
    create: async (prefix) => {
      if (redisUrl === null) throw new Error('Redis is not available');
      return createRedisCache(redisUrl, { prefix });
    },
  },
];

const opened: Cache[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  if (redisUrl === null) return;
  const admin = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await admin.quit();
  }
});

/** Collects the messages one handler receives. */
function collector(): { handler: (message: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { handler: (message) => messages.push(message), messages };
}

function contract(adapter: Adapter): void {
  async function open(prefix = nextPrefix()): Promise<Cache> {
    const cache = await adapter.create(prefix);
    opened.push(cache);
    return cache;
  }

  it('reports its kind', async () => {
    const cache = await open();
    expect(cache.kind).toBe(adapter.kind);
  });

  it('gets, sets and deletes values as given', async () => {
    const cache = await open();
    expect(await cache.get('k')).toBeNull();
    expect(await cache.set('k', 'v1')).toBe(true);
    expect(await cache.get('k')).toBe('v1');
    expect(await cache.set('k', '{"json":"ünïcødé ✓"}')).toBe(true);
    expect(await cache.get('k')).toBe('{"json":"ünïcødé ✓"}');
    expect(await cache.set('empty', '')).toBe(true);
    expect(await cache.get('empty')).toBe('');
    expect(await cache.delete('k')).toBe(true);
    expect(await cache.get('k')).toBeNull();
    expect(await cache.delete('k')).toBe(false);
  });

  it('expires a key after its TTL, and a plain set clears the TTL', async () => {
    const cache = await open();
    await cache.set('short', 'v', { ttlSeconds: 1 });
    await cache.set('made-permanent', 'v', { ttlSeconds: 1 });
    await cache.set('made-permanent', 'w');
    await cache.set('absent-later', 'v', { ttlSeconds: 1, onlyIfAbsent: true });
    expect(await cache.get('short')).toBe('v');
    await sleep(1300);
    expect(await cache.get('short')).toBeNull();
    expect(await cache.take('short')).toBeNull();
    expect(await cache.delete('short')).toBe(false);
    expect(await cache.get('made-permanent')).toBe('w');
    // An expired key is absent for onlyIfAbsent.
    expect(await cache.set('absent-later', 'again', { onlyIfAbsent: true })).toBe(true);
    expect(await cache.get('absent-later')).toBe('again');
  });

  it('writes with onlyIfAbsent only when the key is missing', async () => {
    const cache = await open();
    expect(await cache.set('k', 'first', { onlyIfAbsent: true })).toBe(true);
    expect(await cache.set('k', 'second', { onlyIfAbsent: true })).toBe(false);
    expect(await cache.set('k', 'third', { onlyIfAbsent: true, ttlSeconds: 60 })).toBe(false);
    expect(await cache.get('k')).toBe('first');
    await cache.delete('k');
    expect(await cache.set('k', 'fourth', { onlyIfAbsent: true })).toBe(true);
    expect(await cache.get('k')).toBe('fourth');
  });

  it('incr creates the key with its TTL, then adds to it', async () => {
    const cache = await open();
    const first = await cache.incr('counter', 60);
    expect(first.value).toBe(1);
    expect(first.ttlMs).toBeGreaterThan(55_000);
    expect(first.ttlMs).toBeLessThanOrEqual(60_000);
    expect((await cache.incr('counter', 60, 5)).value).toBe(6);
    expect((await cache.incr('counter', 60, -2)).value).toBe(4);
    expect(await cache.get('counter')).toBe('4');
  });

  it('incr is atomic under 50 concurrent calls', async () => {
    const cache = await open();
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.incr('burst', 60)));
    expect(results.map((result) => result.value).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, index) => index + 1),
    );
    for (const result of results) {
      expect(result.ttlMs).toBeGreaterThan(0);
      expect(result.ttlMs).toBeLessThanOrEqual(60_000);
    }
    expect(await cache.get('burst')).toBe('50');
  });

  it('incr keeps the window fixed: the TTL does not slide', async () => {
    const cache = await open();
    const first = await cache.incr('window', 1);
    expect(first).toMatchObject({ value: 1 });
    await sleep(600);
    const second = await cache.incr('window', 1);
    expect(second.value).toBe(2);
    expect(second.ttlMs).toBeLessThanOrEqual(first.ttlMs - 500);
    await sleep(700);
    expect(await cache.get('window')).toBeNull();
    const third = await cache.incr('window', 1);
    expect(third.value).toBe(1);
    expect(third.ttlMs).toBeGreaterThan(500);
  });

  it('incr refuses a value that is not an integer, and a fractional step', async () => {
    const cache = await open();
    await cache.set('text', 'abc');
    await expect(cache.incr('text', 60)).rejects.toThrow();
    expect(await cache.get('text')).toBe('abc');
    await expect(cache.incr('fraction', 60, 1.5)).rejects.toThrow();
    expect(await cache.get('fraction')).toBeNull();
  });

  it('take returns the value exactly once under concurrent calls', async () => {
    const cache = await open();
    expect(await cache.take('challenge')).toBeNull();
    await cache.set('challenge', 'secret', { ttlSeconds: 60 });
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.take('challenge')));
    expect(results.filter((result) => result !== null)).toEqual(['secret']);
    expect(await cache.get('challenge')).toBeNull();
  });

  it('delivers a published message to every subscriber of the same instance, in order', async () => {
    const cache = await open();
    const a = collector();
    const b = collector();
    await cache.subscribe('news', a.handler);
    await cache.subscribe('news', b.handler);
    await cache.publish('news', 'one');
    await cache.publish('news', 'two');
    await cache.publish('other', 'not for us');
    await vi.waitFor(() => {
      expect(a.messages).toEqual(['one', 'two']);
      expect(b.messages).toEqual(['one', 'two']);
    });
  });

  it.runIf(adapter.sharedAcrossInstances)('delivers to subscribers on another instance with the same prefix', async () => {
    const prefix = nextPrefix();
    const subscriberCache = await open(prefix);
    const publisherCache = await open(prefix);
    const received = collector();
    await subscriberCache.subscribe('settings', received.handler);
    await publisherCache.publish('settings', 'changed');
    await vi.waitFor(() => expect(received.messages).toEqual(['changed']));
  });

  it.runIf(adapter.sharedAcrossInstances)('shares keys between instances with the same prefix', async () => {
    const prefix = nextPrefix();
    const one = await open(prefix);
    const two = await open(prefix);
    await one.set('k', 'v');
    expect(await two.get('k')).toBe('v');
    expect((await one.incr('n', 60)).value).toBe(1);
    expect((await two.incr('n', 60)).value).toBe(2);
  });

  // Documented behaviour: in-process pub/sub reaches subscribers of the same instance only.
  it.runIf(!adapter.sharedAcrossInstances)('keeps messages within the instance that published them', async () => {
    const prefix = nextPrefix();
    const subscriberCache = await open(prefix);
    const publisherCache = await open(prefix);
    const received = collector();
    await subscriberCache.subscribe('settings', received.handler);
    await publisherCache.publish('settings', 'changed');
    await sleep(50);
    expect(received.messages).toEqual([]);
  });

  it('stops delivering after unsubscribe, and can subscribe again', async () => {
    const cache = await open();
    const a = collector();
    const b = collector();
    const unsubscribeA = await cache.subscribe('news', a.handler);
    const unsubscribeB = await cache.subscribe('news', b.handler);
    await unsubscribeA();
    await cache.publish('news', 'one');
    await vi.waitFor(() => expect(b.messages).toEqual(['one']));
    expect(a.messages).toEqual([]);

    await unsubscribeB();
    await unsubscribeB(); // idempotent
    await cache.publish('news', 'two');
    await sleep(100);
    expect(b.messages).toEqual(['one']);

    const c = collector();
    await cache.subscribe('news', c.handler);
    await cache.publish('news', 'three');
    await vi.waitFor(() => expect(c.messages).toEqual(['three']));
    expect(a.messages).toEqual([]);
    expect(b.messages).toEqual(['one']);
  });

  it('keeps delivering to other handlers when one handler throws', async () => {
    const cache = await open();
    const received = collector();
    await cache.subscribe('news', () => {
      throw new Error('handler failure');
    });
    await cache.subscribe('news', received.handler);
    await cache.publish('news', 'one');
    await cache.publish('news', 'two');
    await vi.waitFor(() => expect(received.messages).toEqual(['one', 'two']));
  });

  it('isolates caches with different prefixes', async () => {
    const one = await open();
    const two = await open();
    await one.set('k', 'one');
    expect(await two.get('k')).toBeNull();
    await two.set('k', 'two');
    expect(await one.get('k')).toBe('one');
    expect((await one.incr('n', 60)).value).toBe(1);
    expect((await two.incr('n', 60)).value).toBe(1);
    expect(await two.take('k')).toBe('two');
    expect(await one.get('k')).toBe('one');

    const received = collector();
    await two.subscribe('news', received.handler);
    await one.publish('news', 'not for two');
    await sleep(50);
    expect(received.messages).toEqual([]);
  });

  it('answers ping', async () => {
    const cache = await open();
    await expect(cache.ping()).resolves.toBeUndefined();
  });

  it('rejects operations after close, and close is idempotent', async () => {
    const cache = await adapter.create(nextPrefix());
    await cache.close();
    await cache.close();
    await expect(cache.get('k')).rejects.toThrow();
    await expect(cache.ping()).rejects.toThrow();
  });
}

const enabledAdapters = adapters.filter((adapter) => adapter.available);
const skippedAdapters = adapters.filter((adapter) => !adapter.available);
describe.each(enabledAdapters)('cache contract: $kind', contract);
if (skippedAdapters.length > 0) describe.skip.each(skippedAdapters)('cache contract: $kind', contract);

describe('createCache', () => {
  it('uses the in-process cache without a Redis URL', async () => {
    const cache = await createCache(undefined, { prefix: nextPrefix() });
    opened.push(cache);
    expect(cache.kind).toBe('memory');
  });

  it.skipIf(redisUrl === null)('uses Redis when given a URL', async () => {
    const cache = await createCache(redisUrl ?? '', { prefix: nextPrefix() });
    opened.push(cache);
    expect(cache.kind).toBe('redis');
  });
});

(redisUrl === null ? describe.skip : describe)('redis adapter', () => {
  it('uses one subscriber connection and unsubscribes a channel with its last handler', async () => {
    const prefix = nextPrefix();
    const cache = await createRedisCache(redisUrl ?? '', { prefix });
    opened.push(cache);
    const admin = new Redis(redisUrl ?? '');
    try {
      const subscribers = async (): Promise<number> => {
        const reply = await admin.pubsub('NUMSUB', `${prefix}news`);
        return Number(reply[1]);
      };
      const unsubscribeA = await cache.subscribe('news', () => undefined);
      const unsubscribeB = await cache.subscribe('news', () => undefined);
      expect(await subscribers()).toBe(1);
      await unsubscribeA();
      expect(await subscribers()).toBe(1);
      await unsubscribeB();
      expect(await subscribers()).toBe(0);
    } finally {
      await admin.quit();
    }
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

describe('redis adapter start-up', () => {
  it('fails with the address and the cause when nobody answers at the URL', async () => {
    const port = await freePort();
    await expect(createRedisCache(`redis://127.0.0.1:${port}`)).rejects.toThrow(
      new RegExp(`^Cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}.*ECONNREFUSED`),
    );
  });

  it('never puts the password of the URL in its error', async () => {
    const port = await freePort();
    const failure = await createRedisCache(`redis://user:hunter2@127.0.0.1:${port}`).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).not.toContain('hunter2');
    expect((failure as Error).message).toContain('***');
  });

  it('refuses a URL that is not a Redis URL', async () => {
    await expect(createRedisCache('not a url')).rejects.toThrow(/not a valid URL/);
    await expect(createRedisCache('http://127.0.0.1:6379')).rejects.toThrow(/redis:\/\//);
  });
});

/** A private redis-server on its own port, which the test may stop, kill and start again. */
function privateRedis(port: number): { start(): Promise<void>; kill(): Promise<void>; pause(): void; resume(): void } {
  let child: ChildProcess | undefined;
  const alive = (): ChildProcess => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error('redis-server is not running');
    return child;
  };
  return {
    async start() {
      child = spawn(REDIS_SERVER, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {
        stdio: 'ignore',
      });
      const started = child;
      await vi.waitFor(
        () =>
          new Promise<void>((resolve, reject) => {
            if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`);
            const socket = connectTcp(port, '127.0.0.1');
            socket.once('connect', () => {
              socket.destroy();
              resolve();
            });
            socket.once('error', reject);
          }),
        { timeout: 5000, interval: 50 },
      );
    },
    async kill() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    pause() {
      alive().kill('SIGSTOP');
    },
    resume() {
      alive().kill('SIGCONT');
    },
  };
}

/** 'rejected' or 'resolved' when the promise settles within the limit, else 'hung'. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'hung'> {
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    sleep(ms).then(() => 'hung' as const),
  ]);
}

describe.skipIf(!existsSync(REDIS_SERVER) && !requireServices)('redis adapter while Redis goes away', () => {
  let server: ReturnType<typeof privateRedis> | undefined;
  // Runs before the file's afterEach closes the caches, so a failed test never leaves them waiting on a paused server.
  afterEach(async () => {
    await server?.kill();
  });

  it('fails fast while Redis is paused or down, and recovers with its subscriptions when it is back', async () => {
    const port = await freePort();
    server = privateRedis(port);
    await server.start();
    const cache = await createRedisCache(`redis://127.0.0.1:${port}`, { prefix: nextPrefix() });
    opened.push(cache);
    const received = collector();
    await cache.subscribe('settings', received.handler);
    await cache.ping();

    // Stops answering, connection still open: the command timeout (1000 ms by default) answers.
    server.pause();
    expect(await settlesWithin(cache.ping(), 2000)).toBe('rejected');
    server.resume();
    await vi.waitFor(() => cache.ping(), { timeout: 5000, interval: 100 });

    // Gone: commands fail at once instead of queueing.
    await server.kill();
    expect(await settlesWithin(cache.ping(), 2000)).toBe('rejected');
    expect(await settlesWithin(cache.incr('n', 60), 2000)).toBe('rejected');

    // Back on the same port: the background reconnect picks it up, subscriptions included.
    await server.start();
    await vi.waitFor(() => cache.ping(), { timeout: 5000, interval: 100 });
    expect((await cache.incr('n', 60)).value).toBe(1);
    await vi.waitFor(
      async () => {
        await cache.publish('settings', 'after restart');
        expect(received.messages).toContain('after restart');
      },
      { timeout: 5000, interval: 100 },
    );
  });
});
