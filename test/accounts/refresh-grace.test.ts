import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type TestClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { expectProblem } from '../helpers/http.js';
import type { TokenBody } from '../helpers/outbox.js';

/*
 * Refresh-token rotation with a reuse grace (REFRESH_REUSE_GRACE_SECONDS, default 2): two tabs of one
 * browser refreshing the same token at once keep their session; a reuse after the grace, from another
 * client, or of an older generation is theft and ends the session. "The same client" is the IP
 * address and User-Agent of the request that spent the token: the tab's refreshes come from HOME.
 */

const HOME = '198.51.100.20';
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
    const api = testClient(() => app);
    const noGrace = testClient(() => strict);

    const refresh = (on: TestClient, token: string, userAgent = TAB) => on.call('POST', '/v1/auth/refresh', null, { refresh_token: token }, { ip: HOME, userAgent });
    const me = (on: TestClient, token: string) => on.call('GET', '/v1/me', token);
    const session = async (on: TestClient, id: string) =>
      (await on.query<{ revoked_at: Date | null; revoked_reason: string | null }>('SELECT revoked_at, revoked_reason FROM sessions WHERE id = $1', [id]))[0]!;
    const theftAudits = async (on: TestClient, sessionId: string) =>
      (await on.auditRows({ action: 'session.refresh_token_reused', targetId: sessionId })).map(({ result, reason }) => ({ result, reason }));
    const signedIn = (on: TestClient, label: string) => on.signedIn(label, { userAgent: TAB });

    beforeAll(async () => {
      app = await createEngineApp(engine);
      strict = await createEngineApp(engine, { REFRESH_REUSE_GRACE_SECONDS: '0' });
    });
    afterAll(async () => {
      await app?.destroy();
      await strict?.destroy();
    });

    it('regression: two concurrent refreshes of one token by the same client both succeed with new pairs of the same session, and the session lives', async () => {
      const first = await signedIn(api, 'two-tabs');
      const [a, b] = await Promise.all([refresh(api, first.refreshToken), refresh(api, first.refreshToken)]);
      expect([a!.statusCode, b!.statusCode], `${a!.body} ${b!.body}`).toEqual([200, 200]);
      const tabs = [a!.json<TokenBody>(), b!.json<TokenBody>()];
      for (const tab of tabs) {
        expect(tab.session_id).toBe(first.sessionId);
        expect(tab.refresh_token).not.toBe(first.refreshToken);
        expect((await me(api, tab.access_token)).statusCode).toBe(200);
      }
      // Never the same refresh token twice: each tab holds its own, single-use like any other.
      expect(tabs[0]!.refresh_token).not.toBe(tabs[1]!.refresh_token);
      expect(await session(api, first.sessionId)).toEqual({ revoked_at: null, revoked_reason: null });
      for (const tab of tabs) expect((await refresh(api, tab.refresh_token)).statusCode).toBe(200);
      expect(await theftAudits(api, first.sessionId)).toEqual([]);
    });

    it('the same client presenting the rotated token again within the grace (a second tab, late) gets a new pair of the same session', async () => {
      const first = await signedIn(api, 'late-tab');
      const rotated = await refresh(api, first.refreshToken);
      expect(rotated.statusCode).toBe(200);
      const late = await refresh(api, first.refreshToken);
      expect(late.statusCode, late.body).toBe(200);
      expect(late.json<TokenBody>().session_id).toBe(first.sessionId);
      expect(late.json<TokenBody>().refresh_token).not.toBe(rotated.json<TokenBody>().refresh_token);
      expect((await session(api, first.sessionId)).revoked_at).toBeNull();
    });

    it('another client presenting the rotated token within the grace is theft: the session ends, audited', async () => {
      const first = await signedIn(api, 'thief-in-window');
      const rotated = (await refresh(api, first.refreshToken)).json<TokenBody>();
      expectProblem(await refresh(api, first.refreshToken, THIEF), 401, 'refresh_token_reused');
      expect(await session(api, first.sessionId)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'refresh_token_reused' });
      expectProblem(await me(api, rotated.access_token), 401, 'invalid_token');
      expectProblem(await refresh(api, rotated.refresh_token), 401, 'invalid_refresh_token');
      expect(await theftAudits(api, first.sessionId)).toEqual([{ result: 'failure', reason: expect.stringContaining('another client') }]);
    });

    it('another IP address with the same User-Agent is another client', async () => {
      const first = await signedIn(api, 'other-ip');
      expect((await refresh(api, first.refreshToken)).statusCode).toBe(200);
      const elsewhere = await api.call('POST', '/v1/auth/refresh', null, { refresh_token: first.refreshToken }, { userAgent: TAB, ip: '203.0.113.7' });
      expectProblem(elsewhere, 401, 'refresh_token_reused');
      expect((await session(api, first.sessionId)).revoked_reason).toBe('refresh_token_reused');
    });

    it('regression: a reuse after the grace by the same client revokes the session and is audited as theft', async () => {
      const first = await signedIn(api, 'after-window');
      const rotated = (await refresh(api, first.refreshToken)).json<TokenBody>();
      // The rotation is now older than the grace (2 s).
      await api.query(`UPDATE refresh_tokens SET used_at = used_at - interval '3 seconds' WHERE session_id = $1 AND used_at IS NOT NULL`, [first.sessionId]);
      expectProblem(await refresh(api, first.refreshToken), 401, 'refresh_token_reused');
      expect(await session(api, first.sessionId)).toMatchObject({ revoked_at: expect.any(Date), revoked_reason: 'refresh_token_reused' });
      expectProblem(await me(api, rotated.access_token), 401, 'invalid_token');
      expect(await theftAudits(api, first.sessionId)).toEqual([{ result: 'failure', reason: 'a rotated refresh token was presented again; the session was revoked' }]);
    });

    it('only the latest rotation has a grace: a token two generations old is theft even within the window', async () => {
      const first = await signedIn(api, 'old-generation');
      const second = (await refresh(api, first.refreshToken)).json<TokenBody>();
      expect((await refresh(api, second.refresh_token)).statusCode).toBe(200);
      expectProblem(await refresh(api, first.refreshToken), 401, 'refresh_token_reused');
      expect((await session(api, first.sessionId)).revoked_reason).toBe('refresh_token_reused');
    });

    it('REFRESH_REUSE_GRACE_SECONDS=0 turns the grace off: of two concurrent refreshes by the same client one wins and the other ends the session', async () => {
      const first = await signedIn(noGrace, 'no-grace');
      const results = await Promise.all([refresh(noGrace, first.refreshToken), refresh(noGrace, first.refreshToken)]);
      expect(results.map((res) => res.statusCode).sort()).toEqual([200, 401]);
      expect(results.find((res) => res.statusCode === 401)!.json<{ code: string }>().code).toBe('refresh_token_reused');
      expect((await session(noGrace, first.sessionId)).revoked_reason).toBe('refresh_token_reused');
    });
  });
});
