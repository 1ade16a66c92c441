import type { FastifyRequest } from 'fastify';
import type { Cache } from '../cache/cache.js';
import { httpErrors } from './errors.js';
import { RetryProblem } from './schemas.js';
import type { HttpServer } from './server.js';

export interface RateLimitRule {
  max: number;
  windowSeconds: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which configured group limits this route (default `default`); `false` exempts it (health, metrics). */
    rateLimit?: string | false;
  }
}

/**
 * Fixed-window per-IP limits on the cache port, so every instance counts together on Redis.
 * Each route belongs to a group (`config: { rateLimit: 'auth' }`); groups and their limits come from
 * configuration. Answers carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and a
 * refusal is a 429 problem with `Retry-After`. When the cache does not answer, requests pass (the
 * limiter fails open and logs): an outage of Redis must not take sign-in down with it.
 */
export function installRateLimit(server: HttpServer, deps: { cache: Cache; groups: Record<string, RateLimitRule> }): void {
  // Every limited route may answer 429: its documented answers say so (routes added after this call, which is all of them).
  server.addHook('onRoute', (route) => {
    if (route.config?.rateLimit === false || !route.schema || route.schema.hide) return;
    const responses = (route.schema.response ??= {}) as Record<number, unknown>;
    responses[429] ??= RetryProblem;
  });
  server.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const group = request.routeOptions.config?.rateLimit ?? 'default';
    if (group === false) return;
    const rule = deps.groups[group] ?? deps.groups.default;
    if (!rule) return;
    let counted: { value: number; ttlMs: number };
    try {
      counted = await deps.cache.incr(`rl:${group}:${request.ip}`, rule.windowSeconds);
    } catch (error) {
      request.log.warn({ err: error }, 'rate limiter: cache unavailable, request not counted');
      return;
    }
    const resetSeconds = Math.max(1, Math.ceil(counted.ttlMs / 1000));
    reply.header('ratelimit-limit', rule.max);
    reply.header('ratelimit-remaining', Math.max(0, rule.max - counted.value));
    reply.header('ratelimit-reset', resetSeconds);
    if (counted.value > rule.max) {
      throw httpErrors.rate_limited(`Too many requests; try again in ${resetSeconds} s`, { retry_after: resetSeconds }, { 'retry-after': String(resetSeconds) });
    }
  });
}
