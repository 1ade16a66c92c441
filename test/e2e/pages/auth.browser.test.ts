import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { authenticator } from '../../helpers/authenticator.js';
import { checkPage, hasChromium, mailLink, nextMail, startPagesServer, type PagesServer } from '../../helpers/browser.js';
import { PASSWORD, testClient } from '../../helpers/client.js';
import { uniqueEmail } from '../../helpers/outbox.js';

/*
 * The signed-out pages in Chromium against a real server and a real SMTP sink: sign-up (live
 * password feedback, "check your mail", verification by link and by code, return_to kept), the
 * sign-in refusals (wrong password, lockout with its time, unverified address), forgot and reset
 * password, the magic link, the second-factor step (TOTP auto-submit, a backup code, recovery by
 * mail) and, on a server with MFA_REQUIRED=all, the forced enrolment. Each flow asserts what the
 * page shows; each page passes axe and leaves desktop and phone screenshots.
 */

const NEW_PASSWORD = 'quiet lantern over seven rivers';

const h1 = (page: Page) => page.getByRole('heading', { level: 1 });
const path = (page: Page) => new URL(page.url()).pathname;
const search = (page: Page) => new URL(page.url()).search;

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/sign-in');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** The 6-digit code of a verification mail. */
function codeOf(text: string): string {
  const match = /\b(\d{6})\b/.exec(text);
  if (!match) throw new Error(`No 6-digit code in:\n${text}`);
  return match[1]!;
}

