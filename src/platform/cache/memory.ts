import type { Cache } from './cache.js';

/**
 * In-process cache adapter: one process, one Map. Used when no Redis is configured (embedded mode,
 * single instance) and by tests.
 *
 * - Expiry is lazy (an expired entry is dropped when it is read) plus a periodic sweep, on an
 *   `unref()`ed timer, so keys nobody reads again do not pile up.
 * - Publish/subscribe reaches subscribers of the same cache instance only: two instances (or two
 *   processes) do not see each other's messages. That is what a single embedded instance needs; a
 *   deployment with several instances must use Redis.
 * - Messages are delivered asynchronously (after `publish` has queued them, never from inside the
 *   call), as Redis would, so a handler never runs re-entrantly inside its publisher.
 */
export interface MemoryCacheOptions {
  /** Namespace for keys and channels. Instances never share state, so it is only for symmetry with Redis. */
  prefix?: string;
  /** Called with errors thrown by subscription handlers (they never reach the publisher). Default: ignored. */
  onError?: (error: unknown) => void;
}

interface Entry {
  value: string;
  /** `performance.now()` deadline, or null for no expiry. */
  expiresAt: number | null;
}

interface Subscription {
  handler: (message: string) => void;
}

const SWEEP_INTERVAL_MS = 30_000;
const INTEGER = /^-?\d+$/;

function ttlToMs(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive number, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

export function createMemoryCache(options: MemoryCacheOptions = {}): Cache {
  const prefix = options.prefix ?? 'tessera:';
  const onError = options.onError ?? ((): void => undefined);
  const entries = new Map<string, Entry>();
  const channels = new Map<string, Set<Subscription>>();
  let closed = false;

  const now = (): number => performance.now();
  const isLive = (entry: Entry, at: number): boolean => entry.expiresAt === null || entry.expiresAt > at;

  /** Returns the live entry for a full key, dropping it when it has expired. */
  function read(fullKey: string): Entry | undefined {
    const entry = entries.get(fullKey);
    if (entry === undefined) return undefined;
    if (isLive(entry, now())) return entry;
    entries.delete(fullKey);
    return undefined;
  }

  function sweep(): void {
    const at = now();
    for (const [key, entry] of entries) {
      if (!isLive(entry, at)) entries.delete(key);
    }
  }

  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
  sweeper.unref();

  function assertOpen(): void {
    if (closed) throw new Error('The memory cache is closed');
  }

  return {
    kind: 'memory',

    async get(key) {
      assertOpen();
      return read(prefix + key)?.value ?? null;
    },

    async set(key, value, setOptions = {}) {
      assertOpen();
      const expiresAt = setOptions.ttlSeconds === undefined ? null : now() + ttlToMs(setOptions.ttlSeconds);
      const fullKey = prefix + key;
      if (setOptions.onlyIfAbsent && read(fullKey) !== undefined) return false;
      entries.set(fullKey, { value, expiresAt });
      return true;
    },

    async delete(key) {
      assertOpen();
      const fullKey = prefix + key;
      const existed = read(fullKey) !== undefined;
      entries.delete(fullKey);
      return existed;
    },

    async incr(key, ttlSeconds, by = 1) {
      assertOpen();
      const windowMs = ttlToMs(ttlSeconds);
      if (!Number.isSafeInteger(by)) throw new RangeError(`incr: by must be an integer, got ${by}`);
      const fullKey = prefix + key;
      const at = now();
      const entry = read(fullKey);
      let current = 0;
      if (entry !== undefined) {
        current = INTEGER.test(entry.value) ? Number(entry.value) : Number.NaN;
        if (!Number.isSafeInteger(current)) throw new Error(`incr: the value at ${key} is not an integer`);
      }
      const value = current + by;
      if (!Number.isSafeInteger(value)) throw new RangeError(`incr: the value at ${key} would overflow`);
      // The deadline is fixed when the key is created (or first given one): the window does not slide.
      const expiresAt = entry?.expiresAt ?? at + windowMs;
      entries.set(fullKey, { value: String(value), expiresAt });
      // Clamped: fractional clock readings must not announce more than the window itself.
      return { value, ttlMs: Math.min(ttlSeconds * 1000, Math.max(0, Math.ceil(expiresAt - at))) };
    },

    async take(key) {
      assertOpen();
      const fullKey = prefix + key;
      const entry = read(fullKey);
      if (entry === undefined) return null;
      entries.delete(fullKey);
      return entry.value;
    },

    async publish(channel, message) {
      assertOpen();
      const subscriptions = channels.get(prefix + channel);
      if (subscriptions === undefined) return;
      for (const subscription of [...subscriptions]) {
        queueMicrotask(() => {
          // Unsubscribed (or closed) after the publish: like Redis, no delivery once unsubscribe has returned.
          if (closed || !subscriptions.has(subscription)) return;
          try {
            subscription.handler(message);
          } catch (error) {
            onError(error);
          }
        });
      }
    },

    async subscribe(channel, handler) {
      assertOpen();
      const fullChannel = prefix + channel;
      let subscriptions = channels.get(fullChannel);
      if (subscriptions === undefined) {
        subscriptions = new Set();
        channels.set(fullChannel, subscriptions);
      }
      // One object per call, so the same function subscribed twice is two subscriptions.
      const subscription: Subscription = { handler };
      subscriptions.add(subscription);
      return async (): Promise<void> => {
        const current = channels.get(fullChannel);
        if (current === undefined) return;
        current.delete(subscription);
        if (current.size === 0) channels.delete(fullChannel);
      };
    },

    async ping() {
      assertOpen();
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      entries.clear();
      channels.clear();
    },
  };
}
