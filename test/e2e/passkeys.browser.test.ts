import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/http/errors.js';
import { createPasskeyService } from '../../src/modules/passkeys/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { signUp, uniqueEmail } from '../helpers/outbox.js';

/*
 * Passkeys end to end in a real browser: headless Chromium (Debian's `chromium`) driven by
 * playwright-core, with a CTAP2 virtual authenticator added through the DevTools Protocol. A page
 * served by the app (same origin, http://localhost:PORT) signs up, adds a passkey, signs out and
 * signs in with the passkey alone; then the refusals that need a real assertion: a replayed
 * challenge, a response made for another origin, and a signature counter gone backwards.
 */

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  const line = `Chromium is not installed at ${CHROMIUM}: the passkey browser test is skipped`;
  if (process.env.TESSERA_REQUIRE_SERVICES === '1') throw new Error(`TESSERA_REQUIRE_SERVICES=1 but ${line}`);
  console.warn(`[tessera tests] ${line}`);
}

const PASSWORD = 'correct horse battery staple';
const require = createRequire(import.meta.url);
/** The UMD bundle of @simplewebauthn/browser (its package exports only the ESM entry). */
const BUNDLE_PATH = join(dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js');

/** A JSON fetch helper for the page: `api(method, path, body?, token?)` → `{ status, body }`. */
const PAGE_SCRIPT = `
window.api = async function api(method, path, body, token) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = 'Bearer ' + token;
  const csrf = document.cookie.split('; ').find((c) => c.startsWith('tessera_csrf='));
  if (csrf && !token) headers['x-csrf-token'] = decodeURIComponent(csrf.slice('tessera_csrf='.length));
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json };
};
`;
const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Tessera passkeys test</title>
<script src="/test/simplewebauthn-browser.js"></script>
<script src="/test/page.js"></script>
</head><body><p>Passkeys test page</p></body></html>`;

interface ApiResult<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** What the page adds to its global scope (only types here: evaluate() callbacks run in the browser). */
interface PageGlobals {
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiResult<T>>;
  SimpleWebAuthnBrowser: {
    startRegistration(input: { optionsJSON: unknown }): Promise<Record<string, unknown>>;
    startAuthentication(input: { optionsJSON: unknown }): Promise<Record<string, unknown>>;
  };
}

interface TokenReply {
  token_type: string;
  access_token?: string;
  session_id: string;
  user: { id: string; email: string };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe.skipIf(!hasChromium)('passkeys in headless Chromium with a virtual authenticator', () => {
  let app: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  const email = uniqueEmail('passkey');
  let userId: string;
  let credentialId: string;

  /** A passwordless sign-in in the page: options (discoverable), the authenticator, then verify. */
  function passkeySignIn(useCookie = false): Promise<{ options: ApiResult; assertion: Record<string, unknown>; challengeId: string; verify: ApiResult }> {
    return page.evaluate(async (cookie) => {
      const { api, SimpleWebAuthnBrowser } = globalThis as unknown as PageGlobals;
      const options = await api<{ options: unknown; challenge_id: string }>('POST', '/v1/auth/passkey/options', {});
      const assertion = await SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: options.body.options });
      const verify = await api('POST', '/v1/auth/passkey/verify', { challenge_id: options.body.challenge_id, response: assertion, use_cookie: cookie });
      return { options, assertion, challengeId: options.body.challenge_id, verify };
    }, useCookie);
  }

  const storedCounter = async () =>
    Number((await app.context.db.sql.query<{ counter: string | number }>('SELECT counter FROM passkeys WHERE user_id = $1', [userId])).rows[0]!.counter);

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    const bundle = readFileSync(BUNDLE_PATH, 'utf8');
    app = await createTestApp({
      env: { PUBLIC_URL: origin },
      build: {
        extraRoutes(server) {
          // The API's CSP forbids everything; this page needs its own scripts and same-origin fetch.
          const csp = "default-src 'self'; frame-ancestors 'none'";
          const opts = { schema: { hide: true }, config: { rateLimit: false as const } };
          server.get('/test/passkeys.html', opts, async (_request, reply) => reply.header('content-security-policy', csp).type('text/html; charset=utf-8').send(PAGE_HTML));
          server.get('/test/simplewebauthn-browser.js', opts, async (_request, reply) => reply.header('content-security-policy', csp).type('text/javascript; charset=utf-8').send(bundle));
          server.get('/test/page.js', opts, async (_request, reply) => reply.header('content-security-policy', csp).type('text/javascript; charset=utf-8').send(PAGE_SCRIPT));
        },
      },
    });
    await app.server.listen({ host: '127.0.0.1', port });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext();
    page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    // Passkeys need a secure context: localhost, never 127.0.0.1.
    await page.goto(`${origin}/test/passkeys.html`);
    expect(await page.evaluate(() => typeof (globalThis as unknown as PageGlobals).SimpleWebAuthnBrowser.startRegistration)).toBe('function');
  });

  afterAll(async () => {
    await browser?.close();
    await app?.destroy();
  });

  it('signs up, adds a passkey, signs out, and signs in with the passkey alone', async () => {
    // Signed up with a verified address (sign-in needs one by default).
    await signUp(app, email, PASSWORD);
    const result = await page.evaluate(async ({ email, password }) => {
      const { api, SimpleWebAuthnBrowser } = globalThis as unknown as PageGlobals;
      const login = await api<{ access_token: string }>('POST', '/v1/auth/login', { email, password });
      const token = login.body.access_token;
      const options = await api<{ challenge: string }>('POST', '/v1/me/passkeys/options', undefined, token);
      const attestation = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: options.body });
      const registered = await api('POST', '/v1/me/passkeys', { response: attestation }, token);
      // The same response again: its challenge is spent.
      const replayed = await api('POST', '/v1/me/passkeys', { response: attestation }, token);
      const list = await api<{ data: Record<string, unknown>[] }>('GET', '/v1/me/passkeys', undefined, token);
      const logout = await api('POST', '/v1/auth/logout', undefined, token);
      const afterLogout = await api('GET', '/v1/me', undefined, token);
      return { login, options, attestationId: attestation.id as string, registered, replayed, list, logout, afterLogout };
    }, { email, password: PASSWORD });

    expect(result.login.status, JSON.stringify(result.login.body)).toBe(200);
    expect(result.options.status).toBe(200);
    expect(result.registered.status, JSON.stringify(result.registered.body)).toBe(201);
    expect(result.registered.body).toMatchObject({ id: expect.stringMatching(/^pky_/), name: expect.stringMatching(/^Passkey on /), last_used_at: null, backed_up: false });
    expect(result.registered.body).not.toHaveProperty('public_key');
    expect(result.replayed.status).toBe(400);
    expect(result.replayed.body).toMatchObject({ code: 'challenge_invalid' });
    expect(result.list.body.data).toEqual([result.registered.body]);
    expect(result.logout.status).toBe(204);
    expect(result.afterLogout.status).toBe(401);

    credentialId = result.attestationId;
    const row = (await app.context.db.sql.query<{ user_id: string; credential_id: string }>('SELECT user_id, credential_id FROM passkeys')).rows;
    expect(row).toHaveLength(1);
    userId = row[0]!.user_id;
    expect(row[0]!.credential_id).toBe(credentialId);
    const added = await app.context.db.sql.query(`SELECT 1 FROM audit_events WHERE action = 'passkey.added' AND result = 'success' AND actor_id = $1`, [userId]);
    expect(added.rows).toHaveLength(1);

    const before = await storedCounter();
    const signIn = await passkeySignIn();
    // Discoverable: the options name no credential.
    expect(signIn.options.body.options).toMatchObject({ rpId: 'localhost' });
    expect(signIn.options.body.options).not.toHaveProperty('allowCredentials');
    expect(signIn.verify.status, JSON.stringify(signIn.verify.body)).toBe(200);
    const tokens = signIn.verify.body as unknown as TokenReply;
    expect(tokens).toMatchObject({ token_type: 'Bearer', user: { id: userId, email } });
    expect(decodeJwt(tokens.access_token!).amr).toEqual(['hwk', 'user', 'mfa']);

    const me = await page.evaluate(async (token) => (globalThis as unknown as PageGlobals).api<{ id: string }>('GET', '/v1/me', undefined, token), tokens.access_token!);
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(userId);

    const used = (await app.context.db.sql.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM passkeys WHERE user_id = $1', [userId])).rows[0]!;
    expect(used.last_used_at).not.toBeNull();
    expect(await storedCounter()).toBeGreaterThanOrEqual(before);
    const login = await app.context.db.sql.query(`SELECT 1 FROM audit_events WHERE action = 'auth.login_passkey' AND actor_id = $1`, [userId]);
    expect(login.rows).toHaveLength(1);
  });

  it('a browser session by passkey works with cookies too', async () => {
    const signIn = await passkeySignIn(true);
    expect(signIn.verify.status, JSON.stringify(signIn.verify.body)).toBe(200);
    expect(signIn.verify.body).toMatchObject({ token_type: 'cookie', csrf_token: expect.any(String) });
    expect(signIn.verify.body).not.toHaveProperty('access_token');
    const me = await page.evaluate(() => (globalThis as unknown as PageGlobals).api<{ id: string }>('GET', '/v1/me'));
    expect(me).toMatchObject({ status: 200, body: { id: userId } });
    const logout = await page.evaluate(() => (globalThis as unknown as PageGlobals).api('POST', '/v1/auth/logout'));
    expect(logout.status).toBe(204);
  });

  it('replaying an authentication response is refused: a spent challenge_id is 400, a fresh one does not match', async () => {
    const signIn = await passkeySignIn();
    expect(signIn.verify.status).toBe(200);
    const replay = await app.server.inject({ method: 'POST', url: '/v1/auth/passkey/verify', payload: { challenge_id: signIn.challengeId, response: signIn.assertion } });
    expect(replay.statusCode).toBe(400);
    expect(replay.json()).toMatchObject({ code: 'challenge_invalid' });

    const fresh = (await app.server.inject({ method: 'POST', url: '/v1/auth/passkey/options', payload: {} })).json<{ challenge_id: string }>();
    const elsewhere = await app.server.inject({ method: 'POST', url: '/v1/auth/passkey/verify', payload: { challenge_id: fresh.challenge_id, response: signIn.assertion } });
    expect(elsewhere.statusCode).toBe(401);
    expect(elsewhere.json()).toMatchObject({ code: 'passkey_verification_failed' });
  });

  it('a response made on this page is refused by a server that expects another origin', async () => {
    const { db, cache, audit, events, users, mfaPolicy } = app.context;
    const other = createPasskeyService({ db, cache, audit, events, users, policy: mfaPolicy, settings: { rpId: 'localhost', rpName: 'Other', origins: ['https://other.example'] } });
    const { options, challengeId } = await other.authenticationOptions({ userId });
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([credentialId]);
    const assertion = await page.evaluate(
      (optionsJSON) => (globalThis as unknown as PageGlobals).SimpleWebAuthnBrowser.startAuthentication({ optionsJSON }),
      options as unknown as Record<string, unknown>,
    );
    const counterBefore = await storedCounter();
    const refusal = await other.verifyAuthentication(challengeId, assertion, { ip: null, userAgent: null }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ code: 'passkey_verification_failed', status: 401 });
    expect(await storedCounter()).toBe(counterBefore);
    const audited = await db.sql.query<{ reason: string }>(`SELECT reason FROM audit_events WHERE action = 'passkey.authenticate' AND result = 'failure' AND actor_id = $1`, [userId]);
    expect(audited.rows.map((r) => r.reason)).toContainEqual(expect.stringMatching(/origin/i));
  });

  it('a signature counter that goes backwards is refused with 401 and audited as passkey.counter_regression', async () => {
    await app.context.db.sql.query('UPDATE passkeys SET counter = 1000000 WHERE user_id = $1', [userId]);
    const signIn = await passkeySignIn();
    expect(signIn.verify.status, JSON.stringify(signIn.verify.body)).toBe(401);
    expect(signIn.verify.body).toMatchObject({ code: 'passkey_verification_failed' });
    expect(await storedCounter()).toBe(1000000);
    const audited = await app.context.db.sql.query<{ result: string; target_type: string }>(
      `SELECT result, target_type FROM audit_events WHERE action = 'passkey.counter_regression' AND actor_id = $1`,
      [userId],
    );
    expect(audited.rows).toEqual([{ result: 'failure', target_type: 'passkey' }]);
  });
});
