import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/app/app.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createPostgresDatabase } from '../../src/platform/db/database.js';
import { createTestApp, logCollector, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { engines } from '../helpers/db.js';
import { authorizationRequest, relyingParty, UserAgent } from '../helpers/oidc.js';
import { freePort } from '../helpers/process.js';

/*
 * The OpenID provider on two instances sharing one PostgreSQL and one Redis (one PUBLIC_URL, a load
 * balancer's view): a code issued by instance A is redeemed at instance B, and revoking the person's
 * session through B ends the OIDC tokens when A is asked.
 */

const { redisUrl } = inject('services');
const CALLBACK = 'http://127.0.0.1:9/callback';

describe.skipIf(!engines().includes('postgres') || !redisUrl)('the OpenID provider across two instances on PostgreSQL + Redis', () => {
  let appA: TestApp;
  let appB: App;
  let originA: string;
  let originB: string;
  const viaA = testClient(() => appA);
  const viaB = testClient(() => appB);

  beforeAll(async () => {
    const prefix = `test:oidc:${randomBytes(6).toString('hex')}:`;
    const [portA, portB] = [await freePort(), await freePort()];
    originA = `http://localhost:${portA}`;
    originB = `http://localhost:${portB}`;
    appA = await createTestApp({ engine: 'postgres', env: { PUBLIC_URL: originA }, build: { cache: await createRedisCache(redisUrl!, { prefix }) } });
    await appA.server.listen({ host: '127.0.0.1', port: portA });
    appB = await buildApp(appA.config, { db: createPostgresDatabase({ url: appA.database.url!, max: 5 }), cache: await createRedisCache(redisUrl!, { prefix }), logDestination: logCollector().stream });
    await appB.server.listen({ host: '127.0.0.1', port: portB });
  });
  afterAll(async () => {
    await appB?.close();
    await appA?.destroy();
  });

  it('B redeems a code A issued; revoking the session through B ends the refresh token and the API token on A', async () => {
    const admin = await viaA.platformAdmin();
    const created = await viaA.call('POST', '/v1/admin/applications', admin.token, { name: 'Balanced', type: 'web', first_party: true, redirect_uris: [CALLBACK] });
    expect(created.statusCode, created.body).toBe(201);
    const app = created.json<{ client_id: string; client_secret: string }>();
    const person = await viaA.signedIn('two-instances');

    const rpA = await relyingParty(originA, app.client_id, app.client_secret);
    // The same client, its token requests sent to instance B.
    const rpB = await relyingParty(originA, app.client_id, app.client_secret);
    rpB[client.customFetch] = (url, options) => fetch(url.replace(originA, originB), options as RequestInit);

    const agent = new UserAgent(originA);
    await agent.signIn(person.email);
    const { url, checks } = await authorizationRequest(rpA, { redirect_uri: CALLBACK, scope: 'openid offline_access', resource: appA.config.auth.audience, prompt: 'consent' });
    const callback = await agent.authorize(url);
    const tokens = await client.authorizationCodeGrant(rpB, callback, checks);
    expect(tokens.claims()).toMatchObject({ sub: person.user.id, iss: originA });
    const sid = String(decodeJwt(tokens.access_token).sid);
    expect((await viaA.call('GET', '/v1/me', tokens.access_token)).statusCode).toBe(200);
    // A refresh at A works (and rotates).
    const rotated = await client.refreshTokenGrant(rpA, tokens.refresh_token!);

    const revoked = await viaB.call('DELETE', `/v1/me/sessions/${sid}`, person.token);
    expect(revoked.statusCode, revoked.body).toBe(204);
    await expect(client.refreshTokenGrant(rpA, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await viaA.call('GET', '/v1/me', rotated.access_token)).statusCode).toBe(401);
    expect((await client.tokenIntrospection(rpA, rotated.refresh_token!)).active).toBe(false);
  });
});
