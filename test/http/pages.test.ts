import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { contrastOn } from '../../src/modules/experience/index.js';
import { PAGE_PATHS } from '../../src/platform/http/pages.js';
import { createTestApp, TEST_SECRET, type TestApp } from '../helpers/app.js';

/*
 * How the server serves the hosted pages (no browser here; test/e2e/pages drives them): the app
 * shell on every page path with the strict CSP, hashed assets immutable and precompressed, the
 * brand as CSS variables and in GET /v1/experience, and a readable 503 when the pages were not built.
 */

/** A built front end of its own, so these tests do not depend on `npm run build:web`. */
function fakeBuild(): string {
  const root = mkdtempSync(join(tmpdir(), 'tessera-web-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><html><head><script type="module" src="/assets/app-abc123.js"></script></head><body><div id="root"></div></body></html>');
  writeFileSync(join(root, 'assets', 'app-abc123.js'), 'console.log("tessera");\n'.repeat(50));
  writeFileSync(join(root, 'assets', 'app-abc123.js.gz'), 'gzipped bytes');
  return root;
}

describe('hosted pages: how the server serves them', () => {
  let app: TestApp;
  let unbuilt: TestApp;

  beforeAll(async () => {
    [app, unbuilt] = await Promise.all([
      createTestApp({
        env: { BRAND_NAME: 'Acme ID', BRAND_COLOR: '#FFD400', BRAND_LOGO_URL: 'https://cdn.acme.test/logo.svg', ALLOWED_REDIRECT_ORIGINS: 'https://app.acme.test/' },
        build: { webRoot: fakeBuild() },
      }),
      createTestApp({ build: { webRoot: mkdtempSync(join(tmpdir(), 'tessera-web-empty-')) } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([app?.destroy(), unbuilt?.destroy()]);
  });

  it('answers the app shell on every page path with the pages\' strict CSP and no caching of the shell', async () => {
    for (const path of PAGE_PATHS.map((p) => p.replace('*', 'sessions'))) {
      const response = await app.server.inject({ method: 'GET', url: path });
      expect(response.statusCode, path).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.body).toContain('<div id="root">');
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https://cdn.acme.test; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    }
  });

  it('serves hashed assets immutable for a year, precompressed when the browser takes gzip', async () => {
    const plain = await app.server.inject({ method: 'GET', url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'identity' } });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.body).toContain('tessera');
    const gzip = await app.server.inject({ method: 'GET', url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.body).toBe('gzipped bytes');
    const missing = await app.server.inject({ method: 'GET', url: '/assets/nothing-here.js' });
    expect(missing.statusCode).toBe(404);
  });

  it('keeps the API\'s own CSP and JSON answers apart from the pages', async () => {
    const api = await app.server.inject({ method: 'GET', url: '/v1/experience' });
    const page = await app.server.inject({ method: 'GET', url: '/sign-in' });
    expect(String(api.headers['content-security-policy'])).toContain("default-src 'none'");
    expect(api.headers['content-security-policy']).not.toBe(page.headers['content-security-policy']);
    const unknown = await app.server.inject({ method: 'GET', url: '/no-such-page' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toContain('application/problem+json');
  });

  it('tells the pages the brand, languages, redirect origins and sign-in rules (GET /v1/experience)', async () => {
    const response = await app.server.inject({ method: 'GET', url: '/v1/experience' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      brand: { name: 'Acme ID', color: '#ffd400', logo_url: 'https://cdn.acme.test/logo.svg' },
      locales: ['en', 'es'],
      redirect_origins: ['https://app.acme.test'],
      verified_email_required: true,
      mfa_required: 'off',
    });
    const defaults = await unbuilt.server.inject({ method: 'GET', url: '/v1/experience' });
    expect(defaults.json()).toMatchObject({ brand: { name: 'Tessera', color: '#4f46e5', logo_url: null }, redirect_origins: [] });
  });

  it('serves the brand colour as CSS variables, with a readable text colour on it', async () => {
    const response = await app.server.inject({ method: 'GET', url: '/branding.css' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(response.body).toBe(':root {\n  --brand: #ffd400;\n  --brand-contrast: #000000;\n}\n');
    expect(contrastOn('#4f46e5')).toBe('#ffffff');
    expect(contrastOn('#ffffff')).toBe('#000000');
    expect(contrastOn('#000000')).toBe('#ffffff');
  });

  it('answers 503 with a problem saying how to build the pages when they were not built; the API works', async () => {
    const page = await unbuilt.server.inject({ method: 'GET', url: '/sign-in' });
    expect(page.statusCode).toBe(503);
    expect(page.headers['content-type']).toContain('application/problem+json');
    expect(page.json()).toMatchObject({ code: 'pages_not_built', detail: expect.stringContaining('npm run build:web') });
    expect((await unbuilt.server.inject({ method: 'GET', url: '/v1/experience' })).statusCode).toBe(200);
  });

  it('refuses a wrong brand or redirect setting at start, naming the variable', () => {
    const load = (env: Record<string, string>) => () => loadConfig({ TESSERA_SECRET: TEST_SECRET, ...env });
    expect(load({ BRAND_COLOR: 'red' })).toThrow(/BRAND_COLOR: expected a colour as #rrggbb/);
    expect(load({ BRAND_COLOR: '#12345' })).toThrow(/BRAND_COLOR/);
    expect(load({ BRAND_LOGO_URL: 'http://cdn.example/logo.png' })).toThrow(/BRAND_LOGO_URL: expected a path/);
    expect(load({ BRAND_LOGO_URL: '//cdn.example/logo.png' })).toThrow(/BRAND_LOGO_URL/);
    expect(load({ BRAND_NAME: ' ' })).toThrow(/BRAND_NAME/);
    expect(load({ ALLOWED_REDIRECT_ORIGINS: 'https://app.example.com/path' })).toThrow(/ALLOWED_REDIRECT_ORIGINS/);
    expect(loadConfig({ TESSERA_SECRET: TEST_SECRET, BRAND_LOGO_URL: '/logo.svg' }).brand).toEqual({ name: 'Tessera', color: '#4f46e5', logoUrl: '/logo.svg' });
  });
});
