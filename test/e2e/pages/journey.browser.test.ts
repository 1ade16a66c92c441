import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticator } from '../../helpers/authenticator.js';
import { hasChromium, mailLink, nextMail, startPagesServer, type PagesServer, type Person } from '../../helpers/browser.js';
import { PASSWORD } from '../../helpers/client.js';
import { uniqueEmail } from '../../helpers/outbox.js';

/*
 * One person's whole life with the hosted pages, in one browser as a person uses it, with a real
 * SMTP server receiving the mail: sign up → verify by the mailed link → sign in → enrol an
 * authenticator app (its key read from the page) → sign out → sign in with a code → see the
 * sessions and end another device's → add a passkey (virtual authenticator) → sign out → sign in
 * with the passkey alone → reset the password from the mailed link → the old password is refused.
 */

const NEW_PASSWORD = 'a brand new passphrase for 2027';

describe.skipIf(!hasChromium)('hosted pages: a person\'s whole journey', { timeout: 300_000 }, () => {
  let server: PagesServer;

  beforeAll(async () => {
    server = await startPagesServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const path = (page: Page) => new URL(page.url()).pathname;
  const h1 = (page: Page) => page.getByRole('heading', { level: 1 });

  async function passwordSignIn(page: Page, email: string, password: string): Promise<void> {
    await page.goto('/sign-in');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  async function signOut(page: Page): Promise<void> {
    await page.getByRole('banner').getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect.poll(() => path(page)).toBe('/sign-in');
  }

  it('sign-up, verification, TOTP, sessions, passkey, password reset: end to end in the browser', async () => {
    const email = uniqueEmail('journey');
    const me: Person = await server.person({ authenticator: true });
    const { page } = me;

    // Sign up, verify from the mailed link (this browser is asked for the password it chose).
    await page.goto('/sign-up');
    await page.getByLabel('Name (optional)').fill('Grace Hopper');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await expect.poll(() => page.getByText('This password can be used.').isVisible()).toBe(true);
    const verification = nextMail(server.smtp, email, /Verify your email/);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Check your email');
    await page.goto(mailLink(await verification, '/verify-email'));
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Email address verified');
    await page.getByRole('button', { name: 'Continue' }).click();

    // Sign in: the account center greets the person by name.
    await passwordSignIn(page, email, PASSWORD);
    await expect.poll(() => path(page)).toBe('/account');
    await expect.poll(() => page.getByRole('banner').getByText('Grace Hopper').count()).toBe(1);

    // Enrol an authenticator app with the key shown on the page.
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Security' }).click();
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const secret = (await page.locator('code.secret').textContent())!.trim();
    const app = authenticator(`otpauth://totp/Tessera:${encodeURIComponent(email)}?secret=${secret}&issuer=Tessera`);
    await page.getByLabel('6-digit code').fill(await app.next());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await expect.poll(() => page.getByText('10 backup codes left.').count()).toBe(1);

    // Sign out; sign in again: the password, then a code from the app.
    await signOut(page);
    await passwordSignIn(page, email, PASSWORD);
    await expect.poll(() => path(page)).toBe('/mfa');
    await page.getByLabel('Authentication code').fill(await app.next());
    await expect.poll(() => path(page)).toBe('/account');

    // Another device signs in too; from here, its session is ended.
    const other = await server.person();
    await passwordSignIn(other.page, email, PASSWORD);
    await expect.poll(() => path(other.page)).toBe('/mfa');
    await other.page.getByLabel('Authentication code').fill(await app.next());
    await expect.poll(() => path(other.page)).toBe('/account');
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Sessions and devices' }).click();
    const sessions = page.getByRole('list', { name: 'Your sessions' });
    await expect.poll(() => sessions.getByRole('listitem').count()).toBe(2);
    await sessions.getByRole('button', { name: /^Sign out / }).click();
    await expect.poll(() => sessions.getByRole('listitem').count()).toBe(1);
    await other.page.goto('/account/sessions');
    await expect.poll(() => path(other.page)).toBe('/sign-in');

    // Add a passkey.
    await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Security' }).click();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect.poll(() => page.getByRole('list', { name: 'Passkeys' }).getByRole('listitem').count()).toBe(1);

    // Sign out; sign in with the passkey alone (the button, or the browser's passkey autofill,
    // which the virtual authenticator may answer by itself).
    await signOut(page);
    let clicked = false;
    await expect
      .poll(async () => {
        if (!clicked && path(page) === '/sign-in') {
          const button = page.getByRole('button', { name: 'Use a passkey' });
          if (await button.isEnabled().catch(() => false)) clicked = await button.click({ timeout: 2000 }).then(() => true, () => false);
        }
        return path(page);
      }, { timeout: 30_000 })
      .toBe('/account');
    const used = await server.app.context.db.sql.query<{ n: string }>('SELECT count(*) AS n FROM passkeys p JOIN users u ON u.id = p.user_id WHERE u.email = $1 AND p.last_used_at IS NOT NULL', [email]);
    expect(Number(used.rows[0]!.n)).toBe(1);

    // Forgot the password: reset it from the mailed link, on a device without the passkey (here the
    // virtual authenticator would answer the sign-in page's passkey autofill by itself).
    await signOut(page);
    const laptop = await server.person();
    const reset = nextMail(server.smtp, email, /password/i);
    await laptop.page.goto('/sign-in');
    await laptop.page.getByRole('link', { name: 'Forgot password?' }).click();
    await laptop.page.getByLabel('Email address').fill(email);
    await laptop.page.getByRole('button', { name: 'Send the link' }).click();
    await laptop.page.goto(mailLink(await reset, '/reset-password'));
    await laptop.page.getByLabel('New password').fill(NEW_PASSWORD);
    await laptop.page.getByRole('button', { name: 'Set new password' }).click();
    await laptop.page.getByRole('link', { name: 'Sign in' }).click();

    // The old password is refused, with a sentence on the page; the new one works (then the code).
    await passwordSignIn(laptop.page, email, PASSWORD);
    await expect.poll(() => laptop.page.getByRole('alert').textContent()).toBe('The email address or password is not right.');
    expect(path(laptop.page)).toBe('/sign-in');
    await passwordSignIn(laptop.page, email, NEW_PASSWORD);
    await expect.poll(() => path(laptop.page)).toBe('/mfa');
    await laptop.page.getByLabel('Authentication code').fill(await app.next());
    await expect.poll(() => path(laptop.page)).toBe('/account');
    expect([...me.problems, ...laptop.problems]).toEqual([]);
  });
});
