import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/app/app.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase, type Database } from '../../src/platform/db/database.js';
import { createTestApp, logCollector, type TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { testClient } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from './receiver.js';

/*
 * Two server instances on one PostgreSQL database and one Redis, both running job workers and the
 * outbox dispatcher: events produced through either instance are each delivered, and none twice
 * (the dispatchers share the outbox with FOR UPDATE SKIP LOCKED, a delivery is unique per endpoint
 * and event, and each delivery job runs once).
 */

const EVENTS = 30;
const { redisUrl } = inject('services');

describe.skipIf(!engines().includes('postgres') || !redisUrl)('webhooks across two instances on PostgreSQL + Redis', () => {
  let appA: TestApp;
  let appB: App;
  let dbB: Database;
  let receiver: Receiver;
  const viaA = testClient(() => appA);
  const viaB = testClient(() => appB);

  beforeAll(async () => {
    receiver = await startReceiver();
    const prefix = `test:webhooks:${randomBytes(6).toString('hex')}:`;
    appA = await createTestApp({ engine: 'postgres', env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }, build: { cache: await createRedisCache(redisUrl!, { prefix }) } });
    // Instance B: its own pool on the same database, the same Redis prefix, workers and dispatcher running.
    dbB = createPostgresDatabase({ url: appA.database.url!, max: 5 });
    appB = await buildApp(appA.config, { db: dbB, cache: await createRedisCache(redisUrl!, { prefix }), logDestination: logCollector().stream });
  });
  afterAll(async () => {
    await appB?.close();
    await appA?.destroy();
    receiver?.assertAllVerified();
    await receiver?.close();
  });

  it(`${EVENTS} org updates through instances A and B: each arrives once, signed, and each has one delivery`, async () => {
    const owner = await viaA.signedIn('owner');
    const orgId = (await viaA.createOrg(owner, { name: 'Two instances' })).id;
    const { path, url } = receiver.endpoint('two');
    const created = await viaB.call('POST', `/v1/orgs/${orgId}/webhooks`, owner.token, { url, event_types: ['org.updated'] });
    expect(created.statusCode, created.body).toBe(201);
    const { id: endpointId, secret } = created.json<{ id: string; secret: string }>();
    receiver.expectSecrets(path, [secret]);

    // Concurrent renames, every other one through each instance.
    const names = Array.from({ length: EVENTS }, (_, i) => `Rename ${i} ${randomBytes(3).toString('hex')}`);
    const answers = await Promise.all(
      names.map((name, i) => (i % 2 === 0 ? viaA : viaB).call('PATCH', `/v1/orgs/${orgId}`, owner.token, { name })),
    );
    for (const res of answers) expect(res.statusCode, res.body).toBe(200);
    const { rows: events } = await appA.context.db.sql.query<{ id: string }>(`SELECT id FROM events WHERE org_id = $1 AND type = 'org.updated'`, [orgId]);
    expect(events).toHaveLength(EVENTS);

    await receiver.waitForDeliveries(path, secret, EVENTS, 60_000);
    // Let anything still in flight land before counting: every delivery done (the deliveries table is the queue).
    await waitFor(async () => {
      const { rows } = await appA.context.db.sql.query<{ n: string }>(`SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'succeeded'`, [endpointId]);
      return Number(rows[0]!.n) === 0;
    }, 30_000, 'every delivery to succeed');

    const payloads = receiver.verified(path, secret);
    const perId = new Map<string, number>();
    for (const payload of payloads) perId.set(payload.webhookId, (perId.get(payload.webhookId) ?? 0) + 1);
    expect([...perId.keys()].sort()).toEqual(events.map((e) => e.id).sort());
    expect([...perId.entries()].filter(([, count]) => count > 1)).toEqual([]);
    expect(payloads).toHaveLength(EVENTS);

    const { rows: deliveries } = await appA.context.db.sql.query<{ event_id: string; attempts: number }>('SELECT event_id, attempts FROM webhook_deliveries WHERE endpoint_id = $1', [endpointId]);
    expect(deliveries).toHaveLength(EVENTS);
    expect(deliveries.every((d) => d.attempts === 1)).toBe(true);
    const { rows: undispatched } = await appA.context.db.sql.query(`SELECT id FROM events WHERE org_id = $1 AND dispatched_at IS NULL`, [orgId]);
    expect(undispatched).toEqual([]);
  });
});
