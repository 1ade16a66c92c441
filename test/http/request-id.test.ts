import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { PASSWORD, testClient } from '../helpers/client.js';
import { uniqueEmail } from '../helpers/outbox.js';

/*
 * The request id is the server's own (issue #12 §5): a client-chosen X-Request-Id is never what
 * audit entries, problems and logs record as the request's id; it is kept beside it, marked as the
 * client's (`client_request_id` in the log lines, `x-client-request-id` in the response).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(engineCases())('request ids on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createEngineApp(engine, { ALLOW_UNVERIFIED_LOGIN: 'true' });
    });
    afterAll(async () => app?.destroy());

    const api = testClient(() => app);
    const auditRequestIds = async (action: string, targetId: string): Promise<(string | null)[]> => (await api.auditRows({ action, targetId })).map((row) => row.request_id);

    it('records the server request id, not a client-chosen X-Request-Id, in the audit entry of a sign-up', async () => {
      const chosen = `client-chosen-${engine}-1`;
      const res = await api.call('POST', '/v1/auth/signup', null, { email: uniqueEmail('reqid'), password: PASSWORD }, { headers: { 'x-request-id': chosen } });
      expect(res.statusCode, res.body).toBe(201);
      const serverId = res.headers['x-request-id'];
      expect(serverId).toMatch(UUID);
      expect(serverId).not.toBe(chosen);
      expect(res.headers['x-client-request-id']).toBe(chosen);

      const userId = res.json<{ user: { id: string } }>().user.id;
      expect(await auditRequestIds('user.signed_up', userId)).toEqual([serverId]);
      const everywhere = await app.context.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE request_id = $1', [chosen]);
      expect(everywhere.rows[0]!.n).toBe(0);

      // The logs know both, each under its own name.
      const lines = app.logs.lines.filter((line) => line.reqId === serverId);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line.client_request_id).toBe(chosen);
      expect(app.logs.lines.some((line) => line.reqId === chosen)).toBe(false);
    });

    it('records the server request id of a signed-in change (an organization created) and answers it in problems', async () => {
      const { token } = await api.signedIn('reqid-org');
      const chosen = `client-chosen-${engine}-2`;
      const created = await api.call('POST', '/v1/orgs', token, { name: 'Request Id Co' }, { headers: { 'x-request-id': chosen } });
      expect(created.statusCode, created.body).toBe(201);
      const orgId = created.json<{ id: string }>().id;
      expect(await auditRequestIds('org.created', orgId)).toEqual([created.headers['x-request-id']]);

      const refused = await api.call('POST', '/v1/orgs', token, {}, { headers: { 'x-request-id': chosen } });
      expect(refused.statusCode).toBe(400);
      expect(refused.json<{ request_id: string }>().request_id).toBe(refused.headers['x-request-id']);
      expect(refused.headers['x-request-id']).not.toBe(chosen);
      expect(refused.headers['x-client-request-id']).toBe(chosen);
    });

    it('gives every request its own id even when clients repeat theirs', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const res = await api.call('GET', '/health/live', null, undefined, { headers: { 'x-request-id': 'same-id' } });
        ids.add(String(res.headers['x-request-id']));
      }
      expect(ids.size).toBe(5);
    });
  });
});
