import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Cache } from './cache.js';

/**
 * Redis cache adapter (ioredis 6), shared by every instance of a deployment.
 *
 * - Every key and channel carries `prefix` (default `tessera:`), added here rather than through
 *   ioredis `keyPrefix`, which does not reach Lua scripts' keys or pub/sub channels.
 * - It fails fast while Redis is away: no offline queue, one retry per request, a command timeout
 *   (default 1000 ms), so callers (and /health/ready) get an error instead of waiting; the connection
 *   keeps reconnecting in the background with capped backoff and resubscribes its channels.
 * - Commands that were in flight when the connection dropped are not replayed after reconnecting:
 *   their callers have already been told they failed, and replaying an INCR would count twice.
 * - Subscriptions share one second connection; a channel is unsubscribed when its last handler goes.
 */
export interface RedisCacheOptions {
  /** Namespace for keys and channels. Default `tessera:`. */
  prefix?: string;
  /** How long a command may wait for its reply before it fails. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Called with connection errors (while reconnecting) and errors thrown by subscription handlers. Default: ignored. */
  onError?: (error: unknown) => void;
}

/** One object per subscribe() call, so the same function subscribed twice is two subscriptions. */
interface Subscription {
  handler: (message: string) => void;
}

const DEFAULT_PREFIX = 'tessera:';
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * INCRBY, then give the key its window if it has none: that is when the key was just created (or,
 * defensively, when something stored it without a TTL; a counter must never live forever).
 * Returns [new value, milliseconds left].
 */
const INCR_SCRIPT = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { value, ttl }
`;
const INCR_SHA = createHash('sha1').update(INCR_SCRIPT).digest('hex');

function ttlToMs(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive number, got ${ttlSeconds}`);
  }
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

/** The URL without its password, for error messages. */
function describeUrl(url: URL): string {
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  return shown.href;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Connects eagerly; rejects with the address and the cause when Redis does not answer. */
async function connect(client: Redis, url: URL, lastError: () => unknown): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    client.disconnect(); // stop the background reconnects of a client we are giving up on
    const cause = lastError() ?? error;
    throw new Error(`Cannot connect to Redis at ${describeUrl(url)}: ${errorMessage(cause)}`, { cause });
  }
}

