import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { login as signIn, signUp } from '../helpers/outbox.js';

describe('revocation list survives a cache that forgot it', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ build: { workers: false } });
  });
  afterAll(async () => app?.destroy());

  it('restoreRevocations() (run at start) puts recently revoked sessions back on the list', async () => {
    const password = 'a restart-proof passphrase';
    await signUp(app, 'restart@example.com', password);
    const login = await signIn(app, 'restart@example.com', password);
    const me = () => app.server.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${login.access_token}` } });
    expect((await app.server.inject({ method: 'POST', url: '/v1/auth/logout', headers: { authorization: `Bearer ${login.access_token}` } })).statusCode).toBe(204);
    expect((await me()).statusCode).toBe(401);
    // A restarted in-process cache, or a flushed Redis, has lost the entry:
    await app.context.cache.delete(`revoked-session:${login.session_id}`);
    expect((await me()).statusCode).toBe(200);
    expect(await app.context.sessions.restoreRevocations()).toBeGreaterThanOrEqual(1);
    expect((await me()).statusCode).toBe(401);
  });
});
