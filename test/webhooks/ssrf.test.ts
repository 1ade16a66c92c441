import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { testClient, type Method } from '../helpers/client.js';
import { expectProblem } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from './receiver.js';

/*
 * Server-side request forgery, with WEBHOOK_ALLOW_PRIVATE_NETWORKS off (the default): private,
 * loopback, link-local and metadata destinations are refused when an endpoint is saved (422
 * unsafe_url, nothing stored), and again when a delivery is sent. The send-time check is shown
 * without any DNS server: the stored URL is changed in the database after it was saved (as a DNS
 * change after saving would), to a name that resolves to loopback through /etc/hosts (`localhost`)
 * and to loopback literals; a receiver listening there gets nothing, and the attempt says why.
 */

const { redisUrl } = inject('services');
/** A public address (never contacted: nothing these tests do sends to it). */
const PUBLIC_URL = 'http://93.184.215.14/hooks';

const REFUSED = [
  'http://127.0.0.1/hook', 'http://127.0.0.1:8080/hook', 'http://10.0.0.1/', 'http://172.16.5.4/', 'http://192.168.0.10/', 'http://169.254.169.254/latest/meta-data',
  'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:169.254.169.254]/', 'http://[fd00:ec2::254]/', 'http://0.0.0.0/', 'http://2130706433/',
  'http://localhost/', 'http://localhost:3000/hook', 'http://metadata.google.internal/computeMetadata/v1/', 'https://127.0.0.1/hook',
];

describe.each(engineCases())('SSRF protection on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}${engine === 'postgres' ? ' + Redis' : ''}`, () => {
    let app: TestApp;
    let receiver: Receiver;
    let token: string;
    let orgId: string;
    const api = testClient(() => app);
    const { query } = api;
    /** A call as the organization's owner. */
    const call = (method: Method, url: string, payload?: unknown) => api.call(method, url, token, payload);
    const endpoints = () => query<{ id: string; url: string }>('SELECT id, url FROM webhook_endpoints WHERE org_id = $1 ORDER BY id', [orgId]);

    beforeAll(async () => {
      receiver = await startReceiver();
      // The first retry an hour away: a refused first attempt stays `retrying` while the test looks (a 5 s retry raced it on a loaded machine).
      app = await createEngineApp(engine, { WEBHOOK_RETRY_SCHEDULE_SECONDS: '3600' });
      expect(app.config.webhooks.allowPrivateNetworks).toBe(false);
      const owner = await api.signedIn('owner');
      token = owner.token;
      orgId = (await api.createOrg(owner, { name: `SSRF ${randomBytes(3).toString('hex')}` })).id;
      // Enterprise: the tier limit on endpoints does not get in the way.
      await query(`UPDATE organizations SET tier = 'enterprise' WHERE id = $1`, [orgId]);
    });
    afterAll(async () => {
      await app?.destroy();
      await receiver?.close();
    });

    it.each(REFUSED)('saving %s is refused: 422 unsafe_url, nothing stored', async (url) => {
      const problem = expectProblem(await call('POST', `/v1/orgs/${orgId}/webhooks`, { url, event_types: ['org.updated'] }), 422, 'unsafe_url');
      expect(problem.errors).toEqual([{ path: 'body.url', message: expect.stringMatching(/private|loopback|local|reserved/) }]);
      expect((await endpoints()).filter((row) => row.url === url)).toEqual([]);
    });

    it('a public address is accepted; changing it to a private one is refused and leaves it as it was', async () => {
      const created = await call('POST', `/v1/orgs/${orgId}/webhooks`, { url: PUBLIC_URL, event_types: ['org.deleted'] });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json<{ id: string }>().id;
      for (const url of ['http://169.254.169.254/latest/meta-data', 'http://[::1]:8080/', 'http://localhost/']) {
        expectProblem(await call('PATCH', `/v1/orgs/${orgId}/webhooks/${id}`, { url }), 422, 'unsafe_url');
      }
      expect((await endpoints()).find((row) => row.id === id)).toEqual({ id, url: PUBLIC_URL });
    });

    /** An endpoint saved with a public URL whose stored URL then points at the receiver (as if its DNS changed). */
    async function rebound(url: (port: number) => string): Promise<{ id: string; path: string }> {
      const created = await call('POST', `/v1/orgs/${orgId}/webhooks`, { url: PUBLIC_URL, event_types: ['org.deleted'] });
      expect(created.statusCode, created.body).toBe(201);
      const { id, secret } = created.json<{ id: string; secret: string }>();
      const target = url(receiver.port);
      const path = new URL(target).pathname;
      receiver.expectSecrets(path, [secret]);
      await query('UPDATE webhook_endpoints SET url = $1 WHERE id = $2', [target, id]);
      return { id, path };
    }

    it.each([
      ['a name that resolves to loopback (localhost, through /etc/hosts)', (port: number) => `http://localhost:${port}/h/rebound-name`, /localhost resolves to a forbidden address/],
      ['a loopback IPv4 literal', (port: number) => `http://127.0.0.1:${port}/h/rebound-v4`, /127\.0\.0\.1 is a forbidden address/],
      ['an IPv4-mapped IPv6 literal of loopback', (port: number) => `http://[::ffff:127.0.0.1]:${port}/h/rebound-mapped`, /forbidden address/],
    ])('at send time, %s is refused: the receiver gets nothing, the attempt records why', async (_label, url, reason) => {
      const { id, path } = await rebound(url);
      const sent = await call('POST', `/v1/orgs/${orgId}/webhooks/${id}/test`);
      expect(sent.statusCode, sent.body).toBe(202);
      const deliveryId = sent.json<{ id: string }>().id;
      const delivery = await waitFor(async () => {
        const res = await call('GET', `/v1/orgs/${orgId}/webhooks/${id}/deliveries`);
        const found = res.json<{ data: { id: string; status: string; attempts: { status_code: number | null; error: string | null }[] }[] }>().data.find((d) => d.id === deliveryId);
        return found && found.status !== 'pending' && found.attempts.length > 0 && found;
      }, 20_000, 'the first attempt');
      expect(delivery.status).toBe('retrying');
      expect(delivery.attempts[0]).toMatchObject({ status_code: null, error: expect.stringMatching(reason) });
      expect(receiver.hits(path)).toEqual([]);
    });

    it('control: the same receiver, saved and reached from an app with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, gets the delivery', async () => {
      const open = await createEngineApp(engine, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
      try {
        const openApi = testClient(() => open);
        const owner = await openApi.signedIn('control');
        const org = await openApi.createOrg(owner, { name: 'Control' });
        const { path, url } = receiver.endpoint('control');
        const created = await openApi.call('POST', `/v1/orgs/${org.id}/webhooks`, owner.token, { url: url.replace('127.0.0.1', 'localhost'), event_types: ['org.deleted'] });
        expect(created.statusCode, created.body).toBe(201);
        const { id, secret } = created.json<{ id: string; secret: string }>();
        receiver.expectSecrets(path, [secret]);
        expect((await openApi.call('POST', `/v1/orgs/${org.id}/webhooks/${id}/test`, owner.token)).statusCode).toBe(202);
        const [payload] = await receiver.waitForDeliveries(path, secret);
        expect(payload).toMatchObject({ type: 'webhook.test', data: { endpoint_id: id } });
      } finally {
        await open.destroy();
      }
      receiver.assertAllVerified();
    });
  });
});
