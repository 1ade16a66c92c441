import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testClient, type Signed } from '../helpers/client.js';
import { bearer } from '../helpers/http.js';
import { authorizationRequest, relyingParty, UserAgent } from '../helpers/oidc.js';
import { freePort } from '../helpers/process.js';

/*
 * Tessera's OpenID provider driven by openid-client v6 (a certified relying party) over real HTTP,
 * the hosted page's steps taken by a user agent with cookies (the browser suite drives the page
 * itself): discovery, code + PKCE with the ID token checked against the published JWKS, userinfo,
 * refresh rotation and reuse, code reuse, prompt=none, prompt=login and max_age, consent for a
 * third-party application, the organization step, tokens for Tessera's API and for a registered
 * resource, client credentials, introspection and revocation, the device flow, PAR, DPoP, logout
 * (RP-initiated and back-channel), sessions that are one with Tessera's, and every refusal the spec
 * names, in OAuth's error format.
 */

const CALLBACK = 'http://127.0.0.1:9/callback';
const AFTER_LOGOUT = 'http://127.0.0.1:9/signed-out';
const REPORTS_API = 'https://reports.example.com/api';

let app: TestApp;
let origin: string;
const t = testClient(() => app);
let admin: { token: string };
let receiver: Server;
let receiverUrl: string;
let webRoot: string | undefined;
const logoutTokens: string[] = [];
/** Every client secret registered here: none may appear in a log line. */
const secretsSeen: string[] = [];

interface Registered {
  client_id: string;
  client_secret?: string;
}

async function register(body: Record<string, unknown>): Promise<Registered> {
  const res = await t.call('POST', '/v1/admin/applications', admin.token, { redirect_uris: [CALLBACK], ...body });
  expect(res.statusCode, res.body).toBe(201);
  const registered = res.json<Registered>();
  if (registered.client_secret) secretsSeen.push(registered.client_secret);
  return registered;
}

async function signedInAgent(person: Signed): Promise<UserAgent> {
  const agent = new UserAgent(origin);
  await agent.signIn(person.email);
  return agent;
}

const atHash = (accessToken: string): string => createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');

/** The OAuth error of a refused call: the body's `error`, or the WWW-Authenticate challenge's (a 401). */
async function oauthError(promise: Promise<unknown>): Promise<{ error: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    const challenge = (error as { cause?: { parameters?: { error?: string } }[] }).cause?.[0]?.parameters?.error;
    return challenge ? { ...(error as object), error: challenge } : (error as { error: string; status?: number });
  }
  throw new Error('expected the call to be refused');
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backchannel`;
  const port = await freePort();
  origin = `http://localhost:${port}`;
  // Loopback back-channel receivers are private addresses: allowed here as for webhooks. The hosted
  // pages are a bare shell (this suite reads the data the server puts in it; the browser suite draws them).
  webRoot = await mkdtemp(join(tmpdir(), 'tessera-oidc-shell-'));
  await writeFile(join(webRoot, 'index.html'), '<!doctype html><html><head><title>Tessera</title></head><body></body></html>');
  app = await createTestApp({ env: { PUBLIC_URL: origin, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }, build: { webRoot } });
  await app.server.listen({ host: '127.0.0.1', port });
  admin = await t.platformAdmin();
  const res = await t.call('POST', '/v1/admin/resources', admin.token, {
    indicator: REPORTS_API, name: 'Reports API', scopes: [{ name: 'reports:read', description: 'Read reports' }, { name: 'reports:write', description: 'Write reports' }],
  });
  expect(res.statusCode, res.body).toBe(201);
});

afterAll(async () => {
  // No client secret, code or token of the whole file in any log line.
  const logs = app?.logs.text() ?? '';
  for (const secret of secretsSeen) expect(logs.includes(secret), 'a secret or token in the logs').toBe(false);
  await app?.destroy();
  await new Promise((resolve) => receiver?.close(resolve));
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
});

