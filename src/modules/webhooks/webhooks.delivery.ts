import type { Database, DbHandle } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import { createPoller } from '../../platform/jobs/poller.js';
import { newId } from '../../platform/crypto/ids.js';
import { describeFailure, type OutboundPolicy } from '../../platform/delivery/index.js';
import type { Messenger } from '../communications/index.js';
import { EVENT_TYPES, isUserScoped } from './webhooks.catalogue.js';
import { postJson } from './webhooks.http.js';
import {
  addFailures, claimDueDeliveries, claimEvents, disableEndpoint, enabledEndpointsOf, endpointsByIds, insertAttempts, insertDeliveries, markDispatched, orgAdmins,
  orgsOfUsers, recordOutcomes, type DeliveryOutcome, type DeliveryRow, type EndpointRow, type OutboxEvent,
} from './webhooks.queries.js';
import { signatureHeader, type WebhooksService } from './webhooks.service.js';

/*
 * At-least-once delivery. Events are written to the outbox (`events`) in the transaction of the
 * change; the dispatcher claims undispatched events (FOR UPDATE SKIP LOCKED, so several instances
 * share the work and none takes an event twice), creates one delivery per subscribed endpoint
 * (unique per endpoint and event) and marks the events dispatched, in one transaction. The
 * deliveries table is itself the queue: delivery lanes claim due deliveries (SKIP LOCKED again,
 * with a lease that lapses if the instance dies mid-send), POST them, and record each attempt and
 * outcome; a failure sets the next attempt by the retry schedule (with jitter). Consecutive failed
 * attempts past the limit disable the endpoint and tell the organization's admins; its deliveries
 * pause, and resume when it is enabled again.
 */

export interface WebhookSettings {
  retryScheduleSeconds: readonly number[];
  disableAfterFailures: number;
  timeoutSeconds: number;
}

export interface WebhookDispatcher {
  /** Starts polling the outbox (instances that run workers). */
  start(): void;
  stop(): Promise<void>;
  /** One batch: returns how many events it took. */
  dispatchOnce(): Promise<number>;
  /** One round of one delivery lane: how many deliveries it claimed. */
  deliverOnce(): Promise<number>;
}

const BATCH = 200;
/** Deliveries one lane claims and sends at once, and lanes per instance (a slow receiver holds up one lane, not all). */
const LANE_BATCH = 25;
const LANES = 4;
/** The longest an idle dispatcher or lane waits before looking again (the first event after a quiet spell waits at most this). */
const IDLE_MAX_MS = 2000;

/** The user an event about a person concerns. */
function userOf(event: OutboxEvent): string | null {
  const id = event.payload.user_id ?? (event.type.startsWith('user.') ? event.payload.id : undefined);
  return typeof id === 'string' ? id : null;
}

