import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Metrics } from '../../platform/metrics/metrics.js';
import { httpErrors } from '../../platform/http/errors.js';
import { metricsTokenMatches } from '../../platform/metrics/listener.js';

export interface DependencyCheck {
  /** Shown in the report, e.g. `pglite` or `redis`. */
  kind: string;
  /** A dependency that is down makes ready answer 503 when required. */
  required: boolean;
  check(): Promise<void>;
}

const Check = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  kind: Type.String(),
  required: Type.Boolean(),
  latency_ms: Type.Number(),
  error: Type.Optional(Type.String()),
});
const Ready = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  version: Type.String(),
  uptime_seconds: Type.Number(),
  checks: Type.Record(Type.String(), Check),
});
type ReadyBody = Static<typeof Ready>;

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(dependency: DependencyCheck): Promise<Static<typeof Check>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      dependency.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', kind: dependency.kind, required: dependency.required, latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return {
      status: 'down',
      kind: dependency.kind,
      required: dependency.required,
      latency_ms: Math.round(performance.now() - started),
      // The class of failure only: connection strings and hosts stay out of a public endpoint.
      error: error instanceof Error && /no answer within/.test(error.message) ? 'timeout' : 'unreachable',
    };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(
  server: HttpServer,
  deps: { version: string; startedAt: number; checks: Record<string, DependencyCheck>; metrics: Metrics; metricsToken?: string },
): void {
  server.get(
    '/health/live',
    { config: { rateLimit: false }, schema: { tags: ['health'], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  server.get(
    '/health/ready',
    {
      config: { rateLimit: false },
      schema: { tags: ['health'], summary: 'Every required dependency answers', response: { 200: Ready, 503: Ready } },
    },
    async (_request, reply) => {
      const names = Object.keys(deps.checks);
      const results = await Promise.all(names.map((name) => runCheck(deps.checks[name]!)));
      const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
      const ready = results.every((result) => result.status === 'up' || !result.required);
      const body: ReadyBody = {
        status: ready ? 'ready' : 'unavailable',
        version: deps.version,
        uptime_seconds: Math.round((Date.now() - deps.startedAt) / 1000),
        checks,
      };
      reply.header('cache-control', 'no-store');
      return reply.code(ready ? 200 : 503).send(body);
    },
  );

  // Closed unless a token is set: without METRICS_TOKEN the route does not exist on the API port
  // (404, like any unknown path); METRICS_LISTEN may serve metrics on loopback instead.
  const { metricsToken } = deps;
  if (metricsToken === undefined) return;
  server.get(
    '/metrics',
    { config: { rateLimit: false }, schema: { tags: ['health'], summary: 'Prometheus metrics (Authorization: Bearer <METRICS_TOKEN>)', hide: true } },
    async (request, reply) => {
      if (!metricsTokenMatches(request.headers.authorization, metricsToken)) {
        throw httpErrors.unauthorized('Send Authorization: Bearer <METRICS_TOKEN>', undefined, { 'www-authenticate': 'Bearer' });
      }
      const text = await deps.metrics.registry.metrics();
      return reply.header('cache-control', 'no-store').type(deps.metrics.registry.contentType).send(text);
    },
  );
}