describe('discovery', () => {
  it('says exactly what the provider enforces: code flow with S256 PKCE, its endpoints, one JWKS with RS256 and EdDSA keys', async () => {
    const res = await fetch(`${origin}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(origin);
    expect(doc.response_types_supported).toEqual(['code']);
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']));
    expect(doc.grant_types_supported).not.toContain('implicit');
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'phone', 'offline_access', 'organizations']));
    for (const endpoint of ['authorization', 'token', 'userinfo', 'introspection', 'revocation', 'end_session', 'device_authorization', 'pushed_authorization_request']) {
      expect(doc[`${endpoint}_endpoint`], endpoint).toMatch(new RegExp(`^${origin}/oauth/`));
    }
    expect(doc.backchannel_logout_supported).toBe(true);
    expect(doc.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));
    expect(doc.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256']));
    expect(doc.registration_endpoint).toBeUndefined();

    const oauthKeys = ((await (await fetch(String(doc.jwks_uri))).json()) as { keys: JWK[] }).keys;
    const tesseraKeys = ((await (await fetch(`${origin}/.well-known/jwks.json`)).json()) as { keys: JWK[] }).keys;
    expect(oauthKeys.map((key) => key.kid).sort()).toEqual(tesseraKeys.map((key) => key.kid).sort());
    expect(oauthKeys.map((key) => key.alg).sort()).toEqual(['EdDSA', 'RS256']);
    expect(oauthKeys.every((key) => key.d === undefined && key.p === undefined)).toBe(true);
  });
});

describe('authorization code with PKCE', () => {
  let web: Registered;
  let rp: client.Configuration;
  let alice: Signed;

  beforeAll(async () => {
    web = await register({ name: 'Reports', type: 'web', first_party: true, post_logout_redirect_uris: [AFTER_LOGOUT], backchannel_logout_uri: receiverUrl });
    rp = await relyingParty(origin, web.client_id, web.client_secret);
    alice = await t.signedIn('alice', { name: 'Alice Liddell' });
  });

  it('signs a person in without a consent screen (first-party): ID token checked against the JWKS, at_hash, amr; userinfo by GET and POST', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid profile email' });
    const consents: string[] = [];
    const callback = await agent.authorize(url, { onConsent: async (uid) => void consents.push(uid) });
    expect(consents).toEqual([]);
    expect(callback.searchParams.get('iss')).toBe(origin);

    const tokens = await client.authorizationCodeGrant(rp, callback, checks);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: origin, aud: web.client_id, sub: alice.user.id, nonce: checks.expectedNonce });
    // at_hash (optional in the code flow, Core 3.1.3.6) binds the ID token to this access token.
    expect(claims.at_hash).toBe(atHash(tokens.access_token));
    expect(claims.amr).toEqual(['pwd']);
    expect(typeof claims.auth_time).toBe('number');
    // The signature, by the keys this server publishes (openid-client checked it too: non-repudiation on).
    const jwks = createLocalJWKSet((await (await fetch(`${origin}/oauth/jwks`)).json()) as { keys: JWK[] });
    const verified = await jwtVerify(tokens.id_token!, jwks, { issuer: origin, audience: web.client_id });
    expect(verified.protectedHeader.alg).toBe('RS256');

    const viaGet = await client.fetchUserInfo(rp, tokens.access_token, alice.user.id);
    expect(viaGet).toMatchObject({ sub: alice.user.id, email: alice.email, email_verified: true, name: 'Alice Liddell' });
    const viaPost = await fetch(`${origin}/oauth/userinfo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `access_token=${tokens.access_token}` });
    expect(viaPost.status).toBe(200);
    expect(await viaPost.json()).toMatchObject({ sub: alice.user.id, email: alice.email });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('without a session, prompt=none answers login_required to the application; without prompt the hosted sign-in is the login step', async () => {
    const agent = new UserAgent(origin);
    const quiet = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'none' });
    const at = await agent.follow(quiet.url);
    expect('callback' in at && at.callback.searchParams.get('error')).toBe('login_required');
    expect(await oauthError(client.authorizationCodeGrant(rp, (at as { callback: URL }).callback, quiet.checks))).toMatchObject({ error: 'login_required' });

    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email', login_hint: alice.email, ui_locales: 'es' });
    const first = await agent.follow(url);
    expect('uid' in first).toBe(true);
    const uid = (first as { uid: string }).uid;
    const details = await agent.interaction(uid);
    expect(details).toMatchObject({ prompt: 'login', client: { name: 'Reports', first_party: true }, login_hint: alice.email, ui_locales: 'es' });
    // Not signed in: the step needs a session.
    expect((await agent.fetch(`/v1/oidc/interactions/${uid}/login`, { json: {} })).status).toBe(401);
    await agent.signIn(alice.email);
    const done = await agent.step(uid, 'login');
    const tokens = await client.authorizationCodeGrant(rp, (done as { callback: URL }).callback, checks);
    expect(tokens.claims()!.sub).toBe(alice.user.id);
    // Now there is a session: prompt=none goes through.
    const again = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'none' });
    const silent = await agent.follow(again.url);
    expect('callback' in silent && silent.callback.searchParams.get('code')).toBeTruthy();
  });

  it('the interaction belongs to the browser that started it: another browser, or another uid, gets 404', async () => {
    const agent = await signedInAgent(alice);
    const { url } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'login' });
    const { uid } = (await agent.follow(url)) as { uid: string };
    const stranger = await signedInAgent(alice);
    expect((await stranger.fetch(`/v1/oidc/interactions/${uid}`)).status).toBe(404);
    expect((await stranger.fetch(`/v1/oidc/interactions/${uid}/login`, { json: {} })).status).toBe(404);
    expect((await agent.fetch('/v1/oidc/interactions/not-this-one')).status).toBe(404);
  });

  it('prompt=login and max_age ask for a newer sign-in than the session has (403 fresh_sign_in_required), then go on; auth_time says when', async () => {
    for (const params of [{ prompt: 'login' }, { max_age: '60' }] as Record<string, string>[]) {
      const agent = await signedInAgent(alice);
      // The session signed in an hour ago.
      await t.query("UPDATE sessions SET reauthenticated_at = now() - interval '1 hour' WHERE user_id = $1", [alice.user.id]);
      const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', ...params });
      const { uid } = (await agent.follow(url)) as { uid: string };
      const details = await agent.interaction(uid);
      expect(details.prompt).toBe('login');
      expect(details.sign_in_after).toEqual(expect.any(String));
      const refused = await agent.fetch(`/v1/oidc/interactions/${uid}/login`, { json: {} });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('fresh_sign_in_required');
      const before = Math.floor(Date.now() / 1000) - 1;
      await agent.signIn(alice.email);
      const done = await agent.step(uid, 'login');
      const tokens = await client.authorizationCodeGrant(rp, (done as { callback: URL }).callback, checks, undefined);
      expect(Number(tokens.claims()!.auth_time)).toBeGreaterThanOrEqual(before);
    }
  });

  it('an access token for Tessera\'s API (resource = TOKEN_AUDIENCE) works on /v1 like a sign-in\'s, and dies with its session', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', resource: app.config.auth.audience, prompt: 'consent' });
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);
    const payload = decodeJwt(tokens.access_token);
    expect(tokens.claims()!.at_hash).toBe(atHash(tokens.access_token));
    expect(payload).toMatchObject({ aud: app.config.auth.audience, sub: alice.user.id, client_id: web.client_id, sid: expect.stringMatching(/^ses_/) });
    const me = await t.call('GET', '/v1/me', tokens.access_token);
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json<{ id: string }>().id).toBe(alice.user.id);
    // The session appears in the account center; revoking it there ends the OIDC tokens.
    const sessions = await t.call('GET', '/v1/me/sessions', tokens.access_token);
    expect(sessions.json<{ data: { id: string }[] }>().data.map((s) => s.id)).toContain(payload.sid);
    const revoked = await t.call('DELETE', `/v1/me/sessions/${String(payload.sid)}`, alice.token);
    expect(revoked.statusCode, revoked.body).toBe(204);
    expect((await t.call('GET', '/v1/me', tokens.access_token)).statusCode).toBe(401);
    expect(await oauthError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
    // And the provider's own session is gone with it: prompt=none now needs a login.
    const quiet = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'none' });
    const at = await agent.follow(quiet.url);
    expect('callback' in at && at.callback.searchParams.get('error')).toBe('login_required');
  });

  it('rotates refresh tokens; a rotated one presented again is refused and revokes the grant (reuse detection), but for the grace of /v1/auth/refresh', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
    const first = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);
    expect(first.refresh_token).toEqual(expect.any(String));
    const second = await client.refreshTokenGrant(rp, first.refresh_token!);
    expect(second.refresh_token).toEqual(expect.any(String));
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.claims()!.sub).toBe(alice.user.id);
    expect(second.claims()!.at_hash).toBe(atHash(second.access_token));
    // Within REFRESH_REUSE_GRACE_SECONDS (2 s by default) the latest rotated token may come again (two tabs at once).
    const twin = await client.refreshTokenGrant(rp, first.refresh_token!);
    expect(twin.refresh_token).not.toBe(second.refresh_token);
    // Not an older one, though: once its successor was spent too, the first token is plain reuse.
    const third = await client.refreshTokenGrant(rp, second.refresh_token!);
    expect(await oauthError(client.refreshTokenGrant(rp, first.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // The whole grant went: the newest refresh tokens and their access tokens too.
    expect(await oauthError(client.refreshTokenGrant(rp, third.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(client.refreshTokenGrant(rp, twin.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, third.access_token)).active).toBe(false);
  });

  it('a rotated refresh token presented after the grace is theft: refused, and the grant revoked', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
    const first = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);
    const second = await client.refreshTokenGrant(rp, first.refresh_token!);
    // The rotation happened a minute ago.
    await t.query("UPDATE oidc_models SET consumed_at = consumed_at - interval '1 minute' WHERE model = 'RefreshToken' AND consumed_at IS NOT NULL");
    expect(await oauthError(client.refreshTokenGrant(rp, first.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(client.refreshTokenGrant(rp, second.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
  });

  it('a code redeemed twice is refused (invalid_grant) and the tokens it gave are revoked', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
    const callback = await agent.authorize(url);
    const tokens = await client.authorizationCodeGrant(rp, callback, checks);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    expect(await oauthError(client.authorizationCodeGrant(rp, callback, checks))).toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
  });

  it('introspection says active, revocation (RFC 7009) ends the token, introspection then says inactive', async () => {
    const agent = await signedInAgent(alice);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);
    expect(await client.tokenIntrospection(rp, tokens.refresh_token!)).toMatchObject({ active: true, client_id: web.client_id, sub: alice.user.id });
    // Another application learns nothing of it, confidential or public.
    const other = await register({ name: 'Nosy backend', type: 'web' });
    const otherRp = await relyingParty(origin, other.client_id, other.client_secret);
    expect(await client.tokenIntrospection(otherRp, tokens.refresh_token!)).toEqual({ active: false });
    const spa = await register({ name: 'Nosy SPA', type: 'spa' });
    expect(await client.tokenIntrospection(await relyingParty(origin, spa.client_id), tokens.refresh_token!)).toEqual({ active: false });
    const before = (await t.auditRows({ action: 'oidc.tokens_revoked', targetId: web.client_id })).length;
    await client.tokenRevocation(rp, tokens.refresh_token!);
    expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
    expect(await oauthError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // Audited (the grant went with the refresh token), never the token itself.
    await expect.poll(async () => (await t.auditRows({ action: 'oidc.tokens_revoked', targetId: web.client_id })).length).toBe(before + 1);
    const rows = await t.query<Record<string, unknown>>("SELECT * FROM audit_events WHERE action LIKE 'oidc.%'");
    expect(JSON.stringify(rows)).not.toContain(tokens.refresh_token!);
  });

  it('sign-in through the provider honours enforced enrolment: a person who must enrol a second factor is sent to enrol first', async () => {
    const bound = await t.signedIn('must-enrol');
    await t.query('UPDATE users SET mfa_reenroll_required = true WHERE id = $1', [bound.user.id]);
    const agent = await signedInAgent(bound);
    const { url } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid' });
    const { uid } = (await agent.follow(url)) as { uid: string };
    const res = await agent.fetch(`/v1/oidc/interactions/${uid}/login`, { json: {} });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('mfa_enrollment_required');
  });

  it('Connected apps: lists what each application was granted; taking it back revokes its tokens at once and is audited', async () => {
    const person = await t.signedIn('connected');
    const agent = await signedInAgent(person);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);
    const listed = await t.call('GET', '/v1/me/applications', person.token);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json<{ data: unknown[] }>().data).toEqual([
      { client_id: web.client_id, name: 'Reports', first_party: true, scopes: expect.arrayContaining(['openid', 'email', 'offline_access']), resources: [], granted_at: expect.any(String) },
    ]);
    // Another person cannot take it back.
    expect((await t.call('DELETE', `/v1/me/applications/${web.client_id}`, (await t.signedIn('stranger')).token)).statusCode).toBe(404);

    const removed = await t.call('DELETE', `/v1/me/applications/${web.client_id}`, person.token);
    expect(removed.statusCode, removed.body).toBe(204);
    expect(await oauthError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    expect((await t.call('GET', '/v1/me/applications', person.token)).json<{ data: unknown[] }>().data).toEqual([]);
    expect(await t.auditRows({ action: 'oidc.consent_revoked', targetId: web.client_id })).toHaveLength(1);
    expect((await t.call('DELETE', `/v1/me/applications/${web.client_id}`, person.token)).statusCode).toBe(404);
  });

  it('builds every URL from PUBLIC_URL: a forged Host or X-Forwarded-Host header changes nothing', async () => {
    const forged = await fetch(`${origin}/.well-known/openid-configuration`, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
    const doc = (await forged.json()) as Record<string, string>;
    expect(doc.issuer).toBe(origin);
    expect(doc.authorization_endpoint).toBe(`${origin}/oauth/authorize`);
    expect(doc.token_endpoint).toBe(`${origin}/oauth/token`);
  });

  it('refuses what the spec refuses, in OAuth\'s error format', async () => {
    const agent = await signedInAgent(alice);
    // A redirect_uri not registered exactly: the error page, never a redirect.
    const stray = await authorizationRequest(rp, { redirect_uri: `${CALLBACK}/other`, scope: 'openid' });
    const page = await agent.follow(stray.url);
    expect('page' in page).toBe(true);
    const res = (page as { page: Response }).page;
    expect(res.status).toBe(400);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await res.text()).toContain('redirect_uri did not match');

    // PKCE plain, and no PKCE at all: refused back to the (registered) redirect URI.
    const plain = new URL(stray.url);
    plain.searchParams.set('redirect_uri', CALLBACK);
    plain.searchParams.set('code_challenge_method', 'plain');
    const plainAt = await agent.follow(plain);
    expect('callback' in plainAt && plainAt.callback.searchParams.get('error')).toBe('invalid_request');
    plain.searchParams.delete('code_challenge');
    plain.searchParams.delete('code_challenge_method');
    const noPkce = await agent.follow(plain);
    expect('callback' in noPkce && noPkce.callback.searchParams.get('error')).toBe('invalid_request');
    // The implicit and hybrid flows are off.
    plain.searchParams.set('response_type', 'id_token token');
    const implicit = await agent.follow(plain);
    // Answered in the fragment, as the implicit flow's default response mode says.
    expect('callback' in implicit && new URLSearchParams(implicit.callback.hash.slice(1)).get('error')).toBe('unsupported_response_type');

    // A wrong client secret, a wrong PKCE verifier, an expired code.
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'consent' });
    const callback = await agent.authorize(url);
    const wrongSecret = await relyingParty(origin, web.client_id, 'not-the-secret');
    expect(await oauthError(client.authorizationCodeGrant(wrongSecret, callback, checks))).toMatchObject({ error: 'invalid_client' });
    expect(await oauthError(client.authorizationCodeGrant(rp, callback, { ...checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }))).toMatchObject({ error: 'invalid_grant' });
    const next = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'consent' });
    const late = await agent.authorize(next.url);
    await t.query("UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE model = 'AuthorizationCode'");
    expect(await oauthError(client.authorizationCodeGrant(rp, late, next.checks))).toMatchObject({ error: 'invalid_grant' });

    // A refresh token of another client.
    const other = await register({ name: 'Other', type: 'web', first_party: true });
    const otherRp = await relyingParty(origin, other.client_id, other.client_secret);
    const mine = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(mine.url), mine.checks);
    expect(await oauthError(client.refreshTokenGrant(otherRp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // Still good for its own client.
    expect((await client.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toEqual(expect.any(String));
  });
});

describe('the Basic OP certification cases (oidcc-*)', () => {
  let web: Registered;
  let post: Registered;
  let rp: client.Configuration;
  let person: Signed;
  let agent: UserAgent;

  beforeAll(async () => {
    web = await register({ name: 'Certification', type: 'web', first_party: true });
    post = await register({ name: 'Certification (post)', type: 'web', first_party: true, token_endpoint_auth_method: 'client_secret_post' });
    rp = await relyingParty(origin, web.client_id, web.client_secret);
    person = await t.signedIn('certification', { name: 'Cert Person' });
    await t.query("UPDATE users SET phone = '+15550100', phone_verified = true WHERE id = $1", [person.user.id]);
    agent = await signedInAgent(person);
  });

  /** Runs an authorization with these parameters (and PKCE, state) to the callback; answers the callback URL. */
  async function callbackOf(params: Record<string, string>, config = rp): Promise<{ callback: URL; checks: Awaited<ReturnType<typeof authorizationRequest>>['checks'] }> {
    const { url, checks } = await authorizationRequest(config, { redirect_uri: CALLBACK, scope: 'openid', ...params });
    return { callback: await agent.authorize(url), checks };
  }

  it('oidcc-response-type-missing: an authorization request without response_type is refused back to the client', async () => {
    const { url } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid' });
    url.searchParams.delete('response_type');
    const at = await agent.follow(url);
    expect('callback' in at && at.callback.searchParams.get('error')).toBe('invalid_request');
  });

  it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow, -other-scope-order, -with-unknown-parameter, -with-acr-values', async () => {
    const noNonce = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'email openid' });
    noNonce.url.searchParams.delete('nonce');
    noNonce.url.searchParams.set('extra_unknown', 'ignored');
    noNonce.url.searchParams.set('acr_values', 'urn:example:acr');
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(noNonce.url), { ...noNonce.checks, expectedNonce: undefined });
    expect(tokens.claims()!.nonce).toBeUndefined();
    expect(tokens.claims()!.sub).toBe(person.user.id);
  });

  it('oidcc-scope-profile, -email, -phone, -all: userinfo releases exactly the claims of the scopes granted', async () => {
    const one = await callbackOf({ scope: 'openid profile' });
    const profile = await client.fetchUserInfo(rp, (await client.authorizationCodeGrant(rp, one.callback, one.checks)).access_token, person.user.id);
    expect(profile).toMatchObject({ sub: person.user.id, name: 'Cert Person' });
    expect(profile.email).toBeUndefined();
    const all = await callbackOf({ scope: 'openid profile email phone' });
    const everything = await client.fetchUserInfo(rp, (await client.authorizationCodeGrant(rp, all.callback, all.checks)).access_token, person.user.id);
    expect(everything).toMatchObject({ name: 'Cert Person', email: person.email, email_verified: true, phone_number: '+15550100', phone_number_verified: true });
  });

  it('oidcc-userinfo-post-header: userinfo by POST with the bearer header', async () => {
    const { callback, checks } = await callbackOf({ scope: 'openid email' });
    const tokens = await client.authorizationCodeGrant(rp, callback, checks);
    const res = await fetch(`${origin}/oauth/userinfo`, { method: 'POST', headers: bearer(tokens.access_token) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sub: person.user.id, email: person.email });
  });

  it('oidcc-claims-essential: the claims parameter asks for a claim by name', async () => {
    const { callback, checks } = await callbackOf({ claims: JSON.stringify({ userinfo: { email: { essential: true } } }) });
    const tokens = await client.authorizationCodeGrant(rp, callback, checks);
    expect(await client.fetchUserInfo(rp, tokens.access_token, person.user.id)).toMatchObject({ email: person.email });
  });

  it('oidcc-id-token-hint, oidcc-prompt-none-logged-in: prompt=none with the ID token of the signed-in person goes through', async () => {
    const first = await callbackOf({});
    const idToken = (await client.authorizationCodeGrant(rp, first.callback, first.checks)).id_token!;
    const { callback, checks } = await callbackOf({ prompt: 'none', id_token_hint: idToken });
    expect((await client.authorizationCodeGrant(rp, callback, checks)).claims()!.sub).toBe(person.user.id);
  });

  it('prompt=select_account: the hosted page asks which account; going on as the signed-in person answers the application', async () => {
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', prompt: 'select_account' });
    const { uid } = (await agent.follow(url)) as { uid: string };
    expect(await agent.interaction(uid)).toMatchObject({ prompt: 'select_account', reasons: ['select_account_prompt'] });
    // Not a consent: that step is refused here.
    expect((await agent.fetch(`/v1/oidc/interactions/${uid}/consent`, { json: {} })).status).toBe(409);
    const done = await agent.step(uid, 'login');
    expect((await client.authorizationCodeGrant(rp, (done as { callback: URL }).callback, checks)).claims()!.sub).toBe(person.user.id);
  });

  it('oidcc-ensure-post-request-succeeds: the authorization request by form POST (an https deployment: its session cookie is SameSite=None; Secure)', async () => {
    // On http (development) POST is off: browsers drop SameSite=None cookies without Secure.
    const { url } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid' });
    expect((await agent.fetch(`${origin}/oauth/authorize`, { form: Object.fromEntries(url.searchParams) })).status).toBe(404);

    const port = await freePort();
    const publicOrigin = `https://localhost:${port}`;
    const secure = await createTestApp({ env: { PUBLIC_URL: publicOrigin } });
    try {
      await secure.server.listen({ host: '127.0.0.1', port });
      const via = testClient(() => secure);
      const { token } = await via.platformAdmin();
      const created = await via.call('POST', '/v1/admin/applications', token, { name: 'Posted', type: 'web', first_party: true, redirect_uris: [CALLBACK] });
      const registered = created.json<Registered>();
      const someone = await via.signedIn('post-request');
      const browser = new UserAgent(`http://127.0.0.1:${port}`, publicOrigin);
      await browser.signIn(someone.email);
      const verifier = client.randomPKCECodeVerifier();
      const form = {
        client_id: registered.client_id, response_type: 'code', scope: 'openid', redirect_uri: CALLBACK, state: 'posted',
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      };
      const posted = await browser.fetch(`${publicOrigin}/oauth/authorize`, { form });
      expect(posted.status).toBe(303);
      const callback = await browser.authorize(new URL(posted.headers.get('location')!, publicOrigin));
      expect(callback.searchParams.get('state')).toBe('posted');
      const exchanged = await browser.fetch(`${publicOrigin}/oauth/token`, {
        form: { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: CALLBACK, code_verifier: verifier, client_id: registered.client_id, client_secret: registered.client_secret! },
      });
      expect(exchanged.status).toBe(200);
      expect(decodeJwt(((await exchanged.json()) as { id_token: string }).id_token)).toMatchObject({ iss: publicOrigin, sub: someone.user.id });
      const session = browser.setCookies.filter((line) => line.startsWith('_session='));
      expect(session.length).toBeGreaterThan(0);
      for (const line of session) expect(line).toMatch(/;\s*secure/i), expect(line).toMatch(/;\s*samesite=none/i);
    } finally {
      await secure.destroy();
    }
  });

  it('oidcc-server-client-secret-post: a client registered for client_secret_post authenticates in the body', async () => {
    const config = await client.discovery(new URL(origin), post.client_id, { client_secret: post.client_secret! }, client.ClientSecretPost(post.client_secret!), { execute: [client.allowInsecureRequests] });
    const { callback, checks } = await callbackOf({}, config);
    expect((await client.authorizationCodeGrant(config, callback, checks)).claims()!.sub).toBe(person.user.id);
  });

  it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: a request object is refused as unsupported', async () => {
    const { url } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid' });
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(Object.fromEntries(url.searchParams))).toString('base64url');
    url.searchParams.set('request', `${header}.${payload}.`);
    const at = await agent.follow(url);
    expect('callback' in at && at.callback.searchParams.get('error')).toMatch(/^(request_not_supported|invalid_request_object)$/);
  });
});