describe.skipIf(!hasChromium)('hosted pages: signed out', { timeout: 120_000 }, () => {
  let server: PagesServer;
  const api = testClient(() => server.app);

  beforeAll(async () => {
    server = await startPagesServer({ env: { LOCKOUT_THRESHOLD: '3' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('signs up with live password feedback, verifies by the mailed link, continues to sign-in with the return_to and lands there', async () => {
    const { page, problems } = await server.person();
    const email = uniqueEmail('signup');
    await page.goto('/sign-up?return_to=%2Faccount%2Fsessions');
    await expect.poll(() => h1(page).textContent()).toBe('Create your Tessera account');
    await page.getByLabel('Name (optional)').fill('Ada Lovelace');
    await page.getByLabel('Email address').fill(email);
    const password = page.getByLabel('Password', { exact: true });
    await password.fill('password');
    await expect.poll(() => page.getByText('It is one of the most common passwords.').isVisible()).toBe(true);
    await expect.poll(() => page.getByText('Very weak').isVisible()).toBe(true);
    // Submitted anyway: refused, with the rule under the field.
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('This password cannot be used');
    expect(await password.getAttribute('aria-invalid')).toBe('true');
    await password.fill(PASSWORD);
    await expect.poll(() => page.getByText('This password can be used.').isVisible()).toBe(true);
    await checkPage(page, 'auth-sign-up');

    const mail = nextMail(server.smtp, email, /Verify your email/);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Check your email');
    expect(await page.getByText(`We have sent a message to ${email}`).isVisible()).toBe(true);
    await checkPage(page, 'auth-check-mail');

    // This browser signed up: it is asked for the password it chose, which the proof then keeps.
    const link = mailLink(await mail, '/verify-email');
    await page.goto(link);
    await expect.poll(() => h1(page).textContent()).toBe('Confirm your email address');
    await page.getByLabel('Password', { exact: true }).fill('not what I chose');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('That is not the password of this account.');
    await checkPage(page, 'auth-verify-email-confirm');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Email address verified');
    expect(await page.getByText('has been removed').count()).toBe(0);
    await checkPage(page, 'auth-verify-email-done');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(page)).toBe('/sign-in');
    expect(search(page)).toBe('?return_to=%2Faccount%2Fsessions');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => path(page)).toBe('/account/sessions');

    // The same link again: used.
    const again = await server.person();
    await again.page.goto(link);
    await expect.poll(() => h1(again.page).textContent()).toBe('This link has expired or was already used');
    expect(await again.page.getByRole('button', { name: 'Send a new message' }).isVisible()).toBe(true);
    await checkPage(again.page, 'auth-verify-email-expired');
    expect(problems).toEqual([]);
  });

  it('signs up in Spanish and verifies by the 6-digit code', async () => {
    const { page, problems } = await server.person({ locale: 'es-ES' });
    const email = uniqueEmail('codigo');
    await page.goto('/sign-up');
    await expect.poll(() => h1(page).textContent()).toBe('Crea tu cuenta de Tessera');
    await page.getByLabel('Correo electrónico').fill(email);
    await page.getByLabel('Contraseña', { exact: true }).fill('123456789');
    await expect.poll(() => page.getByText('Es una de las contraseñas más comunes.').isVisible()).toBe(true);
    await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await expect.poll(() => page.getByText('Puedes usar esta contraseña.').isVisible()).toBe(true);
    const mail = nextMail(server.smtp, email, /Verif/);
    await page.getByRole('button', { name: 'Crear cuenta' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Revisa tu correo');
    await page.getByRole('link', { name: 'Escribir el código' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Verifica tu correo electrónico');
    expect(await page.getByLabel('Correo electrónico').inputValue()).toBe(email);
    // A wrong code first.
    const code = codeOf((await mail).text);
    await page.getByLabel('Código de verificación').fill(code === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: 'Verificar' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('El código no es correcto o ha caducado.');
    await checkPage(page, 'auth-verify-email-code-es');
    // Without the password this browser chose: verified, and the page says the password was removed.
    await page.getByLabel('Código de verificación').fill(code);
    await page.getByRole('button', { name: 'Verificar' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Correo electrónico verificado');
    expect(await page.getByText('hemos eliminado la contraseña').isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Restablecer la contraseña' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Continuar' }).click();
    await expect.poll(() => path(page)).toBe('/sign-in');
    expect(problems).toEqual([]);
  });

  it('says why a sign-in is refused: wrong password, lockout with the time left, unverified address', async () => {
    const { page } = await server.person();
    const { email } = await api.signedUp('refused');
    await signIn(page, email, 'not the password');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The email address or password is not right.');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The email address or password is not right.');
    // The third failure locks (LOCKOUT_THRESHOLD=3, 30 minutes by default).
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Too many failed attempts: this account is locked. Try again in 30 min, or reset your password.');
    // Even the right password now.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/locked\. Try again in (29|30) min/);

    const unverified = await api.signedUp('unverified', { verified: false });
    await signIn(page, unverified.email, PASSWORD);
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Please verify your email address first: open the link in the message we sent you when you signed up.');
  });

  it('resets a forgotten password by mail; the old password is refused, the used link says so', async () => {
    const { page, problems } = await server.person();
    const { email } = await api.signedUp('forgot');
    await page.goto('/sign-in');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Reset your password');
    await checkPage(page, 'auth-forgot');
    await page.getByLabel('Email address').fill(email);
    const mail = nextMail(server.smtp, email, /Reset your/);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toBe(`If an account uses ${email}, a message with a reset link is on its way. The link works once, for 1 hour.`);

    const link = mailLink(await mail, '/reset-password');
    await page.goto(link);
    await expect.poll(() => h1(page).textContent()).toBe('Choose a new password');
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await expect.poll(() => page.getByText('This password can be used.').isVisible()).toBe(true);
    await checkPage(page, 'auth-reset');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Your password has been changed');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await expect.poll(() => path(page)).toBe('/sign-in');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => path(page)).toBe('/account');

    const other = await server.person();
    await signIn(other.page, email, PASSWORD);
    await expect.poll(() => other.page.getByRole('alert').textContent()).toBe('The email address or password is not right.');

    await other.page.goto(link);
    await other.page.getByLabel('New password').fill('another long passphrase here');
    await other.page.getByRole('button', { name: 'Set new password' }).click();
    await expect.poll(() => h1(other.page).textContent()).toBe('This reset link has expired or was already used');
    expect(await other.page.getByRole('link', { name: 'Send me a new link' }).isVisible()).toBe(true);
    await checkPage(other.page, 'auth-reset-expired');
    expect(problems).toEqual([]);
  });

  it('signs in with an emailed link; the used link says so', async () => {
    const { page, problems } = await server.person();
    const { email } = await api.signedUp('magic');
    await page.goto('/sign-in');
    await page.getByLabel('Email address').fill(email);
    const mail = nextMail(server.smtp, email, /sign-in link/);
    await page.getByRole('button', { name: 'Email me a link' }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain(`If an account uses ${email}, a sign-in link is on its way.`);
    const link = mailLink(await mail, '/magic-link');
    await page.goto(link);
    await expect.poll(() => path(page)).toBe('/account');

    const other = await server.person();
    await other.page.goto(link);
    await expect.poll(() => h1(other.page).textContent()).toBe('This sign-in link has expired or was already used');
    await checkPage(other.page, 'auth-magic-link-expired');
    await other.page.getByRole('link', { name: 'Back to sign in' }).click();
    await expect.poll(() => path(other.page)).toBe('/sign-in');
    expect(problems).toEqual([]);
  });

  it('asks for the second factor: a TOTP code submits itself, a backup code works, and lost access is recovered by mail', async () => {
    const signed = await api.signedIn('mfa');
    const started = await api.call('POST', '/v1/me/mfa/totp', signed.token);
    expect(started.statusCode, started.body).toBe(200);
    const app = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
    const confirmed = await api.call('POST', '/v1/me/mfa/totp/confirm', signed.token, { code: await app.next() });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const backupCodes = confirmed.json<{ backup_codes: string[] }>().backup_codes;

    // Reloaded (no challenge in the history): back to sign-in.
    const first = await server.person();
    await first.page.goto('/mfa');
    await expect.poll(() => path(first.page)).toBe('/sign-in');

    await signIn(first.page, signed.email, PASSWORD);
    await expect.poll(() => path(first.page)).toBe('/mfa');
    await expect.poll(() => h1(first.page).textContent()).toBe('Two-step verification');
    const field = first.page.getByLabel('Authentication code');
    expect(await field.getAttribute('inputmode')).toBe('numeric');
    expect(await field.getAttribute('autocomplete')).toBe('one-time-code');
    // A wrong code: refused, said, and the field is ready again.
    await field.fill(app.wrong());
    await expect.poll(() => first.page.getByRole('alert').textContent()).toBe('That code is not right, or it was already used.');
    await checkPage(first.page, 'auth-mfa');
    await field.fill(await app.next());
    await expect.poll(() => path(first.page)).toBe('/account');

    const second = await server.person();
    await signIn(second.page, signed.email, PASSWORD);
    await expect.poll(() => path(second.page)).toBe('/mfa');
    await second.page.getByRole('button', { name: 'Use a backup code' }).click();
    await second.page.getByLabel('Backup code').fill(backupCodes[0]!);
    await second.page.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => path(second.page)).toBe('/account');

    const third = await server.person();
    await signIn(third.page, signed.email, PASSWORD);
    await expect.poll(() => path(third.page)).toBe('/mfa');
    const mail = nextMail(server.smtp, signed.email, /Recover access/);
    await third.page.getByRole('button', { name: 'Lost access to your second factor?' }).click();
    await expect.poll(() => third.page.getByRole('status').first().textContent()).toContain('If your account can be recovered, we have emailed you a link.');
    const link = mailLink(await mail, '/mfa/recover');
    await third.page.goto(link);
    await expect.poll(() => h1(third.page).textContent()).toBe('Recover your account');
    await checkPage(third.page, 'auth-mfa-recover');
    await third.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await third.page.getByRole('button', { name: 'Recover my account' }).click();
    await expect.poll(() => h1(third.page).textContent()).toBe('Your second factors have been removed');
    await checkPage(third.page, 'auth-mfa-recover-done');
    await third.page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => path(third.page)).toBe('/account');

    // The password alone now.
    const fourth = await server.person();
    await signIn(fourth.page, signed.email, PASSWORD);
    await expect.poll(() => path(fourth.page)).toBe('/account');

    // The recovery link again: used.
    await fourth.page.goto(link);
    await fourth.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await fourth.page.getByRole('button', { name: 'Recover my account' }).click();
    await expect.poll(() => h1(fourth.page).textContent()).toBe('This recovery link has expired or was already used');
    for (const person of [first, second, third, fourth]) expect(person.problems).toEqual([]);
  });

  it('in Spanish: an emailed sign-in link, then the second factor by a backup code and by recovery mail, with Spanish pages and mail', async () => {
    const signed = await api.signedIn('es-mfa');
    expect((await api.call('PATCH', '/v1/me', signed.token, { locale: 'es' })).statusCode).toBe(200);
    const started = await api.call('POST', '/v1/me/mfa/totp', signed.token);
    const app = authenticator(started.json<{ otpauth_uri: string }>().otpauth_uri);
    const confirmed = await api.call('POST', '/v1/me/mfa/totp/confirm', signed.token, { code: await app.next() });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const backupCodes = confirmed.json<{ backup_codes: string[] }>().backup_codes;
    const signInEs = async (page: Page) => {
      await page.goto('/sign-in');
      await page.getByLabel('Correo electrónico').fill(signed.email);
      await page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Iniciar sesión', exact: true }).click();
    };

    // The emailed link: the page says it is on its way, the mail is in Spanish, the link leads to the second factor.
    const first = await server.person({ locale: 'es-ES' });
    await first.page.goto('/sign-in');
    await first.page.getByLabel('Correo electrónico').fill(signed.email);
    const magic = nextMail(server.smtp, signed.email, /Tu enlace de inicio de sesión/);
    await first.page.getByRole('button', { name: 'Envíame un enlace' }).click();
    await expect.poll(() => first.page.getByRole('status').first().textContent()).toContain(`Si hay una cuenta con ${signed.email}, le hemos enviado un enlace`);
    await first.page.goto(mailLink(await magic, '/magic-link'));
    await expect.poll(() => path(first.page)).toBe('/mfa');
    await expect.poll(() => h1(first.page).textContent()).toBe('Verificación en dos pasos');

    // A backup code instead of the app.
    await first.page.getByRole('button', { name: 'Usar un código de respaldo' }).click();
    await first.page.getByLabel('Código de respaldo').fill(backupCodes[0]!);
    await first.page.getByRole('button', { name: 'Verificar' }).click();
    await expect.poll(() => path(first.page)).toBe('/account');
    await expect.poll(() => h1(first.page).textContent()).toBe('Perfil');

    // Lost the second factor: recovered by mail.
    const second = await server.person({ locale: 'es-ES' });
    await signInEs(second.page);
    await expect.poll(() => path(second.page)).toBe('/mfa');
    const recovery = nextMail(server.smtp, signed.email, /Recupera el acceso a tu cuenta/);
    await second.page.getByRole('button', { name: '¿Perdiste el acceso a tu segundo factor?' }).click();
    await expect.poll(() => second.page.getByRole('status').first().textContent()).toContain('Si tu cuenta se puede recuperar, te hemos enviado un enlace por correo.');
    await second.page.goto(mailLink(await recovery, '/mfa/recover'));
    await expect.poll(() => h1(second.page).textContent()).toBe('Recupera tu cuenta');
    await second.page.getByLabel('Contraseña', { exact: true }).fill(PASSWORD);
    await second.page.getByRole('button', { name: 'Recuperar mi cuenta' }).click();
    await expect.poll(() => h1(second.page).textContent()).toBe('Se han eliminado tus segundos factores');
    await checkPage(second.page, 'auth-mfa-recover-done-es');
    await second.page.getByRole('button', { name: 'Continuar' }).click();
    await expect.poll(() => path(second.page)).toBe('/account');
    for (const person of [first, second]) expect(person.problems).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('hosted pages: forced second-factor enrolment (MFA_REQUIRED=all)', { timeout: 120_000 }, () => {
  let server: PagesServer;
  const api = testClient(() => server.app);

  beforeAll(async () => {
    server = await startPagesServer({ env: { MFA_REQUIRED: 'all' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('walks a signed-in person through authenticator-app enrolment to the backup codes', async () => {
    const { email } = await api.signedUp('enrol');
    const { page, problems } = await server.person();
    await signIn(page, email, PASSWORD);
    await expect.poll(() => path(page)).toBe('/mfa/enroll');
    await expect.poll(() => h1(page).textContent()).toBe('Set up two-step verification');
    await checkPage(page, 'auth-mfa-enroll');
    await page.getByRole('button', { name: 'Set up: Authenticator app' }).click();
    const secret = page.getByTestId('totp-secret');
    await expect.poll(() => secret.isVisible()).toBe(true);
    expect(await page.locator('.qr svg').count()).toBe(1);
    await checkPage(page, 'auth-mfa-enroll-totp');
    const app = authenticator(`otpauth://totp/Tessera:${encodeURIComponent(email)}?secret=${(await secret.textContent())!.trim()}&issuer=Tessera`);
    await page.getByLabel('Code from the app').fill(await app.next());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => h1(page).textContent()).toBe('Save your backup codes');
    expect(await page.locator('ul.codes li').count()).toBe(10);
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download as a text file' }).click();
    expect((await download).suggestedFilename()).toBe('tessera-backup-codes.txt');
    await checkPage(page, 'auth-mfa-enroll-codes');
    await page.getByRole('button', { name: 'I have saved them, continue' }).click();
    await expect.poll(() => path(page)).toBe('/account');
    expect(problems).toEqual([]);
  });
});