export async function createRedisCache(url: string, options: RedisCacheOptions = {}): Promise<Cache> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('The Redis URL is not a valid URL (expected redis://[user:password@]host:port[/db])');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`The Redis URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (!Number.isFinite(commandTimeout) || commandTimeout <= 0) {
    throw new RangeError(`commandTimeoutMs must be a positive number, got ${commandTimeout}`);
  }
  const onError = options.onError ?? ((): void => undefined);

  const clientOptions: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(times * 100, MAX_RECONNECT_DELAY_MS),
  };

  // Without an 'error' listener ioredis prints every failed reconnect; errors are reported through
  // onError instead, and commands reject on their own.
  let mainError: unknown;
  const main = new Redis(url, clientOptions);
  main.on('error', (error: unknown) => {
    mainError = error;
    onError(error);
  });
  let subscriberError: unknown;
  const subscriber = main.duplicate();
  subscriber.on('error', (error: unknown) => {
    subscriberError = error;
    onError(error);
  });

  const connected = await Promise.allSettled([
    connect(main, parsed, () => mainError),
    connect(subscriber, parsed, () => subscriberError),
  ]);
  const failure = connected.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    main.disconnect();
    subscriber.disconnect();
    throw failure.reason;
  }

  // Full channel name -> handler registrations.
  const channels = new Map<string, Set<Subscription>>();
  // Channels the subscriber connection is subscribed to (as far as we have been told).
  const subscribed = new Set<string>();
  // Per-channel chain, so SUBSCRIBE/UNSUBSCRIBE for one channel never interleave.
  const pending = new Map<string, Promise<void>>();

  subscriber.on('message', (channel: string, message: string) => {
    const subscriptions = channels.get(channel);
    if (subscriptions === undefined) return;
    for (const subscription of [...subscriptions]) {
      try {
        subscription.handler(message);
      } catch (error) {
        onError(error);
      }
    }
  });

  /** Brings the server-side subscription of one channel in line with whether it has handlers. */
  function reconcile(fullChannel: string): Promise<void> {
    const previous = pending.get(fullChannel) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const wanted = (channels.get(fullChannel)?.size ?? 0) > 0;
        if (wanted && !subscribed.has(fullChannel)) {
          await subscriber.subscribe(fullChannel);
          subscribed.add(fullChannel);
        } else if (!wanted && subscribed.has(fullChannel)) {
          await subscriber.unsubscribe(fullChannel);
          subscribed.delete(fullChannel);
        }
      });
    pending.set(fullChannel, next);
    const forget = (): void => {
      if (pending.get(fullChannel) === next) pending.delete(fullChannel);
    };
    next.then(forget, forget);
    return next;
  }

  function removeSubscription(fullChannel: string, subscription: Subscription): void {
    const subscriptions = channels.get(fullChannel);
    if (subscriptions === undefined) return;
    subscriptions.delete(subscription);
    if (subscriptions.size === 0) channels.delete(fullChannel);
  }

  async function incr(fullKey: string, by: number, windowMs: number): Promise<unknown> {
    try {
      return await main.evalsha(INCR_SHA, 1, fullKey, by, windowMs);
    } catch (error) {
      if (!errorMessage(error).startsWith('NOSCRIPT')) throw error;
      return main.eval(INCR_SCRIPT, 1, fullKey, by, windowMs);
    }
  }

  let closing: Promise<void> | undefined;

  return {
    kind: 'redis',

    async get(key) {
      return main.get(prefix + key);
    },

    async set(key, value, setOptions = {}) {
      const fullKey = prefix + key;
      const ttl = setOptions.ttlSeconds === undefined ? undefined : ttlToMs(setOptions.ttlSeconds);
      let reply: 'OK' | null;
      if (ttl === undefined) {
        reply = setOptions.onlyIfAbsent ? await main.set(fullKey, value, 'NX') : await main.set(fullKey, value);
      } else {
        reply = setOptions.onlyIfAbsent
          ? await main.set(fullKey, value, 'PX', ttl, 'NX')
          : await main.set(fullKey, value, 'PX', ttl);
      }
      return reply === 'OK';
    },

    async delete(key) {
      return (await main.del(prefix + key)) > 0;
    },

    async incr(key, ttlSeconds, by = 1) {
      const windowMs = ttlToMs(ttlSeconds);
      if (!Number.isSafeInteger(by)) throw new RangeError(`incr: by must be an integer, got ${by}`);
      const reply = await incr(prefix + key, by, windowMs);
      if (!Array.isArray(reply) || reply.length !== 2) {
        throw new Error(`incr: unexpected reply from Redis: ${JSON.stringify(reply)}`);
      }
      const value = Number(reply[0]);
      const ttlMs = Number(reply[1]);
      if (!Number.isSafeInteger(value) || !Number.isFinite(ttlMs)) {
        throw new Error(`incr: unexpected reply from Redis: ${JSON.stringify(reply)}`);
      }
      return { value, ttlMs: Math.max(0, ttlMs) };
    },

    async take(key) {
      return main.getdel(prefix + key);
    },

    async publish(channel, message) {
      await main.publish(prefix + channel, message);
    },

    async subscribe(channel, handler) {
      const fullChannel = prefix + channel;
      let subscriptions = channels.get(fullChannel);
      if (subscriptions === undefined) {
        subscriptions = new Set();
        channels.set(fullChannel, subscriptions);
      }
      const subscription: Subscription = { handler };
      subscriptions.add(subscription);
      try {
        await reconcile(fullChannel);
      } catch (error) {
        removeSubscription(fullChannel, subscription);
        throw error;
      }
      let active = true;
      return async (): Promise<void> => {
        if (!active) return;
        active = false;
        removeSubscription(fullChannel, subscription);
        await reconcile(fullChannel);
      };
    },

    async ping() {
      await main.ping();
    },

    close() {
      closing ??= (async (): Promise<void> => {
        channels.clear();
        await Promise.all(
          [main, subscriber].map(async (client) => {
            try {
              await client.quit();
            } catch {
              client.disconnect(); // Redis is away: just drop the socket and stop reconnecting
            }
          }),
        );
      })();
      return closing;
    },
  };
}
