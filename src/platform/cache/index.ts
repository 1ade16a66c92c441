import type { Cache } from './cache.js';
import { createMemoryCache, type MemoryCacheOptions } from './memory.js';
import { createRedisCache, type RedisCacheOptions } from './redis.js';

export type { Cache } from './cache.js';
export { createMemoryCache, type MemoryCacheOptions } from './memory.js';
export { createRedisCache, type RedisCacheOptions } from './redis.js';

export type CacheOptions = MemoryCacheOptions & RedisCacheOptions;

/**
 * Redis when a URL is configured (several instances share it), else the in-process cache (one
 * embedded instance). Rejects when the Redis URL is given but Redis does not answer.
 */
export async function createCache(redisUrl: string | undefined, options: CacheOptions = {}): Promise<Cache> {
  if (redisUrl !== undefined && redisUrl !== '') return createRedisCache(redisUrl, options);
  return createMemoryCache(options);
}
