import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { createTestApp, type TestApp } from './app.js';
import { freePort, REPO_ROOT } from './process.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from './smtp.js';

/*
 * The hosted pages in a real browser: Debian's Chromium driven by playwright-core, against an app
 * listening on http://localhost:PORT (passkeys need localhost, never 127.0.0.1) whose mail goes to
 * a real SMTP server. One app, one SMTP sink and one browser per test file; a fresh browser context
 * (cookies, storage) per person.
 */

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  const line = `Chromium is not installed at ${CHROMIUM}: the browser tests are skipped`;
  if (process.env.TESSERA_REQUIRE_SERVICES === '1') throw new Error(`TESSERA_REQUIRE_SERVICES=1 but ${line}`);
  console.warn(`[tessera tests] ${line}`);
}

/** Where the suite writes its screenshots (ignored by git): look at them before resolving a page issue. */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-results', 'screenshots');
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 375, height: 740 };

export interface PagesServer {
  app: TestApp;
  smtp: SmtpSink;
  origin: string;
  browser: Browser;
  /** A new person: a fresh context (own cookies and storage), optionally in a language and with a passkey authenticator. */
  person(options?: PersonOptions): Promise<Person>;
  close(): Promise<void>;
}

export interface PersonOptions {
  /** The browser's language (Accept-Language and navigator.languages), e.g. 'es-ES'. */
  locale?: string;
  viewport?: { width: number; height: number };
  /** Adds a CTAP2 virtual authenticator (user verification, resident keys) to the page. */
  authenticator?: boolean;
}

export interface Person {
  context: BrowserContext;
  page: Page;
  /** Content-Security-Policy violations and page errors seen so far (the suite expects none). */
  problems: string[];
  /** Opens a path of the server. */
  open(path: string): Promise<void>;
}

export async function startPagesServer(options: { env?: Record<string, string> } = {}): Promise<PagesServer> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const smtp = await startSmtpSink();
  const app = await createTestApp({ env: { PUBLIC_URL: origin, SMTP_URL: smtp.url, ...options.env } });
  await app.server.listen({ host: '127.0.0.1', port });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const contexts: BrowserContext[] = [];
  return {
    app,
    smtp,
    origin,
    browser,
    async person(personOptions = {}) {
      const context = await browser.newContext({
        baseURL: origin,
        viewport: personOptions.viewport ?? DESKTOP,
        locale: personOptions.locale ?? 'en-US',
      });
      contexts.push(context);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (/Content[- ]Security[- ]Policy|Refused to/i.test(message.text())) problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      // DEBUG_PAGES=1: every page's API calls and navigations on stderr, with milliseconds since it opened.
      if (process.env.DEBUG_PAGES) {
        const t0 = Date.now();
        const label = `[page ${contexts.length}]`;
        page.on('request', (r) => { if (r.url().includes('/v1/')) console.error(label, Date.now() - t0, '->', r.method(), new URL(r.url()).pathname); });
        page.on('requestfinished', async (r) => { if (r.url().includes('/v1/')) console.error(label, Date.now() - t0, '<-', r.method(), new URL(r.url()).pathname, (await r.response())?.status()); });
        page.on('requestfailed', (r) => { if (r.url().includes('/v1/')) console.error(label, Date.now() - t0, 'FAILED', r.method(), new URL(r.url()).pathname, r.failure()?.errorText); });
        page.on('framenavigated', (f) => { if (f === page.mainFrame()) console.error(label, Date.now() - t0, 'NAV', f.url()); });
      }
      if (personOptions.authenticator) {
        const cdp = await context.newCDPSession(page);
        await cdp.send('WebAuthn.enable');
        await cdp.send('WebAuthn.addVirtualAuthenticator', {
          options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
        });
      }
      return {
        context,
        page,
        problems,
        async open(path) {
          await page.goto(path);
        },
      };
    },
    async close() {
      await Promise.allSettled(contexts.map((context) => context.close()));
      await browser.close();
      await app.destroy();
      await smtp.close();
    },
  };
}

/**
 * axe-core on the page as it is now: no serious or critical violation (the list names each rule,
 * its impact and the elements, so a failure says what to fix).
 */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} → ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  expect(bad, `axe on ${what}`).toEqual([]);
}

/**
 * Screenshots of the page at desktop and phone width, into test-results/screenshots/<name>-desktop.png
 * and -phone.png; the viewport is put back afterwards.
 */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(before);
}

/** Both: the accessibility check and the screenshots of a page. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name);
  await screenshots(page, name);
}

/** The link to `/<path>?token=…` in a mail (its text part), as a path with query for page.goto. */
export function mailLink(message: SinkMessage, path: string): string {
  const match = new RegExp(`https?://[^/\\s]+(${path.replace(/[/.]/g, '\\$&')}\\?token=[^\\s"'<>)]+)`).exec(message.text);
  if (!match) throw new Error(`No ${path}?token= link in the mail "${message.subject}":\n${message.text}`);
  return match[1]!;
}

/**
 * The next mail to `address` whose subject matches and that had not arrived when this was called:
 * call it before the action that sends the mail, await it after.
 */
export function nextMail(smtp: SmtpSink, address: string, subject: RegExp, timeoutMs = 30_000): Promise<SinkMessage> {
  const seen = new Set(smtp.messagesTo(address).filter((message) => subject.test(message.subject)));
  return smtp.waitFor((message) => message.rcptTo.includes(address.toLowerCase()) && subject.test(message.subject) && !seen.has(message), timeoutMs, `a mail to ${address} with subject ${subject}`);
}

/**
 * Signs out from the account header, then in again with the passkey alone: the sign-in page's
 * button, or its passkey autofill, which the virtual authenticator answers by itself, often before
 * a test could see /sign-in at all. Fails unless the logout ended the session (204) and a passkey
 * verification (200) brought the page back to an /account page; the failure lists what the page
 * said and called.
 */
export async function signOutAndInWithPasskey(page: Page, words: { signOut: string; usePasskey: string }): Promise<void> {
  const path = () => new URL(page.url()).pathname;
  const alerts: string[] = [];
  const calls: string[] = [];
  page.on('response', (response) => {
    if (response.url().includes('/v1/')) calls.push(`${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`);
  });
  const loggedOut = page.waitForResponse((response) => new URL(response.url()).pathname === '/v1/auth/logout');
  const verified = page.waitForResponse((response) => new URL(response.url()).pathname === '/v1/auth/passkey/verify', { timeout: 40_000 });
  await page.getByRole('banner').getByRole('button', { name: words.signOut, exact: true }).click();
  expect((await loggedOut).status()).toBe(204);
  await expect
    .poll(async () => {
      if (path() === '/sign-in') {
        // Short waits: the autofill may sign in, and the button go, at any moment.
        const button = page.getByRole('button', { name: words.usePasskey });
        if (await button.isEnabled({ timeout: 500 }).catch(() => false)) await button.click({ timeout: 1000 }).catch(() => undefined);
        alerts.push(...(await page.getByRole('alert').allTextContents()));
      }
      return path().startsWith('/account');
    }, { timeout: 30_000 })
    .toBe(true)
    .catch((error: unknown) => {
      throw new Error(`not signed in with the passkey; alerts on /sign-in: ${JSON.stringify([...new Set(alerts)])}; API calls: ${JSON.stringify(calls)}`, { cause: error });
    });
  expect((await verified).status()).toBe(200);
}