describe('consent and organizations', () => {
  let thirdParty: Registered;
  let rp: client.Configuration;
  let bob: Signed;

  beforeAll(async () => {
    thirdParty = await register({ name: 'Partner Analytics', type: 'web' });
    const grants = await t.call('PUT', `/v1/admin/applications/${thirdParty.client_id}/grants`, admin.token, { grants: [{ resource: REPORTS_API, scopes: ['reports:read'] }] });
    expect(grants.statusCode, grants.body).toBe(200);
    rp = await relyingParty(origin, thirdParty.client_id, thirdParty.client_secret);
    bob = await t.signedIn('bob');
  });

  it('asks a person before a third-party application gets anything, once; Deny answers access_denied; consent is audited', async () => {
    const agent = await signedInAgent(bob);
    const denied = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email' });
    let at = await agent.follow(denied.url);
    at = await agent.step((at as { uid: string }).uid, 'login');
    const uid = (at as { uid: string }).uid;
    expect(await agent.interaction(uid)).toMatchObject({ prompt: 'consent', client: { name: 'Partner Analytics', first_party: false }, scopes: ['openid', 'email'] });
    const declined = await agent.step(uid, 'abort');
    expect('callback' in declined && declined.callback.searchParams.get('error')).toBe('access_denied');

    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email reports:read', resource: REPORTS_API });
    const shown: Record<string, unknown>[] = [];
    const callback = await agent.authorize(url, { onConsent: async (step) => void shown.push(await agent.interaction(step)) });
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ resources: [{ indicator: REPORTS_API, name: 'Reports API', scopes: [{ name: 'reports:read', description: 'Read reports' }] }] });
    const tokens = await client.authorizationCodeGrant(rp, callback, checks);
    const access = decodeJwt(tokens.access_token);
    expect(access).toMatchObject({ aud: REPORTS_API, scope: 'reports:read', sub: bob.user.id });
    const audit = await t.auditRows({ action: 'oidc.consent_given', targetId: thirdParty.client_id });
    expect(audit.length).toBeGreaterThanOrEqual(1);

    // Asked again: already granted, no consent screen.
    const again = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email' });
    const asked: string[] = [];
    await agent.authorize(again.url, { onConsent: async (step) => void asked.push(step) });
    expect(asked).toEqual([]);
  });

  it('organization_id: the person confirms the organization; the token speaks for it (org_id, org_role) and works on its routes; a non-member is refused', async () => {
    const owner = await t.signedIn('org-owner');
    const org = await t.createOrg(owner, { name: 'Acme' });
    const first = await register({ name: 'Acme Console', type: 'web', first_party: true });
    const consoleRp = await relyingParty(origin, first.client_id, first.client_secret);
    const agent = await signedInAgent(owner);
    const { url, checks } = await authorizationRequest(consoleRp, {
      redirect_uri: CALLBACK, scope: 'openid organizations', resource: app.config.auth.audience, organization_id: org.id,
    });
    const shown: Record<string, unknown>[] = [];
    const callback = await agent.authorize(url, { consent: { organization_id: org.id }, onConsent: async (step) => void shown.push(await agent.interaction(step)) });
    expect(shown).toEqual([expect.objectContaining({ prompt: 'consent', organization: org.id })]);
    const tokens = await client.authorizationCodeGrant(consoleRp, callback, checks);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ org_id: org.id, org_role: 'owner' });
    const members = await t.call('GET', `/v1/orgs/${org.id}/members`, tokens.access_token);
    expect(members.statusCode, members.body).toBe(200);

    // bob is not a member of Acme.
    const bobAgent = await signedInAgent(bob);
    const refused = await authorizationRequest(consoleRp, { redirect_uri: CALLBACK, scope: 'openid', organization_id: org.id });
    let at = await bobAgent.follow(refused.url);
    at = await bobAgent.step((at as { uid: string }).uid, 'login');
    const res = await bobAgent.fetch(`/v1/oidc/interactions/${(at as { uid: string }).uid}/consent`, { json: { organization_id: org.id } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('not_a_member');
  });

  it('the organizations claim lists the person\'s memberships (id, slug, role)', async () => {
    const owner = await t.signedIn('claims-owner');
    const org = await t.createOrg(owner, { name: 'Claims Inc' });
    const web = await register({ name: 'Claims', type: 'web', first_party: true });
    const webRp = await relyingParty(origin, web.client_id, web.client_secret);
    const agent = await signedInAgent(owner);
    const { url, checks } = await authorizationRequest(webRp, { redirect_uri: CALLBACK, scope: 'openid organizations' });
    const tokens = await client.authorizationCodeGrant(webRp, await agent.authorize(url), checks);
    const info = await client.fetchUserInfo(webRp, tokens.access_token, owner.user.id);
    expect(info.organizations).toEqual([{ id: org.id, slug: org.slug, role: 'owner' }]);
  });
});

