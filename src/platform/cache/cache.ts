/**
 * The cache port: short-lived shared state (rate-limit counters, one-time challenges, settings
 * broadcasts). Two adapters, in-process (`memory.ts`) and Redis (`redis.ts`), pass one contract
 * suite (`cache.contract.test.ts`). Keys and channels are plain strings; adapters add their own
 * namespace prefix. Values are strings: callers serialise.
 */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  /** Stores value; with ttlSeconds it expires. With onlyIfAbsent, returns false and writes nothing when the key exists. */
  set(key: string, value: string, options?: { ttlSeconds?: number; onlyIfAbsent?: boolean }): Promise<boolean>;
  /** Returns true when a key was removed. */
  delete(key: string): Promise<boolean>;
  /**
   * Atomically adds `by` (default 1) and returns the new value with the milliseconds left before the
   * key expires. The TTL is set only when the key is created, so a window does not slide.
   */
  incr(key: string, ttlSeconds: number, by?: number): Promise<{ value: number; ttlMs: number }>;
  /** Atomic get-and-delete: the one-time consume of a challenge or code. Two concurrent takes: one wins. */
  take(key: string): Promise<string | null>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is live; the returned function unsubscribes. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  /** Throws when the backend does not answer (used by /health/ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
