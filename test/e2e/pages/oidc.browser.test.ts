import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPage, hasChromium, startPagesServer, type PagesServer, type Person } from '../../helpers/browser.js';
import { PASSWORD, testClient } from '../../helpers/client.js';
import { authorizationRequest, relyingParty } from '../../helpers/oidc.js';
import { signUp, uniqueEmail } from '../../helpers/outbox.js';

/*
 * An application signs a person in through Tessera's OpenID provider in Chromium: openid-client
 * builds the request, the browser goes through the hosted sign-in page and the consent page of a
 * third-party application (read like a person reads it), and lands on the application's redirect
 * URI with a code that openid-client redeems. Then the account center's "Connected apps" shows the
 * application and takes its access back. Each page is checked with axe and photographed.
 */


describe.skipIf(!hasChromium)('hosted pages: signing in to an application (OpenID Connect)', { timeout: 120_000 }, () => {
  let server: PagesServer;
  const t = testClient(() => server.app);
  /** The applications' redirect URI: a real page on loopback that remembers every URL it was opened with. */
  let application: Server;
  let CALLBACK: string;
  const arrivals: URL[] = [];

  beforeAll(async () => {
    application = createServer((req, res) => {
      arrivals.push(new URL(req.url!, CALLBACK));
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Application</title><h1>Back in the application</h1>');
    });
    await new Promise<void>((resolve) => application.listen(0, '127.0.0.1', resolve));
    CALLBACK = `http://127.0.0.1:${(application.address() as AddressInfo).port}/callback`;
    server = await startPagesServer();
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => application?.close(resolve));
  });

  const path = (page: Page) => new URL(page.url()).pathname;

  /** Fills the hosted sign-in page the browser is on (English) and submits it. */
  async function signInHere(page: Page, email: string): Promise<void> {
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /** Waits for the browser to arrive at the application's redirect URI with this state; answers that URL. */
  async function arrival(state: string): Promise<URL> {
    await expect.poll(() => arrivals.find((url) => url.searchParams.get('state') === state), { timeout: 15_000 }).toBeDefined();
    return arrivals.find((url) => url.searchParams.get('state') === state)!;
  }

  it('a third-party application: sign in on the hosted page, consent lists what it asks, Allow; the code is redeemed; Connected apps takes the access back', async () => {
    const email = uniqueEmail('oidc-browser');
    const user = await signUp(server.app, email, PASSWORD);
    const admin = await t.platformAdmin();
    const created = await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Partner Analytics', type: 'web', redirect_uris: [CALLBACK] });
    expect(created.statusCode, created.body).toBe(201);
    const app = created.json<{ client_id: string; client_secret: string }>();
    const rp = await relyingParty(server.origin, app.client_id, app.client_secret);

    const person = await server.person();
    const { page } = person;
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid email offline_access', prompt: 'consent' });
    await page.goto(url.href);

    // Not signed in: the hosted sign-in page, which comes back to the request.
    await expect.poll(() => path(page)).toBe('/sign-in');
    await signInHere(page, email);

    // The consent page names the application and what it asks for.
    const heading = page.getByRole('heading', { level: 1, name: 'Partner Analytics would like to' });
    await heading.waitFor();
    expect(path(page)).toMatch(/^\/authorize\//);
    await expect.poll(() => page.getByRole('listitem').allTextContents()).toEqual(['Know who you are on this server', 'See your email address', 'Stay connected when you are not using it']);
    await expect.poll(() => page.getByText(`Signed in as ${email}.`).count()).toBe(1);
    await checkPage(page, 'oidc-consent');
    await page.getByRole('button', { name: 'Allow', exact: true }).click();

    const back = await arrival(checks.expectedState);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Back in the application');
    expect(back.searchParams.get('code')).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(rp, back, checks);
    expect(tokens.claims()).toMatchObject({ sub: user.id, iss: server.origin, aud: app.client_id });
    expect(tokens.claims()!.amr).toEqual(['pwd']);
    expect(await client.fetchUserInfo(rp, tokens.access_token, user.id)).toMatchObject({ email });

    // The account center lists the application; removing its access revokes its tokens.
    await person.open('/account/apps');
    await page.getByRole('heading', { level: 1, name: 'Connected apps' }).waitFor();
    const entry = page.getByRole('list', { name: 'Connected apps' }).getByRole('listitem');
    await expect.poll(() => entry.textContent()).toContain('Partner Analytics');
    await expect.poll(() => entry.textContent()).toContain('openid, email, offline_access');
    await checkPage(page, 'account-connected-apps');
    await page.getByRole('button', { name: 'Remove access of Partner Analytics' }).click();
    await expect.poll(() => page.getByRole('alert').or(page.getByRole('status')).first().textContent()).toContain('Partner Analytics no longer has access to your account.');
    await expect.poll(() => page.getByText('No application has access to your account.').count()).toBe(1);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(person.problems).toEqual([]);
  });

  it('Deny sends the person back to the application with access_denied; a first-party application asks nothing', async () => {
    const email = uniqueEmail('oidc-deny');
    const user = await signUp(server.app, email, PASSWORD);
    const admin = await t.platformAdmin();
    const third = (await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Nosy App', type: 'spa', redirect_uris: [CALLBACK] })).json<{ client_id: string }>();
    const first = (await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Our Dashboard', type: 'spa', first_party: true, redirect_uris: [CALLBACK] })).json<{ client_id: string }>();

    const person = await server.person();
    const { page } = person;
    await person.open('/sign-in');
    await signInHere(page, email);
    await expect.poll(() => path(page)).toBe('/account');

    const nosy = await relyingParty(server.origin, third.client_id);
    const denied = await authorizationRequest(nosy, { redirect_uri: CALLBACK, scope: 'openid profile' });
    await page.goto(denied.url.href);
    await page.getByRole('heading', { level: 1, name: 'Nosy App would like to' }).waitFor();
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    const refused = await arrival(denied.checks.expectedState);
    expect(refused.searchParams.get('error')).toBe('access_denied');

    const dashboard = await relyingParty(server.origin, first.client_id);
    const { url, checks } = await authorizationRequest(dashboard, { redirect_uri: CALLBACK, scope: 'openid profile' });
    await page.goto(url.href);
    const tokens = await client.authorizationCodeGrant(dashboard, await arrival(checks.expectedState), checks);
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(person.problems).toEqual([]);
  });

  it('the application\'s ui_locales and login_hint reach the hosted sign-in: Spanish, the address filled in', async () => {
    const email = uniqueEmail('oidc-hints');
    const user = await signUp(server.app, email, PASSWORD);
    const admin = await t.platformAdmin();
    const app = (await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Hinted', type: 'spa', first_party: true, redirect_uris: [CALLBACK] })).json<{ client_id: string }>();
    const rp = await relyingParty(server.origin, app.client_id);
    const person = await server.person();
    const { page } = person;
    const { url, checks } = await authorizationRequest(rp, { redirect_uri: CALLBACK, scope: 'openid', ui_locales: 'es-ES en', login_hint: email });
    await page.goto(url.href);
    await expect.poll(() => path(page)).toBe('/sign-in');
    const field = page.getByLabel('Correo electrónico');
    await expect.poll(() => field.inputValue()).toBe(email);
    await checkPage(page, 'oidc-sign-in-hints');
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Iniciar sesión', exact: true }).click();
    const tokens = await client.authorizationCodeGrant(rp, await arrival(checks.expectedState), checks);
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(person.problems).toEqual([]);
  });

  it('a device (RFC 8628): the person types the code on /oauth/device, signs in, confirms; the device gets its tokens', async () => {
    const email = uniqueEmail('oidc-device');
    const user = await signUp(server.app, email, PASSWORD);
    const admin = await t.platformAdmin();
    const tv = (await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Living-room TV', type: 'device', first_party: true })).json<{ client_id: string }>();
    const rp = await relyingParty(server.origin, tv.client_id);
    const started = await client.initiateDeviceAuthorization(rp, { scope: 'openid email' });

    const person = await server.person();
    const { page } = person;
    await page.goto(started.verification_uri);
    await page.getByRole('heading', { level: 1, name: 'Connect a device' }).waitFor();
    await checkPage(page, 'oidc-device-code');
    await page.getByLabel('Code shown on your device').fill('WRONG-CODE');
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('That code is not right');
    await page.getByLabel('Code shown on your device').fill(started.user_code);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await expect.poll(() => page.getByText(`Living-room TV asks to sign in on a device showing the code ${started.user_code}.`).count()).toBe(1);
    await checkPage(page, 'oidc-device-confirm');
    await page.getByRole('button', { name: 'Continue', exact: true }).click();

    // Not signed in: the hosted sign-in, then back to the request, then the end of the flow.
    await expect.poll(() => path(page)).toBe('/sign-in');
    await signInHere(page, email);
    await page.getByRole('heading', { level: 1, name: 'Device connected' }).waitFor();
    await expect.poll(() => page.getByText('Living-room TV is signed in. You can go back to your device.').count()).toBe(1);
    await checkPage(page, 'oidc-device-done');
    const tokens = await client.pollDeviceAuthorizationGrant(rp, { ...started, interval: 0 });
    expect(tokens.claims()).toMatchObject({ sub: user.id, aud: tv.client_id });
    expect(person.problems).toEqual([]);
  });

  it('prompt=select_account asks which account; organization_id=select lets the person choose the organization the token speaks for', async () => {
    const email = uniqueEmail('oidc-orgs');
    const user = await signUp(server.app, email, PASSWORD);
    const owner = await t.signIn(email);
    const first = await t.createOrg(owner, { name: 'Acme Labs' });
    const second = await t.createOrg(owner, { name: 'Beta Works' });
    const admin = await t.platformAdmin();
    const app = (await t.call('POST', '/v1/admin/applications', admin.token, { name: 'Team Console', type: 'spa', first_party: true, redirect_uris: [CALLBACK] })).json<{ client_id: string }>();
    const rp = await relyingParty(server.origin, app.client_id);

    const person = await server.person();
    const { page } = person;
    await person.open('/sign-in');
    await signInHere(page, email);
    await expect.poll(() => path(page)).toBe('/account');

    const { url, checks } = await authorizationRequest(rp, {
      redirect_uri: CALLBACK, scope: 'openid organizations', prompt: 'select_account', organization_id: 'select', resource: server.app.config.auth.audience,
    });
    await page.goto(url.href);
    await page.getByRole('heading', { level: 1, name: 'Choose an account for Team Console' }).waitFor();
    await checkPage(page, 'oidc-select-account');
    await page.getByRole('button', { name: `Continue as ${email}` }).click();

    await page.getByRole('heading', { level: 1, name: 'Team Console would like to' }).waitFor();
    const chooser = page.getByLabel('Organization');
    await expect.poll(() => chooser.locator('option').allTextContents()).toEqual(['Acme Labs', 'Beta Works']);
    await checkPage(page, 'oidc-organization');
    await chooser.selectOption({ label: 'Beta Works' });
    await page.getByRole('button', { name: 'Allow', exact: true }).click();

    const tokens = await client.authorizationCodeGrant(rp, await arrival(checks.expectedState), checks);
    expect(tokens.claims()!.sub).toBe(user.id);
    const access = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(access).toMatchObject({ org_id: second.id, org_role: 'owner' });
    expect(access.org_id).not.toBe(first.id);
    expect(person.problems).toEqual([]);
  });
});
