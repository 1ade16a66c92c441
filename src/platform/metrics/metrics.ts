import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Jobs } from '../jobs/jobs.js';

export interface Metrics {
  readonly registry: Registry;
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
}

/**
 * Prometheus metrics of one app instance (a registry of its own, so several apps in one process,
 * as in tests, don't collide): requests and latency per route, job counts per queue and state,
 * and the process metrics of prom-client.
 */
export function createMetrics(deps: { jobs: Jobs }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tessera_' });
  const requests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'tessera_jobs',
    help: 'Jobs in the queue, by queue and state',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const row of await deps.jobs.counts()) this.set({ queue: row.queue, state: row.state }, row.count);
      } catch {
        // The database is down: /health/ready says so; metrics still answer.
      }
    },
  });
  return {
    registry,
    observeRequest(labels, seconds) {
      const values = { method: labels.method, route: labels.route, status: String(labels.status) };
      requests.inc(values);
      latency.observe(values, seconds);
    },
  };
}
