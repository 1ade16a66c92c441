import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { engineCases } from '../helpers/db.js';
import { bearer, expectProblem } from '../helpers/http.js';
import { login, signUp, uniqueEmail, type TokenBody } from '../helpers/outbox.js';

/*
 * Refresh-token rotation with a reuse grace (REFRESH_REUSE_GRACE_SECONDS, default 2): two tabs of one
 * browser refreshing the same token at once keep their session; a reuse after the grace, from another
 * client, or of an older generation is theft and ends the session. "The same client" is the IP
 * address and User-Agent of the request that spent the token (inject() comes from 127.0.0.1).
 */

const PASSWORD = 'correct horse battery staple';
const TAB = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const THIEF = 'python-requests/2.32';

describe('REFRESH_REUSE_GRACE_SECONDS', () => {
  it('defaults to 2, takes 0 (off) to 60, and refuses more', () => {
    expect(loadConfig({}).auth.refreshReuseGraceSeconds).toBe(2);
    expect(loadConfig({ REFRESH_REUSE_GRACE_SECONDS: '0' }).auth.refreshReuseGraceSeconds).toBe(0);
    expect(loadConfig({ REFRESH_REUSE_GRACE_SECONDS: '60' }).auth.refreshReuseGraceSeconds).toBe(60);
    expect(() => loadConfig({ REFRESH_REUSE_GRACE_SECONDS: '61' })).toThrow(/REFRESH_REUSE_GRACE_SECONDS/);
  });
});