export function createWebhookDelivery(deps: {
  db: Database;
  audit: Audit;
  webhooks: WebhooksService;
  messenger: Messenger;
  policy: OutboundPolicy;
  settings: WebhookSettings;
  pollIntervalMs?: number;
  onError?: (error: unknown) => void;
}): WebhookDispatcher {
  const { db, audit, webhooks, messenger, policy, settings } = deps;
  const pollMs = deps.pollIntervalMs ?? 250;

  async function dispatchOnce(): Promise<number> {
    const { taken, created } = await db.transaction(async (tx) => {
      const events = await claimEvents(tx, BATCH);
      if (events.length === 0) return { taken: 0, created: 0 };
      const userIds = [...new Set(events.filter((event) => !event.orgId && isUserScoped(event.type)).map(userOf).filter((id): id is string => id !== null))];
      const memberships = await orgsOfUsers(tx, userIds);
      const orgIds = new Set<string>(memberships.map((m) => m.orgId));
      for (const event of events) if (event.orgId) orgIds.add(event.orgId);
      const endpoints = await enabledEndpointsOf(tx, [...orgIds]);
      const rows = [];
      for (const event of events) {
        if (!EVENT_TYPES[event.type]) continue;
        // Who hears it is decided as of the event: a person's organizations they had joined by then,
        // endpoints that existed by then (one created a moment later does not get what came before it).
        const audience = event.orgId ? [event.orgId] : memberships.filter((m) => m.userId === userOf(event) && m.since <= event.createdAt).map((m) => m.orgId);
        const payload = { type: event.type, timestamp: event.createdAt.toISOString(), data: event.payload };
        for (const endpoint of endpoints) {
          if (!audience.includes(endpoint.orgId) || endpoint.createdAt > event.createdAt) continue;
          if (!endpoint.eventTypes.includes('*') && !endpoint.eventTypes.includes(event.type)) continue;
          rows.push({ orgId: endpoint.orgId, id: newId('whd'), endpointId: endpoint.id, eventId: event.id, eventType: event.type, payload, status: 'pending', nextAttemptAt: new Date() });
        }
      }
      const inserted = await insertDeliveries(tx, rows);
      await markDispatched(tx, events.map((event) => event.id));
      return { taken: events.length, created: inserted.length };
    });
    // The deliveries are committed: this instance's lanes need not wait for their next look.
    if (created > 0) for (const lane of lanes) lane.wake();
    return taken;
  }

  /** Disables an endpoint over the limit (once, even with racing instances), audits it and tells its owners and admins. */
  async function disable(tx: DbHandle, endpoint: EndpointRow, failures: number): Promise<void> {
    const reason = `${failures} delivery attempts in a row failed`;
    if (!(await disableEndpoint(tx, endpoint.orgId, endpoint.id, reason))) return;
    await audit.record(tx, { actor: { type: 'system' }, orgId: endpoint.orgId, action: 'webhook.disabled', target: { type: 'webhook_endpoint', id: endpoint.id }, reason });
    for (const userId of await orgAdmins(tx, endpoint.orgId)) {
      const data = { endpoint_id: endpoint.id, url: endpoint.url, reason };
      await messenger.notify({ channel: 'email', userId, template: 'webhooks.endpoint_disabled', data, category: 'organization' }, { tx });
      await messenger.notify({ channel: 'in_app', userId, template: 'webhooks.endpoint_disabled', data, category: 'organization' }, { tx });
    }
  }

  interface Sent {
    delivery: DeliveryRow;
    endpoint: EndpointRow;
    status: number | null;
    latencyMs: number;
    body: string | null;
    error: string | null;
  }

  async function post(delivery: DeliveryRow, endpoint: EndpointRow): Promise<Sent> {
    const body = JSON.stringify(delivery.payload);
    const at = new Date();
    const headers = {
      'webhook-id': delivery.eventId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signatureHeader(webhooks.secretsOf(endpoint, at), delivery.eventId, at, body),
    };
    const started = performance.now();
    try {
      const result = await postJson(endpoint.url, body, headers, { ...policy, timeoutMs: settings.timeoutSeconds * 1000 });
      const error = result.status >= 200 && result.status < 300 ? null : result.status >= 300 && result.status < 400 ? `HTTP ${result.status} (redirects are not followed)` : `HTTP ${result.status}`;
      return { delivery, endpoint, status: result.status, latencyMs: result.latencyMs, body: result.body, error };
    } catch (failure) {
      return { delivery, endpoint, status: null, latencyMs: Math.round(performance.now() - started), body: null, error: describeFailure(failure) };
    }
  }

  /**
   * One round of one lane: claim due deliveries, POST them all at once, then write every attempt,
   * outcome and endpoint failure count in one transaction (a reader never sees an attempt without
   * its outcome). Returns whether the claim was full (more may be waiting).
   */
  async function deliverOnce(): Promise<number> {
    const claimed = await claimDueDeliveries(db, LANE_BATCH, settings.timeoutSeconds + 60);
    if (claimed.length === 0) return 0;
    const endpoints = new Map((await endpointsByIds(db, [...new Set(claimed.map((d) => d.endpointId))])).map((e) => [e.id, e]));
    const paused: DeliveryOutcome[] = [];
    const sending: Promise<Sent>[] = [];
    for (const delivery of claimed) {
      const endpoint = endpoints.get(delivery.endpointId);
      if (!endpoint) continue; // deleted meanwhile: its deliveries went with it
      if (!endpoint.enabled) paused.push({ orgId: delivery.orgId, id: delivery.id, status: 'paused', attempts: delivery.attempts, lastStatusCode: delivery.lastStatusCode, nextAttemptAt: null });
      else sending.push(post(delivery, endpoint));
    }
    const results = await Promise.all(sending);
    await db.transaction(async (tx) => {
      await insertAttempts(tx, results.map((r) => ({
        orgId: r.delivery.orgId, deliveryId: r.delivery.id, attempt: r.delivery.attempts + 1, statusCode: r.status, latencyMs: r.latencyMs, responseBody: r.body, error: r.error,
      })));
      // Per endpoint: failures after its last success in this round count on from zero, else on from before.
      const overLimit = new Set<string>();
      for (const endpoint of new Set(results.map((r) => r.endpoint))) {
        const mine = results.filter((r) => r.endpoint === endpoint);
        const lastSuccess = mine.map((r) => r.error === null).lastIndexOf(true);
        const failuresAfter = mine.slice(lastSuccess + 1).length;
        if (lastSuccess < 0 || endpoint.consecutiveFailures > 0 || failuresAfter > 0) {
          const count = await addFailures(tx, endpoint.orgId, endpoint.id, failuresAfter, lastSuccess >= 0);
          if (failuresAfter > 0 && count >= settings.disableAfterFailures) {
            overLimit.add(endpoint.id);
            await disable(tx, endpoint, count);
          }
        }
      }
      const schedule = settings.retryScheduleSeconds;
      const outcomes: DeliveryOutcome[] = results.map((r) => {
        const attempts = r.delivery.attempts + 1;
        const base = { orgId: r.delivery.orgId, id: r.delivery.id, attempts, lastStatusCode: r.status };
        if (r.error === null) return { ...base, status: 'succeeded', nextAttemptAt: null };
        if (overLimit.has(r.endpoint.id)) return { ...base, status: 'paused', nextAttemptAt: null };
        if (attempts > schedule.length) return { ...base, status: 'failed', nextAttemptAt: null };
        // Jitter (±10%) spreads retries of many deliveries that failed together.
        const delay = Math.max(1, Math.round(schedule[attempts - 1]! * (0.9 + Math.random() * 0.2)));
        return { ...base, status: 'retrying', nextAttemptAt: new Date(Date.now() + delay * 1000) };
      });
      await recordOutcomes(tx, [...paused, ...outcomes]);
    });
    return claimed.length;
  }

  const onError = deps.onError ? { onError: deps.onError } : {};
  const lanes = Array.from({ length: LANES }, () => createPoller(deliverOnce, { batch: LANE_BATCH, minMs: pollMs, maxMs: IDLE_MAX_MS, ...onError }));
  const poller = createPoller(dispatchOnce, { batch: BATCH, minMs: pollMs, maxMs: IDLE_MAX_MS, ...onError });

  return {
    start() {
      poller.start();
      for (const lane of lanes) lane.start();
    },
    async stop() {
      await Promise.all([poller.stop(), ...lanes.map((lane) => lane.stop())]);
    },
    dispatchOnce,
    deliverOnce,
  };
}
