import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticator } from '../../helpers/authenticator.js';
import { checkPage, hasChromium, mailLink, nextMail, signOutAndInWithPasskey, startPagesServer, type PagesServer, type Person } from '../../helpers/browser.js';
import { PASSWORD } from '../../helpers/client.js';
import { signUp, uniqueEmail } from '../../helpers/outbox.js';

/*
 * The account center in Chromium: profile (name, language, email change by link, password change
 * with the step-up dialog), security (authenticator app with backup codes shown once and downloaded,
 * new backup codes, passkeys added, renamed, used to sign in and removed, a phone number verified by
 * SMS), sessions and devices (this device marked, one ended, every other ended), each section
 * accessible at desktop and phone width, in English and Spanish.
 */

const NEW_PASSWORD = 'a different long passphrase 42';

describe.skipIf(!hasChromium)('hosted pages: the account center', { timeout: 180_000 }, () => {
  let server: PagesServer;

  beforeAll(async () => {
    server = await startPagesServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const path = (page: Page) => new URL(page.url()).pathname;
  const h1 = (page: Page) => page.getByRole('heading', { level: 1 });

  /** A verified account with PASSWORD. */
  async function account(label: string): Promise<{ email: string; id: string }> {
    const email = uniqueEmail(label);
    const user = await signUp(server.app, email, PASSWORD);
    return { email, id: user.id };
  }

  /** Signs in through /sign-in with a password; lands on `landing` (the account center by default). */
  async function signIn(person: Person, email: string, password = PASSWORD, landing = '/account'): Promise<void> {
    await person.open('/sign-in');
    await person.page.getByLabel('Email address').fill(email);
    await person.page.getByLabel('Password', { exact: true }).fill(password);
    await person.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => path(person.page)).toBe(landing);
  }

  /** The sign-in of every session of the user is no longer recent (as if 10 minutes had passed). */
  async function makeNotRecent(userId: string): Promise<void> {
    await server.app.context.db.sql.query(`UPDATE sessions SET reauthenticated_at = now() - interval '10 minutes' WHERE user_id = $1`, [userId]);
  }

  /** The step-up dialog appears, takes the password, and closes. */
  async function stepUp(page: Page, password = PASSWORD): Promise<void> {
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    await dialog.getByLabel('Password', { exact: true }).fill(password);
    await dialog.getByRole('button', { name: 'Confirm', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  async function signOut(page: Page): Promise<void> {
    await page.getByRole('banner').getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect.poll(() => path(page)).toBe('/sign-in');
  }

  it('enrols an authenticator app: QR and key, backup codes shown once and downloaded, new codes after step-up; the next sign-in asks for a code', async () => {
    const { email, id } = await account('totp');
    const person = await server.person();
    const { page } = person;
    await signIn(person, email);
    await person.open('/account/security');
    await expect.poll(() => h1(page).textContent()).toBe('Security');
    await checkPage(page, 'account-security');

    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const secret = (await page.locator('code.secret').textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await page.locator('div.qr svg').count()).toBe(1);
    await checkPage(page, 'account-security-totp-setup');
    const app = authenticator(`otpauth://totp/Tessera:${encodeURIComponent(email)}?secret=${secret}&issuer=Tessera`);

    // A wrong code is refused on the page, the set-up stays open.
    await page.getByLabel('6-digit code').fill(app.wrong());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/wrong/);

    await page.getByLabel('6-digit code').fill(await app.next());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Your backup codes' }).waitFor();
    const codes = (await page.locator('ul.codes li').allTextContents()).map((c) => c.trim());
    expect(codes).toHaveLength(10);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download as .txt' }).click()]);
    expect(download.suggestedFilename()).toMatch(/backup-codes\.txt$/);
    const file = await readFile((await download.path())!, 'utf8');
    for (const code of codes) expect(file).toContain(code);
    await checkPage(page, 'account-security-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await expect.poll(() => page.getByText('10 backup codes left.').count()).toBe(1);
    expect(await page.getByText(codes[0]!).count()).toBe(0);

    // New backup codes need a recent sign-in: the step-up dialog asks for the password, no reload.
    await makeNotRecent(id);
    await page.getByRole('button', { name: 'Get new backup codes' }).click();
    await page.getByRole('dialog', { name: 'Get new backup codes?' }).getByRole('button', { name: 'Get new codes' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    await dialog.getByLabel('Password', { exact: true }).fill('not the password');
    await dialog.getByRole('button', { name: 'Confirm', exact: true }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/not correct|did not confirm/);
    await stepUp(page);
    await page.getByRole('heading', { name: 'Your backup codes' }).waitFor();
    const fresh = (await page.locator('ul.codes li').allTextContents()).map((c) => c.trim());
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(codes[0]);

    await signOut(page);
    await signIn(person, email, PASSWORD, '/mfa');
    const login = await server.app.server.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: PASSWORD } });
    expect(login.json<{ mfa_required?: boolean }>().mfa_required).toBe(true);
    expect(person.problems).toEqual([]);
  });

  it('lists the sessions with this device marked; ends another one, then every other one', async () => {
    const { email } = await account('sessions');
    const here = await server.person();
    const there = await server.person();
    await signIn(here, email);
    await signIn(there, email);

    await here.open('/account/sessions');
    await expect.poll(() => h1(here.page).textContent()).toBe('Sessions and devices');
    const list = here.page.getByRole('list', { name: 'Your sessions' });
    await expect.poll(() => list.getByRole('listitem').count()).toBe(2);
    expect(await list.getByText('This device').count()).toBe(1);
    // This device comes first and cannot be ended from here (the header's "Sign out" does it).
    expect(await list.getByRole('listitem').first().getByText('This device').count()).toBe(1);
    expect(await list.getByRole('listitem').first().getByRole('button').count()).toBe(0);
    await checkPage(here.page, 'account-sessions');

    await list.getByRole('button', { name: /^Sign out / }).click();
    await expect.poll(() => here.page.getByRole('status').filter({ hasText: 'was signed out' }).count()).toBe(1);
    await expect.poll(() => list.getByRole('listitem').count()).toBe(1);
    await there.open('/account');
    await expect.poll(() => path(there.page)).toBe('/sign-in');

    // Two more sessions, then "Sign out everywhere else".
    const third = await server.person();
    await signIn(there, email);
    await signIn(third, email);
    await here.open('/account/sessions');
    await expect.poll(() => list.getByRole('listitem').count()).toBe(3);
    await here.page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await expect.poll(() => here.page.getByText('You are signed in on this device only.').count()).toBe(1);
    await there.open('/account');
    await expect.poll(() => path(there.page)).toBe('/sign-in');
    await third.open('/account/sessions');
    await expect.poll(() => path(third.page)).toBe('/sign-in');
    // This one is still signed in.
    await here.open('/account/sessions');
    await expect.poll(() => list.getByRole('listitem').count()).toBe(1);
  });

  it('adds a passkey, renames it, signs in with it alone, and removes it after the step-up dialog', async () => {
    const { email, id } = await account('passkey');
    const person = await server.person({ authenticator: true });
    const { page } = person;
    await signIn(person, email);
    await person.open('/account/security');
    await page.getByText('You have no passkeys yet.').waitFor();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'added' }).count()).toBe(1);
    const passkeys = page.getByRole('list', { name: 'Passkeys' });
    await expect.poll(() => passkeys.getByRole('listitem').count()).toBe(1);

    await passkeys.getByRole('button', { name: /^Rename / }).click();
    await page.getByLabel('Passkey name').fill('Work laptop');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => passkeys.getByText('Work laptop', { exact: true }).count()).toBe(1);
    await checkPage(page, 'account-security-passkey');

    await signOutAndInWithPasskey(page, { signOut: 'Sign out', usePasskey: 'Use a passkey' });
    const signedIn = await server.app.context.db.sql.query<{ n: string }>('SELECT count(*) AS n FROM passkeys WHERE user_id = $1 AND last_used_at IS NOT NULL', [id]);
    expect(Number(signedIn.rows[0]!.n)).toBe(1);

    await makeNotRecent(id);
    await person.open('/account/security');
    await page.getByRole('button', { name: 'Remove Work laptop' }).click();
    await page.getByRole('dialog', { name: 'Remove this passkey?' }).getByRole('button', { name: 'Remove passkey' }).click();
    await stepUp(page);
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Passkey “Work laptop” removed.' }).count()).toBe(1);
    await page.getByText('You have no passkeys yet.').waitFor();
    expect(person.problems).toEqual([]);
  });

  it('verifies a phone number with the code sent by SMS', async () => {
    const { email } = await account('phone');
    const person = await server.person();
    const { page } = person;
    await signIn(person, email);
    await person.open('/account/security');
    const phone = `+1555${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
    await page.getByLabel('Phone number').fill('12345');
    await page.getByRole('button', { name: 'Send code' }).click();
    await expect.poll(() => page.locator('.field__error').first().textContent()).toMatch(/country code/);
    await page.getByLabel('Phone number').fill(phone);
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByLabel('Code from the text message').waitFor();
    let text = '';
    await expect
      .poll(async () => {
        const { rows } = await server.app.context.db.sql.query<{ text: string }>("SELECT text FROM dev_outbox WHERE channel = 'sms' AND recipient = $1 ORDER BY id DESC LIMIT 1", [phone]);
        text = rows[0]?.text ?? '';
        return text;
      }, { timeout: 15_000 })
      .toMatch(/\d{6}/);
    const code = /(?<!\d)\d{6}(?!\d)/.exec(text)![0];
    await page.getByLabel('Code from the text message').fill(code === '000000' ? '111111' : String((Number(code) + 1) % 1_000_000).padStart(6, '0'));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/wrong.*4 attempts left/);
    await page.getByLabel('Code from the text message').fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => page.getByText('Your phone number is verified.').count()).toBe(1);
    await expect.poll(() => page.getByText(phone, { exact: true }).count()).toBe(1);
  });

  it('saves name and language (the pages switch to Spanish), and changes the email address through the link sent to the new one', async () => {
    const { email } = await account('profile');
    const person = await server.person();
    const { page } = person;
    await signIn(person, email);
    await expect.poll(() => h1(page).textContent()).toBe('Profile');
    await checkPage(page, 'account-profile');

    await page.getByLabel('Name').fill('Ada Lovelace');
    await page.getByLabel('Preferred language').selectOption('es');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Perfil');
    await expect.poll(() => page.getByText('Tus datos se han guardado.').count()).toBe(1);
    await expect.poll(() => page.getByRole('banner').getByText('Ada Lovelace').count()).toBe(1);
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('es');
    const me = await server.app.context.db.sql.query<{ name: string; locale: string }>('SELECT name, locale FROM users WHERE email = $1', [email]);
    expect(me.rows[0]).toMatchObject({ name: 'Ada Lovelace', locale: 'es' });
    await checkPage(page, 'account-profile-es');
    await person.open('/account/security');
    await expect.poll(() => h1(page).textContent()).toBe('Seguridad');
    await checkPage(page, 'account-security-es');

    // The email change, in Spanish: the page, the mail and the verification page speak it.
    await person.open('/account');
    const newEmail = uniqueEmail('moved');
    await page.getByRole('button', { name: 'Cambiar el correo electrónico' }).click();
    await page.getByLabel('Nuevo correo electrónico').fill(newEmail);
    await page.getByLabel('Tu contraseña').fill('not the password');
    await page.getByRole('button', { name: 'Enviar enlace de confirmación' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toBe('La contraseña no es correcta.');
    const mail = nextMail(server.smtp, newEmail, /Confirma tu nueva dirección de correo/);
    await page.getByLabel('Tu contraseña').fill(PASSWORD);
    await page.getByRole('button', { name: 'Enviar enlace de confirmación' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: `Revisa ${newEmail}` }).count()).toBe(1);
    await person.open(mailLink(await mail, '/verify-email'));
    await expect.poll(() => h1(page).textContent()).toBe('Correo electrónico verificado');

    // Back to English, from the profile: the new address is the account's.
    await person.open('/account');
    await page.getByLabel('Idioma preferido').selectOption('en');
    await page.getByRole('button', { name: 'Guardar cambios' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Profile');
    await expect.poll(() => page.getByText(newEmail, { exact: true }).count()).toBe(1);
  });

  it('changes the password after the step-up dialog; the old password is refused at /sign-in', async () => {
    const { email, id } = await account('password');
    const person = await server.person();
    const { page } = person;
    await signIn(person, email);
    await makeNotRecent(id);
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password').fill('short');
    await expect.poll(() => page.getByText('Not acceptable').count()).toBe(1);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await expect.poll(() => page.getByText(/^Strength: /).count()).toBe(1);
    await checkPage(page, 'account-profile-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await stepUp(page);
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Your password was changed.' }).count()).toBe(1);

    await signOut(page);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').count()).toBeGreaterThan(0);
    expect(path(page)).toBe('/sign-in');
    await signIn(person, email, NEW_PASSWORD);
    expect(person.problems).toEqual([]);
  });
});
