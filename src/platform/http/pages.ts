import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { httpErrors } from './errors.js';
import type { HttpServer } from './server.js';

/** Where `npm run build:web` writes the hosted pages. */
export const WEB_ROOT = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/**
 * The paths of the hosted pages (the single-page app's routes that people bookmark and that mails
 * link to). Each answers the app's `index.html`; the browser-side router draws the page.
 */
export const PAGE_PATHS: readonly string[] = Object.freeze([
  '/', '/sign-in', '/sign-up', '/verify-email', '/forgot-password', '/reset-password', '/magic-link',
  '/mfa', '/mfa/enroll', '/mfa/recover', '/invitations/accept', '/account', '/account/*', '/authorize/:uid',
]);

export interface PagesOptions {
  /** The built front end (`web/dist`): `index.html` and `assets/` with hashed file names. */
  root: string;
  /** Origins besides 'self' that images may come from (an external brand logo). */
  imageOrigins: readonly string[];
}

/**
 * The Content-Security-Policy of every page: scripts, styles, fonts and API calls from this origin
 * only, nothing inline, no frames, no plugins, forms posting nowhere else.
 */
export function pageCsp(imageOrigins: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${["'self'", ...imageOrigins].join(' ')}`,
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Origins images may come from besides 'self': the brand logo's, when it is an https URL elsewhere. */
export function imageOriginsOf(logoUrl: string | undefined): string[] {
  return logoUrl?.startsWith('https:') ? [new URL(logoUrl).origin] : [];
}

/**
 * The app shell (`index.html` of the built pages) with `<meta>` data for the page it will draw, for
 * pages another part of the server answers (oidc-provider's device flow): the data travels in the
 * document, escaped, since the CSP allows no inline script. Null when the pages are not built.
 */
export function appShellWith(root: string, meta: Record<string, unknown>): string | null {
  const shell = readShell(root);
  if (shell === null) return null;
  const escaped = JSON.stringify(meta).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return shell.replace('</head>', `<meta name="tessera-page-data" content="${escaped}"></head>`);
}

/** The built app shell (`index.html`), or null when the pages are not built. */
function readShell(root: string): string | null {
  const indexFile = join(root, 'index.html');
  return existsSync(indexFile) ? readFileSync(indexFile, 'utf8') : null;
}

/** One year: hashed file names change whenever their content does. */
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * Serves the hosted pages: hashed assets under `/assets/` (immutable, precompressed gzip/brotli
 * when the build wrote them), the app shell on each of PAGE_PATHS (never cached, so a new build is
 * picked up at once), with the pages' CSP. When the front end was not built, the page paths answer
 * 503 with a problem saying how to build it; the API is unaffected.
 */
export async function registerPages(server: HttpServer, options: PagesOptions): Promise<void> {
  const csp = pageCsp(options.imageOrigins);
  const shell = readShell(options.root);
  const routeOptions = { schema: { hide: true }, config: { rateLimit: false as const } };

  if (shell !== null && existsSync(join(options.root, 'assets'))) {
    await server.register(fastifyStatic, {
      root: join(options.root, 'assets'),
      prefix: '/assets/',
      preCompressed: true,
      // Cache-Control: public, max-age=31536000, immutable
      maxAge: ONE_YEAR_MS,
      immutable: true,
      lastModified: false,
      index: false,
    });
  }
  for (const path of PAGE_PATHS) {
    server.get(path, routeOptions, async (_request, reply) => {
      if (shell === null) throw httpErrors.pages_not_built('The hosted pages are not built: run `npm run build:web` (npm start and npm test do it)');
      return reply
        .header('content-security-policy', csp)
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(shell);
    });
  }
}
