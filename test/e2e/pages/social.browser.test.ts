import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { checkPage, hasChromium, mailLink, nextMail, PHONE, startPagesServer, type PagesServer, type Person } from '../../helpers/browser.js';
import { PASSWORD, testClient, type Signed } from '../../helpers/client.js';
import { signUp, uniqueEmail } from '../../helpers/outbox.js';

/*
 * The social parts of the hosted pages in Chromium: the notifications inbox (new notifications
 * arriving live through the stream, the unread badge, mark read, preferences), the organizations
 * section (create, switch, leave, the last-owner refusal, invitations to me) and the invitation page
 * (/invitations/accept) for a new person, another account, a withdrawn link, and in Spanish.
 */

describe.skipIf(!hasChromium)('hosted pages: notifications, organizations, invitations', { timeout: 120_000 }, () => {
  let server: PagesServer;
  const api = testClient(() => server.app);

  beforeAll(async () => {
    // Access cookies live a minute (the shortest allowed): the notification stream ends with one, and the page must carry on.
    server = await startPagesServer({ env: { ACCESS_TOKEN_TTL_SECONDS: '60' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Signs in on the sign-in page (from wherever the person is sent to it) and waits to leave it. */
  async function signInOnPage(page: Page, email: string): Promise<void> {
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  }

  /** A new verified account, signed in in a fresh browser on `path`. */
  async function signedInPerson(label: string, path: string, name?: string): Promise<{ person: Person; email: string; userId: string }> {
    const email = uniqueEmail(label);
    const user = await signUp(server.app, email, PASSWORD, name);
    const person = await server.person();
    await person.open(`/sign-in?return_to=${encodeURIComponent(path)}`);
    await signInOnPage(person.page, email);
    await person.page.waitForURL((url) => url.pathname === path);
    return { person, email, userId: user.id };
  }

  /** At 375 px nothing makes the page scroll sideways (a failure names what sticks out). */
  async function expectFitsPhone(page: Page): Promise<void> {
    const before = page.viewportSize()!;
    await page.setViewportSize(PHONE);
    const width = (): Promise<number> => page.evaluate('document.documentElement.scrollWidth') as Promise<number>;
    const beyond = (): Promise<string[]> =>
      page.evaluate(`[...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > ${PHONE.width} + 1)
        .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '') + ' ' + Math.round(el.getBoundingClientRect().right))`);
    try {
      await expect.poll(width, { timeout: 2000 }).toBeLessThanOrEqual(PHONE.width);
    } catch {
      throw new Error(`The page is ${await width()} px wide at ${PHONE.width} px; beyond the edge: ${(await beyond()).join(', ')}`);
    }
    await page.setViewportSize(before);
  }

  /** An in-app notification made by the app's messenger, as any module makes one. */
  const notify = (userId: string, template: 'accounts.password_changed' | 'mfa.recovery_used') =>
    server.app.context.messenger.notify({ channel: 'in_app', userId, template, data: { at: new Date().toISOString(), ip: '198.51.100.4', device: null } });

  it('shows new notifications live, counts them in the badge, marks them read; preferences are saved and stay; the stream outlives the access cookie', { timeout: 240_000 }, async () => {
    const { person, userId } = await signedInPerson('inbox', '/account/notifications');
    const { page } = person;
    const streams: number[] = [];
    const refreshes: number[] = [];
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path === '/v1/me/notifications/stream') streams.push(response.status());
      if (path === '/v1/auth/refresh') refreshes.push(response.status());
    });
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Notifications');
    await expect.poll(() => page.getByText('No notifications yet.').isVisible()).toBe(true);
    const badge = page.getByRole('link', { name: 'Notifications 1 unread' });
    expect(await page.getByRole('link', { name: /unread/ }).count()).toBe(0);

    // Made server-side while the page is open: it appears without a reload, and the badge counts it.
    await notify(userId, 'accounts.password_changed');
    const first = page.getByRole('heading', { name: 'Your password was changed' });
    await first.waitFor({ timeout: 20_000 });
    await badge.waitFor();
    expect(await page.getByText('1 unread notification', { exact: true }).isVisible()).toBe(true);

    await notify(userId, 'mfa.recovery_used');
    await page.getByRole('heading', { name: 'Your second factor was reset' }).waitFor({ timeout: 20_000 });
    await page.getByRole('link', { name: 'Notifications 2 unread' }).waitFor();

    // Newest first.
    const titles = await page.locator('.inbox h3').allTextContents();
    expect(titles).toEqual(['Your second factor was reset', 'Your password was changed']);

    await checkPage(page, 'notifications');
    await expectFitsPhone(page);

    // Mark one read: its button goes, the badge goes down.
    const item = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Your password was changed' }) });
    await item.getByRole('button', { name: 'Mark as read' }).click();
    await page.getByRole('link', { name: 'Notifications 1 unread' }).waitFor();
    await expect.poll(() => item.getByRole('button', { name: 'Mark as read' }).count()).toBe(0);

    // Mark all read: no badge left, and it stays so after a reload.
    await page.getByRole('button', { name: 'Mark all as read' }).click();
    await expect.poll(() => page.getByRole('link', { name: /unread/ }).count()).toBe(0);
    await expect.poll(() => page.getByText('Everything is read.').isVisible()).toBe(true);

    // Preferences: a table of labelled checkboxes; security always on.
    const marketingEmail = page.getByRole('checkbox', { name: 'News and offers: Email' });
    const productPush = page.getByRole('checkbox', { name: 'Product updates: Push' });
    expect(await marketingEmail.isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: 'Security: Email' }).isDisabled()).toBe(true);
    await marketingEmail.uncheck();
    await productPush.uncheck();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await expect.poll(() => page.getByText('Saved. Your preferences are updated.').isVisible()).toBe(true);

    await page.reload();
    await page.getByRole('checkbox', { name: 'News and offers: Email' }).waitFor();
    expect(await page.getByRole('checkbox', { name: 'News and offers: Email' }).isChecked()).toBe(false);
    expect(await page.getByRole('checkbox', { name: 'Product updates: Push' }).isChecked()).toBe(false);
    expect(await page.getByRole('checkbox', { name: 'News and offers: In the app' }).isChecked()).toBe(true);
    // Read ones stay read after the reload; the badge stays away.
    await page.getByRole('heading', { name: 'Your password was changed' }).waitFor();
    expect(await page.getByRole('link', { name: /unread/ }).count()).toBe(0);

    // Another one after the reload still arrives live (a new stream).
    await notify(userId, 'accounts.password_changed');
    await page.getByRole('link', { name: 'Notifications 1 unread' }).waitFor({ timeout: 20_000 });

    // The access cookie expires: the server ends the stream, the browser's own reconnection is refused
    // (401), the page refreshes the session and opens a new stream, which still delivers live.
    await expect
      .poll(() => streams.includes(401) && streams.lastIndexOf(200) > streams.indexOf(401), { timeout: 150_000, interval: 1000 })
      .toBe(true);
    expect(refreshes).toContain(200);
    await notify(userId, 'mfa.recovery_used');
    await page.getByRole('link', { name: 'Notifications 2 unread' }).waitFor({ timeout: 20_000 });
    expect(person.problems).toEqual([]);
  });

  it('in Spanish: a notification arrives live in the open inbox, titled in the person\'s language, and the badge counts it', async () => {
    const email = uniqueEmail('bandeja');
    const user = await signUp(server.app, email, PASSWORD);
    await server.app.context.db.sql.query(`UPDATE users SET locale = 'es' WHERE id = $1`, [user.id]);
    const person = await server.person({ locale: 'es-ES' });
    const { page } = person;
    await person.open(`/sign-in?return_to=${encodeURIComponent('/account/notifications')}`);
    await page.getByLabel('Correo electrónico').fill(email);
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Iniciar sesión', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/account/notifications');
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Notificaciones');
    await expect.poll(() => page.getByText('Aún no tienes notificaciones.').isVisible()).toBe(true);

    await notify(user.id, 'accounts.password_changed');
    await page.getByRole('heading', { name: 'Se cambió tu contraseña' }).waitFor({ timeout: 20_000 });
    await page.getByRole('link', { name: 'Notificaciones 1 sin leer' }).waitFor();
    expect(await page.getByText('1 notificación sin leer', { exact: true }).isVisible()).toBe(true);
    await checkPage(page, 'notifications-es');
    expect(person.problems).toEqual([]);
  });

  it('creates an organization, switches to it, leaves another, and says why the only owner cannot leave', async () => {
    const { person, email, userId } = await signedInPerson('orgs', '/account/organizations');
    const { page } = person;
    // A second organization, owned by someone else, where the person is a member.
    const owner = await api.signedIn('other-owner', { name: 'Olga Owner' });
    const other = await api.createOrg(owner, { name: 'Globex Partners' });
    await server.app.context.orgs.addMember(other.id, userId, 'member', { id: null }, { ip: null, userAgent: null });

    await page.reload();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Organizations');
    const globex = page.getByRole('listitem').filter({ hasText: 'Globex Partners' });
    await globex.waitFor();
    expect(await globex.textContent()).toContain('Your role: Member');

    // Create one on the page: listed, the creator its owner.
    await page.getByLabel('Organization name').fill('Acme Robotics');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByText('Acme Robotics is created. You are its owner.').waitFor();
    const acme = page.getByRole('listitem').filter({ hasText: 'Acme Robotics' });
    expect(await acme.textContent()).toContain('Your role: Owner');
    expect(await page.getByText('Active', { exact: true }).count()).toBe(0);

    // Switch: the session speaks for Acme now (and still after a reload).
    await acme.getByRole('button', { name: 'Switch to this organization' }).click();
    await page.getByText('You are now working in Acme Robotics.').waitFor();
    await acme.getByText('Active', { exact: true }).waitFor();
    await page.reload();
    await page.getByRole('listitem').filter({ hasText: 'Acme Robotics' }).getByText('Active', { exact: true }).waitFor();
    const orgClaim = await page.evaluate(async () => (await fetch('/v1/org', { credentials: 'same-origin' })).json() as Promise<{ name: string }>);
    expect(orgClaim.name).toBe('Acme Robotics');

    await checkPage(page, 'organizations');
    await expectFitsPhone(page);

    // Leave Globex, confirmed in a dialog.
    await page.getByRole('listitem').filter({ hasText: 'Globex Partners' }).getByRole('button', { name: 'Leave' }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave Globex Partners?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Leave organization' }).click();
    await page.getByText('You left Globex Partners.').waitFor();
    expect(await page.getByRole('listitem').filter({ hasText: 'Globex Partners' }).count()).toBe(0);
    const members = await api.allPages<{ user_id: string }>(`/v1/orgs/${other.id}/members`, owner.token);
    expect(members.map((m) => m.user_id)).not.toContain(userId);

    // The only owner of Acme cannot leave: said in the dialog, in words.
    await page.getByRole('listitem').filter({ hasText: 'Acme Robotics' }).getByRole('button', { name: 'Leave' }).click();
    const acmeDialog = page.getByRole('dialog', { name: 'Leave Acme Robotics?' });
    await acmeDialog.getByRole('button', { name: 'Leave organization' }).click();
    const refusal = acmeDialog.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('You are the only owner of Acme Robotics, so you cannot leave it.');
    expect(await acmeDialog.getByRole('button', { name: 'Leave organization' }).count()).toBe(0);
    await checkPage(page, 'organizations-last-owner');
    await acmeDialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await page.getByRole('listitem').filter({ hasText: 'Acme Robotics' }).count()).toBe(1);

    // A pending invitation to me: accepted here, the organization joins my list; another declined.
    const initech = await api.createOrg(owner, { name: 'Initech Labs' });
    const hooli = await api.createOrg(owner, { name: 'Hooli Research' });
    for (const org of [initech, hooli]) {
      const res = await api.call('POST', `/v1/orgs/${org.id}/invitations`, owner.token, { email, role: 'admin' });
      expect(res.statusCode, res.body).toBe(201);
    }
    await page.reload();
    const invitations = page.getByRole('region', { name: 'Invitations for you' });
    await invitations.waitFor();
    const initechInvite = invitations.getByRole('listitem').filter({ hasText: 'Initech Labs' });
    expect(await initechInvite.textContent()).toContain('Olga Owner invited you as Admin.');
    await checkPage(page, 'organizations-invitations');
    await initechInvite.getByRole('button', { name: 'Accept' }).click();
    await page.getByText('You joined Initech Labs.').waitFor();
    expect(await page.getByRole('region', { name: 'Your organizations' }).getByRole('listitem').filter({ hasText: 'Initech Labs' }).textContent()).toContain('Your role: Admin');
    await invitations.getByRole('listitem').filter({ hasText: 'Hooli Research' }).getByRole('button', { name: 'Decline' }).click();
    await page.getByText('You declined the invitation to Hooli Research.').waitFor();
    await expect.poll(() => page.getByRole('region', { name: 'Invitations for you' }).count()).toBe(0);
    expect(await page.getByRole('region', { name: 'Your organizations' }).getByRole('listitem').filter({ hasText: 'Hooli Research' }).count()).toBe(0);
    expect(person.problems).toEqual([]);
  });

  /** An organization owned through the API that invites `email`; answers the invitation link (a path) from the mail at the SMTP sink. */
  async function invite(owner: Signed, orgId: string, email: string, role = 'member'): Promise<{ link: string; id: string }> {
    const mail = nextMail(server.smtp, email, /invited to join/i);
    const res = await api.call('POST', `/v1/orgs/${orgId}/invitations`, owner.token, { email, role });
    expect(res.statusCode, res.body).toBe(201);
    return { link: mailLink(await mail, '/invitations/accept'), id: res.json<{ id: string }>().id };
  }

  it('lets a new person open an invitation, get an account, sign in and join; another account is told so; a withdrawn link says so', async () => {
    const owner = await api.signedIn('inviter', { name: 'Ivy Inviter' });
    const org = await api.createOrg(owner, { name: 'Umbrella Works' });
    const newcomer = uniqueEmail('newcomer');
    const { link } = await invite(owner, org.id, newcomer);
    expect(link).toMatch(/^\/invitations\/accept\?token=/);

    // Signed out: the offer, then "Sign in" and "Create an account" that come back here.
    const person = await server.person();
    const { page } = person;
    await person.open(link);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Invitation to join Umbrella Works');
    expect(await page.getByText('Ivy Inviter invited you to join Umbrella Works as Member.').isVisible()).toBe(true);
    expect(await page.getByText(`The invitation was sent to ${newcomer}.`, { exact: false }).isVisible()).toBe(true);
    const returnTo = `return_to=${encodeURIComponent(link)}`;
    expect(await page.getByRole('link', { name: 'Create an account' }).getAttribute('href')).toBe(`/sign-up?${returnTo}`);
    expect(await page.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe(`/sign-in?${returnTo}`);
    await checkPage(page, 'invitation-signed-out');

    // "Create an account": sign-up, the verification mail, its link in the same browser, Continue,
    // sign-in, and back on the invitation (return_to kept across the verification).
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL((url) => url.pathname === '/sign-up');
    await page.getByLabel('Name (optional)').fill('Nia Newcomer');
    await page.getByLabel('Email address').fill(newcomer);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const verification = nextMail(server.smtp, newcomer, /Verify your email/);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Check your email');
    await person.open(mailLink(await verification, '/verify-email'));
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Confirm your email address');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Email address verified');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.pathname === '/sign-in');
    expect(new URL(page.url()).searchParams.get('return_to')).toBe(link);
    await signInOnPage(page, newcomer);
    await page.waitForURL((url) => url.pathname === '/invitations/accept');
    const join = page.getByRole('button', { name: 'Join Umbrella Works' });
    await join.waitFor();
    await checkPage(page, 'invitation-signed-in');
    await join.click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('You joined Umbrella Works.');
    await page.getByRole('link', { name: 'Go to your organizations' }).click();
    await page.waitForURL((url) => url.pathname === '/account/organizations');
    await page.getByRole('listitem').filter({ hasText: 'Umbrella Works' }).waitFor();
    expect(await page.getByRole('listitem').filter({ hasText: 'Umbrella Works' }).textContent()).toContain('Your role: Member');

    // The link works once: opened again, it says it cannot be used.
    await person.open(link);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('This invitation cannot be used');

    // Signed in as someone else: said so; "Sign out and continue" leads to the signed-out choice.
    const invited = uniqueEmail('invited');
    const second = await invite(owner, org.id, invited);
    const other = await signedInPerson('bystander', '/account');
    await other.person.open(second.link);
    const notice = other.person.page.getByText(`You are signed in as ${other.email}, but this invitation was sent to ${invited}.`);
    await notice.waitFor();
    await checkPage(other.person.page, 'invitation-other-account');
    await other.person.page.getByRole('button', { name: 'Sign out and continue' }).click();
    await other.person.page.getByRole('link', { name: 'Create an account' }).waitFor();
    expect(await other.person.page.getByText(`Sign in or create an account with ${invited} to accept.`).isVisible()).toBe(true);

    // Withdrawn by the organization: a clear page, not an error.
    const revoked = await api.call('DELETE', `/v1/orgs/${org.id}/invitations/${second.id}`, owner.token);
    expect(revoked.statusCode, revoked.body).toBe(204);
    await other.person.open(second.link);
    await expect.poll(() => other.person.page.getByRole('heading', { level: 1 }).textContent()).toBe('This invitation cannot be used');
    expect(await other.person.page.getByText('The link has expired, was already used, or was withdrawn.', { exact: false }).isVisible()).toBe(true);
    await checkPage(other.person.page, 'invitation-invalid');
    expect([...person.problems, ...other.person.problems]).toEqual([]);
  });

  it('speaks Spanish on the invitation page, and a new person accepts it in Spanish', async () => {
    const owner = await api.signedIn('duena', { name: 'Dolores' });
    const org = await api.createOrg(owner, { name: 'Pollos Hermanos' });
    const invitee = uniqueEmail('invitada');
    const { link } = await invite(owner, org.id, invitee, 'viewer');
    const person = await server.person({ locale: 'es-ES' });
    await person.open(link);
    await expect.poll(() => person.page.getByRole('heading', { level: 1 }).textContent()).toBe('Invitación para unirte a Pollos Hermanos');
    expect(await person.page.getByText('Dolores te ha invitado a unirte a Pollos Hermanos como Lector.').isVisible()).toBe(true);
    expect(await person.page.getByRole('link', { name: 'Crear una cuenta' }).isVisible()).toBe(true);
    expect(await person.page.getByRole('link', { name: 'Iniciar sesión' }).isVisible()).toBe(true);
    await checkPage(person.page, 'invitation-es');

    // A new person, in Spanish: an account, the verification mail, sign-in, and the invitation accepted.
    const { page } = person;
    await page.getByRole('link', { name: 'Crear una cuenta' }).click();
    await page.waitForURL((url) => url.pathname === '/sign-up');
    await page.getByLabel('Correo electrónico').fill(invitee);
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    const verification = nextMail(server.smtp, invitee, /Verifica tu dirección de correo/);
    await page.getByRole('button', { name: 'Crear cuenta' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Revisa tu correo');
    await person.open(mailLink(await verification, '/verify-email'));
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Confirma tu correo electrónico');
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Verificar', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Correo electrónico verificado');
    await page.getByRole('button', { name: 'Continuar' }).click();
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await page.getByLabel('Correo electrónico').fill(invitee);
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Iniciar sesión', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/invitations/accept');
    await page.getByRole('button', { name: 'Unirme a Pollos Hermanos' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Te has unido a Pollos Hermanos.');
    expect(person.problems).toEqual([]);
  });
});