describe('machine clients, PAR, DPoP, device flow and logout', () => {
  it('client credentials for an m2m application: a JWT for the resource (aud, granted scopes only), verifiable by the JWKS alone; refusals', async () => {
    const m2m = await register({ name: 'Nightly export', type: 'm2m', redirect_uris: [] });
    const grants = await t.call('PUT', `/v1/admin/applications/${m2m.client_id}/grants`, admin.token, { grants: [{ resource: REPORTS_API, scopes: ['reports:read'] }] });
    expect(grants.statusCode, grants.body).toBe(200);
    const rp = await relyingParty(origin, m2m.client_id, m2m.client_secret);
    const tokens = await client.clientCredentialsGrant(rp, { resource: REPORTS_API, scope: 'reports:read reports:write' });
    const jwks = createLocalJWKSet((await (await fetch(`${origin}/.well-known/jwks.json`)).json()) as { keys: JWK[] });
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: origin, audience: REPORTS_API, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ client_id: m2m.client_id, scope: 'reports:read' });
    expect(await oauthError(client.clientCredentialsGrant(rp, { resource: 'https://unknown.example.com/api', scope: 'reports:read' }))).toMatchObject({ error: 'invalid_target' });
    const wrong = await relyingParty(origin, m2m.client_id, 'wrong-secret');
    expect(await oauthError(client.clientCredentialsGrant(wrong, { resource: REPORTS_API }))).toMatchObject({ error: 'invalid_client' });

    // After a rotation both secrets work at the token endpoint for the overlap; then only the new one.
    const rotated = await t.call('POST', `/v1/admin/applications/${m2m.client_id}/secret`, admin.token);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const fresh = rotated.json<{ client_secret: string }>().client_secret;
    secretsSeen.push(fresh);
    expect((await client.clientCredentialsGrant(rp, { resource: REPORTS_API })).access_token).toEqual(expect.any(String));
    const renewed = await relyingParty(origin, m2m.client_id, fresh);
    expect((await client.clientCredentialsGrant(renewed, { resource: REPORTS_API })).access_token).toEqual(expect.any(String));
    await t.query("UPDATE oidc_applications SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1", [m2m.client_id]);
    expect(await oauthError(client.clientCredentialsGrant(rp, { resource: REPORTS_API }))).toMatchObject({ error: 'invalid_client' });
    expect((await client.clientCredentialsGrant(renewed, { resource: REPORTS_API })).access_token).toEqual(expect.any(String));
  });

  it('pushed authorization requests (RFC 9126) and DPoP-bound tokens (RFC 9449)', async () => {
    const person = await t.signedIn('dpop');
    const web = await register({ name: 'Bound', type: 'web', first_party: true });
    const rp = await relyingParty(origin, web.client_id, web.client_secret);
    const agent = await signedInAgent(person);
    const dpop = client.getDPoPHandle(rp, await client.randomDPoPKeyPair('ES256'));
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: CALLBACK, scope: 'openid email', nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { DPoP: dpop });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(url), { pkceCodeVerifier: verifier, expectedNonce: nonce }, undefined, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(await client.fetchUserInfo(rp, tokens.access_token, person.user.id, { DPoP: dpop })).toMatchObject({ email: person.email });
    // The same token as a plain bearer token is refused.
    const plain = await fetch(`${origin}/oauth/userinfo`, { headers: bearer(tokens.access_token) });
    expect(plain.status).toBe(401);
  });

  it('device authorization grant (RFC 8628): the code entered on this server\'s page, the person signs in, the device gets its tokens', async () => {
    const person = await t.signedIn('device');
    const tv = await register({ name: 'Living-room TV', type: 'device', redirect_uris: [], first_party: true });
    const rp = await relyingParty(origin, tv.client_id);
    const started = await client.initiateDeviceAuthorization(rp, { scope: 'openid email' });
    expect(started.verification_uri).toBe(`${origin}/oauth/device`);
    // The link with the code filled in (verification_uri_complete) is logged without it.
    const complete = await new UserAgent(origin).fetch(started.verification_uri_complete!);
    expect(complete.status).toBe(200);
    secretsSeen.push(started.user_code);
    const agent = await signedInAgent(person);
    // The hosted page's data: the step and oidc-provider's CSRF token (the page itself is in the browser suite).
    const data = async (res: Response) => {
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      const content = /<meta name="tessera-page-data" content="([^"]*)">/.exec(await res.text())?.[1];
      return JSON.parse(content!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as Record<string, string>;
    };
    const input = await data(await agent.fetch('/oauth/device'));
    expect(input).toMatchObject({ page: 'device', step: 'input', error: null });
    const wrong = await data(await agent.fetch('/oauth/device', { form: { xsrf: input.xsrf!, user_code: 'BCDF-GHJK' } }));
    expect(wrong).toMatchObject({ step: 'input', error: 'wrong_code' });
    const confirm = await data(await agent.fetch('/oauth/device', { form: { xsrf: wrong.xsrf!, user_code: started.user_code } }));
    expect(confirm).toMatchObject({ step: 'confirm', client: 'Living-room TV', user_code: started.user_code });
    const confirmed = await agent.fetch('/oauth/device', { form: { xsrf: confirm.xsrf!, user_code: started.user_code, confirm: 'yes' } });
    expect(confirmed.status).toBe(303);
    let at = await agent.follow(new URL(confirmed.headers.get('location')!, origin));
    for (let i = 0; i < 3 && 'uid' in at; i++) {
      const details = await agent.interaction(at.uid);
      at = await agent.step(at.uid, details.prompt === 'login' ? 'login' : 'consent');
    }
    expect('page' in at && (await data(at.page))).toMatchObject({ step: 'done', client: 'Living-room TV' });
    const tokens = await client.pollDeviceAuthorizationGrant(rp, { ...started, interval: 0 });
    expect(tokens.claims()).toMatchObject({ sub: person.user.id, aud: tv.client_id });
  });

  it('RP-initiated logout ends the Tessera session and notifies the application by back-channel logout', async () => {
    const person = await t.signedIn('logout');
    const web = await register({ name: 'Signs out', type: 'web', first_party: true, post_logout_redirect_uris: [AFTER_LOGOUT], backchannel_logout_uri: receiverUrl });
    const rp = await relyingParty(origin, web.client_id, web.client_secret);
    const agent = await signedInAgent(person);
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid' });
    const tokens = await client.authorizationCodeGrant(rp, await agent.authorize(url), checks);

    const end = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye' });
    secretsSeen.push(tokens.id_token!);
    const page = await agent.fetch(end);
    const html = await page.text();
    expect(html).toContain('Yes, sign me out');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const done = await agent.fetch('/oauth/logout/confirm', { form: { xsrf, logout: 'yes' } });
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(AFTER_LOGOUT);
    expect(back.searchParams.get('state')).toBe('bye');

    await expect.poll(() => logoutTokens.map((token) => decodeJwt(token)).find((claims) => claims.sub === person.user.id), { timeout: 10_000 }).toMatchObject({
      iss: origin, aud: web.client_id, events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    });
    // The Tessera session of that browser has ended.
    await expect.poll(async () => (await agent.fetch('/v1/me')).status, { timeout: 10_000 }).toBe(401);
  });
});