describe.each(engineCases())('refresh reuse grace on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let strict: TestApp;

    const refresh = (on: TestApp, token: string, userAgent = TAB) =>
      on.server.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: token }, headers: { 'user-agent': userAgent } });
    const me = (on: TestApp, token: string) => on.server.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
    const session = async (on: TestApp, id: string) =>
      (await on.context.db.sql.query<{ revoked_at: Date | null; revoked_reason: string | null }>('SELECT revoked_at, revoked_reason FROM sessions WHERE id = $1', [id])).rows[0]!;
    const theftAudits = async (on: TestApp, sessionId: string) =>
      (await on.context.db.sql.query<{ result: string; reason: string }>(
        `SELECT result, reason FROM audit_events WHERE action = 'session.refresh_token_reused' AND target_id = $1`,
        [sessionId],
      )).rows;

    async function signedIn(on: TestApp, label: string): Promise<TokenBody> {
      const email = uniqueEmail(label);
      await signUp(on, email, PASSWORD);
      return login(on, email, PASSWORD, { 'user-agent': TAB });
    }

    beforeAll(async () => {
      app = await createEngineApp(engine);
      strict = await createEngineApp(engine, { REFRESH_REUSE_GRACE_SECONDS: '0' });
    });
    afterAll(async () => {
      await app?.destroy();
      await strict?.destroy();
    });

    it('regression: two concurrent refreshes of one token by the same client both succeed with new pairs of the same session, and the session lives', async () => {
      const first = await signedIn(app, 'two-tabs');
      const [a, b] = await Promise.all([refresh(app, first.refresh_token), refresh(app, first.refresh_token)]);
      expect([a!.statusCode, b!.statusCode], `${a!.body} ${b!.body}`).toEqual([200, 200]);
      const tabs = [a!.json<TokenBody>(), b!.json<TokenBody>()];
      for (const tab of tabs) {
        expect(tab.session_id).toBe(first.session_id);
        expect(tab.refresh_token).not.toBe(first.refresh_token);
        expect((await me(app, tab.access_token)).statusCode).toBe(200);
      }
      // Never the same refresh token twice: each tab holds its own, single-use like any other.
      expect(tabs[0]!.refresh_token).not.toBe(tabs[1]!.refresh_token);
      expect(await session(app, first.session_id)).toEqual({ revoked_at: null, revoked_reason: null });
      for (const tab of tabs) expect((await refresh(app, tab.refresh_token)).statusCode).toBe(200);
      expect(await theftAudits(app, first.session_id)).toEqual([]);
    });

    it('the same client presenting the rotated token again within the grace (a second tab, late) gets a new pair of the same session', async () => {
      const first = await signedIn(app, 'late-tab');
      const rotated = await refresh(app, first.refresh_token);
      expect(rotated.statusCode).toBe(200);
      const late = await refresh(app, first.refresh_token);
      expect(late.statusCode, late.body).toBe(200);
      expect(late.json<TokenBody>().session_id).toBe(first.session_id);
      expect(late.json<TokenBody>().refresh_token).not.toBe(rotated.json<TokenBody>().refresh_token);
      expect((await session(app, first.session_id)).revoked_at).toBeNull();
    });

    it('another client presenting the rotated token within the grace is theft: the session ends, audited', async () => {
      const first = await signedIn(app, 'thief-in-window');
      const rotated = (await refresh(app, first.refresh_token)).json<TokenBody>();
      expectProblem(await refresh(app, first.refresh_token, THIEF), 401, 'refresh_token_reused');
      expect(await session(app, first.session_id)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'refresh_token_reused' });
      expectProblem(await me(app, rotated.access_token), 401, 'invalid_token');
      expectProblem(await refresh(app, rotated.refresh_token), 401, 'invalid_refresh_token');
      expect(await theftAudits(app, first.session_id)).toEqual([{ result: 'failure', reason: expect.stringContaining('another client') }]);
    });

    it('another IP address with the same User-Agent is another client', async () => {
      const first = await signedIn(app, 'other-ip');
      expect((await refresh(app, first.refresh_token)).statusCode).toBe(200);
      const elsewhere = await app.server.inject({
        method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: first.refresh_token }, headers: { 'user-agent': TAB }, remoteAddress: '203.0.113.7',
      });
      expectProblem(elsewhere, 401, 'refresh_token_reused');
      expect((await session(app, first.session_id)).revoked_reason).toBe('refresh_token_reused');
    });

    it('regression: a reuse after the grace by the same client revokes the session and is audited as theft', async () => {
      const first = await signedIn(app, 'after-window');
      const rotated = (await refresh(app, first.refresh_token)).json<TokenBody>();
      // The rotation is now older than the grace (2 s).
      await app.context.db.sql.query(`UPDATE refresh_tokens SET used_at = used_at - interval '3 seconds' WHERE session_id = $1 AND used_at IS NOT NULL`, [first.session_id]);
      expectProblem(await refresh(app, first.refresh_token), 401, 'refresh_token_reused');
      expect(await session(app, first.session_id)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'refresh_token_reused' });
      expectProblem(await me(app, rotated.access_token), 401, 'invalid_token');
      expect(await theftAudits(app, first.session_id)).toEqual([{ result: 'failure', reason: 'a rotated refresh token was presented again; the session was revoked' }]);
    });

    it('only the latest rotation has a grace: a token two generations old is theft even within the window', async () => {
      const first = await signedIn(app, 'old-generation');
      const second = (await refresh(app, first.refresh_token)).json<TokenBody>();
      expect((await refresh(app, second.refresh_token)).statusCode).toBe(200);
      expectProblem(await refresh(app, first.refresh_token), 401, 'refresh_token_reused');
      expect((await session(app, first.session_id)).revoked_reason).toBe('refresh_token_reused');
    });

    it('REFRESH_REUSE_GRACE_SECONDS=0 turns the grace off: of two concurrent refreshes by the same client one wins and the other ends the session', async () => {
      const first = await signedIn(strict, 'no-grace');
      const results = await Promise.all([refresh(strict, first.refresh_token), refresh(strict, first.refresh_token)]);
      expect(results.map((res) => res.statusCode).sort()).toEqual([200, 401]);
      expect(results.find((res) => res.statusCode === 401)!.json<{ code: string }>().code).toBe('refresh_token_reused');
      expect((await session(strict, first.session_id)).revoked_reason).toBe('refresh_token_reused');
    });
  });
});
