import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticator } from '../../helpers/authenticator.js';
import { hasChromium, mailLink, nextMail, signOutAndInWithPasskey, startPagesServer, type PagesServer, type Person } from '../../helpers/browser.js';
import { PASSWORD } from '../../helpers/client.js';
import { uniqueEmail } from '../../helpers/outbox.js';

/*
 * One person's whole life with the hosted pages, in one browser as a person uses it, with a real
 * SMTP server receiving the mail: sign up → verify by the mailed link → sign in → enrol an
 * authenticator app (its key read from the page) → sign out → sign in with a code → see the
 * sessions and end another device's → add a passkey (virtual authenticator) → sign out → sign in
 * with the passkey alone → reset the password from the mailed link → the old password is refused.
 * In English, and the whole of it again in Spanish (a Spanish browser, reading Spanish).
 */

const NEW_PASSWORD = 'a brand new passphrase for 2027';

/** What the person reads and clicks, in each language the journey runs in. */
const WORDS = {
  en: {
    locale: 'en-US', name: 'Name (optional)', email: 'Email address', password: 'Password', passwordOk: 'This password can be used.',
    createAccount: 'Create account', checkMail: 'Check your email', verify: 'Verify', verified: 'Email address verified', continue: 'Continue',
    signIn: 'Sign in', nav: 'Account', security: 'Security', setUpTotp: 'Set up an authenticator app', sixDigits: '6-digit code', turnOn: 'Turn on',
    savedCodes: 'I have saved them', codesLeft: '10 backup codes left.', signOut: 'Sign out', mfaCode: 'Authentication code',
    sessions: 'Sessions and devices', sessionList: 'Your sessions', endSession: /^Sign out /, addPasskey: 'Add a passkey', passkeys: 'Passkeys',
    usePasskey: 'Use a passkey', forgot: 'Forgot password?', forgotTitle: 'Reset your password', sendLink: 'Send the link', newPassword: 'New password', setPassword: 'Set new password',
    refused: 'The email address or password is not right.',
  },
  es: {
    locale: 'es-ES', name: 'Nombre (opcional)', email: 'Correo electrónico', password: 'Contraseña', passwordOk: 'Puedes usar esta contraseña.',
    createAccount: 'Crear cuenta', checkMail: 'Revisa tu correo', verify: 'Verificar', verified: 'Correo electrónico verificado', continue: 'Continuar',
    signIn: 'Iniciar sesión', nav: 'Cuenta', security: 'Seguridad', setUpTotp: 'Configurar una aplicación de autenticación', sixDigits: 'Código de 6 cifras', turnOn: 'Activar',
    savedCodes: 'Ya los he guardado', codesLeft: 'Te quedan 10 códigos de respaldo.', signOut: 'Cerrar sesión', mfaCode: 'Código de autenticación',
    sessions: 'Sesiones y dispositivos', sessionList: 'Tus sesiones', endSession: /^Cerrar sesión en /, addPasskey: 'Añadir una llave de acceso', passkeys: 'Llaves de acceso',
    usePasskey: 'Usar una llave de acceso', forgot: '¿Olvidaste tu contraseña?', forgotTitle: 'Restablece tu contraseña', sendLink: 'Enviar el enlace', newPassword: 'Contraseña nueva', setPassword: 'Guardar la contraseña nueva',
    refused: 'El correo electrónico o la contraseña no son correctos.',
  },
} as const;

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

  it.each(['en', 'es'] as const)('sign-up, verification, TOTP, sessions, passkey, password reset: end to end in the browser (%s)', async (language) => {
    const w = WORDS[language];
    async function passwordSignIn(page: Page, email: string, password: string): Promise<void> {
      await page.goto('/sign-in');
      await page.getByLabel(w.email).fill(email);
      await page.getByLabel(w.password, { exact: true }).fill(password);
      await page.getByRole('button', { name: w.signIn, exact: true }).click();
    }
    async function signOut(page: Page): Promise<void> {
      await page.getByRole('banner').getByRole('button', { name: w.signOut, exact: true }).click();
      await expect.poll(() => path(page)).toBe('/sign-in');
    }
    const email = uniqueEmail(`journey-${language}`);
    const me: Person = await server.person({ authenticator: true, locale: w.locale });
    const { page } = me;

    // Sign up, verify from the mailed link (this browser is asked for the password it chose).
    await page.goto('/sign-up');
    await page.getByLabel(w.name).fill('Grace Hopper');
    await page.getByLabel(w.email).fill(email);
    await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
    await expect.poll(() => page.getByText(w.passwordOk).isVisible()).toBe(true);
    const verification = nextMail(server.smtp, email, /Verify your email|Verifica tu dirección/);
    await page.getByRole('button', { name: w.createAccount }).click();
    await expect.poll(() => h1(page).textContent()).toBe(w.checkMail);
    await page.goto(mailLink(await verification, '/verify-email'));
    await page.getByLabel(w.password, { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: w.verify, exact: true }).click();
    await expect.poll(() => h1(page).textContent()).toBe(w.verified);
    await page.getByRole('button', { name: w.continue }).click();

    // Sign in: the account center greets the person by name.
    await passwordSignIn(page, email, PASSWORD);
    await expect.poll(() => path(page)).toBe('/account');
    await expect.poll(() => page.getByRole('banner').getByText('Grace Hopper').count()).toBe(1);

    // Enrol an authenticator app with the key shown on the page.
    await page.getByRole('navigation', { name: w.nav }).getByRole('link', { name: w.security }).click();
    await page.getByRole('button', { name: w.setUpTotp }).click();
    const secret = (await page.locator('code.secret').textContent())!.trim();
    const app = authenticator(`otpauth://totp/Tessera:${encodeURIComponent(email)}?secret=${secret}&issuer=Tessera`);
    await page.getByLabel(w.sixDigits).fill(await app.next());
    await page.getByRole('button', { name: w.turnOn }).click();
    await page.getByRole('button', { name: w.savedCodes }).click();
    await expect.poll(() => page.getByText(w.codesLeft).count()).toBe(1);

    // Sign out; sign in again: the password, then a code from the app.
    await signOut(page);
    await passwordSignIn(page, email, PASSWORD);
    await expect.poll(() => path(page)).toBe('/mfa');
    await page.getByLabel(w.mfaCode).fill(await app.next());
    await expect.poll(() => path(page)).toBe('/account');

    // Another device signs in too; from here, its session is ended.
    const other = await server.person({ locale: w.locale });
    await passwordSignIn(other.page, email, PASSWORD);
    await expect.poll(() => path(other.page)).toBe('/mfa');
    await other.page.getByLabel(w.mfaCode).fill(await app.next());
    await expect.poll(() => path(other.page)).toBe('/account');
    await page.getByRole('navigation', { name: w.nav }).getByRole('link', { name: w.sessions }).click();
    const sessions = page.getByRole('list', { name: w.sessionList });
    await expect.poll(() => sessions.getByRole('listitem').count()).toBe(2);
    await sessions.getByRole('button', { name: w.endSession }).click();
    await expect.poll(() => sessions.getByRole('listitem').count()).toBe(1);
    await other.page.goto('/account/sessions');
    await expect.poll(() => path(other.page)).toBe('/sign-in');

    // Add a passkey.
    await page.getByRole('navigation', { name: w.nav }).getByRole('link', { name: w.security }).click();
    await page.getByRole('button', { name: w.addPasskey }).click();
    await expect.poll(() => page.getByRole('list', { name: w.passkeys }).getByRole('listitem').count()).toBe(1);

    // Sign out; sign in with the passkey alone: the button, or the browser's passkey autofill, which
    // the virtual authenticator answers by itself, often before /sign-in was seen at all.
    await signOutAndInWithPasskey(page, w);
    const used = await server.app.context.db.sql.query<{ n: string }>('SELECT count(*) AS n FROM passkeys p JOIN users u ON u.id = p.user_id WHERE u.email = $1 AND p.last_used_at IS NOT NULL', [email]);
    expect(Number(used.rows[0]!.n)).toBe(1);

    // Forgot the password: reset it from the mailed link, on a device without the passkey (this one's
    // virtual authenticator would answer the sign-in page's passkey autofill by itself).
    const laptop = await server.person({ locale: w.locale });
    const reset = nextMail(server.smtp, email, /Reset your|Restablece tu contraseña/);
    await laptop.page.goto('/sign-in');
    await laptop.page.getByRole('link', { name: w.forgot }).click();
    // The sign-in page has an email field too: fill the one of the page that asks for the link.
    await expect.poll(() => h1(laptop.page).textContent()).toBe(w.forgotTitle);
    await laptop.page.getByLabel(w.email).fill(email);
    await laptop.page.getByRole('button', { name: w.sendLink }).click();
    await expect.poll(() => laptop.page.getByRole('status').filter({ hasText: email }).count()).toBe(1);
    const resetMail = await reset.catch(async (error: unknown) => {
      const log = await server.app.context.db.sql.query('SELECT template, status, reason, error FROM communication_logs WHERE recipient = $1', [email]);
      throw new Error(`no reset mail; its log: ${JSON.stringify(log.rows)}`, { cause: error });
    });
    await laptop.page.goto(mailLink(resetMail, '/reset-password'));
    await laptop.page.getByLabel(w.newPassword).fill(NEW_PASSWORD);
    await laptop.page.getByRole('button', { name: w.setPassword }).click();
    await laptop.page.getByRole('link', { name: w.signIn }).click();

    // The old password is refused, with a sentence on the page; the new one works (then the code).
    await passwordSignIn(laptop.page, email, PASSWORD);
    await expect.poll(() => laptop.page.getByRole('alert').textContent()).toBe(w.refused);
    expect(path(laptop.page)).toBe('/sign-in');
    await passwordSignIn(laptop.page, email, NEW_PASSWORD);
    await expect.poll(() => path(laptop.page)).toBe('/mfa');
    await laptop.page.getByLabel(w.mfaCode).fill(await app.next());
    await expect.poll(() => path(laptop.page)).toBe('/account');
    expect([...me.problems, ...laptop.problems]).toEqual([]);
  });
});
