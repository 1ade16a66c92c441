import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';

describe('revocation list survives a cache that forgot it', () => {
  let app: TestApp;
  const api = testClient(() => app);
  beforeAll(async () => {
    app = await createTestApp({ build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('restoreRevocations() (run at start) puts recently revoked sessions back on the list', async () => {
    const login = await api.signedIn('restart');
    const me = () => api.call('GET', '/v1/me', login.token);
    expect((await api.call('POST', '/v1/auth/logout', login.token)).statusCode).toBe(204);
    expect((await me()).statusCode).toBe(401);
    // A restarted in-process cache, or a flushed Redis, has lost the entry:
    await app.context.cache.delete(`revoked-session:${login.sessionId}`);
    expect((await me()).statusCode).toBe(200);
    expect(await app.context.sessions.restoreRevocations()).toBeGreaterThanOrEqual(1);
    expect((await me()).statusCode).toBe(401);
  });
});
