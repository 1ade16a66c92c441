import { clientOf } from '../../platform/http/client.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { isId } from '../../platform/crypto/ids.js';
import type { HttpServer } from '../../platform/http/server.js';
import { problems } from '../../platform/http/schemas.js';
import { escapeHtml, MESSAGE_CATEGORIES, type MessageCategory } from '../../platform/mail/index.js';

import { preferenceErrors } from './notifications.errors.js';
import type { PreferencesService, UnsubscribeClaim, UnsubscribeOutcome } from './notifications.preferences.service.js';

/*
 * Signed one-click unsubscribe links (RFC 8058) for non-security email.
 *
 * token = base64url(JSON payload) "." base64url(HMAC-SHA256(key, first part)), the key derived from
 * TESSERA_SECRET for this purpose alone (`box.deriveKey('unsubscribe-link v1')`). Payload:
 *   { u: user id | null, r: recipient address (only when there is no user), c: category, iat: seconds }
 * No expiry: a link sits in a mailbox for years and must still work (RFC 8058 expects that), and all
 * it can do is turn mail off. Rotating TESSERA_SECRET invalidates outstanding links; a future key
 * version would take a new derivation purpose (`… v2`) and a `k` member in the payload.
 * A `security` token is never made and never accepted: those messages cannot be turned off.
 */


export interface UnsubscribeLinks {
  /** The token for one mail's link; throws for `security` (a programming error). */
  sign(input: { userId: string | null; recipient: string; category: MessageCategory }): string;
  /** `${PUBLIC_URL}/v1/unsubscribe?token=…` (the messenger's `Recipients.unsubscribeUrl`). */
  url(input: { userId: string | null; recipient: string; category: MessageCategory }): string;
  /** The claim of a genuine token; null for anything altered, forged, malformed or of the `security` category. */
  verify(token: string): UnsubscribeClaim | null;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function createUnsubscribeLinks(deps: { key: Buffer; publicUrl: string; now?: () => number }): UnsubscribeLinks {
  const { key } = deps;
  const now = deps.now ?? Date.now;
  const mac = (body: string): Buffer => createHmac('sha256', key).update(body).digest();

  const links: UnsubscribeLinks = {
    sign({ userId, recipient, category }) {
      if (category === 'security') throw new Error('unsubscribe links are never made for security messages');
      const payload = userId ? { u: userId, c: category, iat: Math.floor(now() / 1000) } : { u: null, r: recipient.trim().toLowerCase(), c: category, iat: Math.floor(now() / 1000) };
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },
    url: (input) => `${deps.publicUrl.replace(/\/+$/, '')}/v1/unsubscribe?token=${links.sign(input)}`,
    verify(token) {
      const parts = token.split('.');
      if (parts.length !== 2) return null;
      const [body, signature] = parts as [string, string];
      if (!BASE64URL.test(body) || !BASE64URL.test(signature)) return null;
      const given = Buffer.from(signature, 'base64url');
      const expected = mac(body);
      // Canonical encoding only, so one signature has one spelling; then a constant-time comparison.
      if (given.length !== expected.length || given.toString('base64url') !== signature || !timingSafeEqual(given, expected)) return null;
      let payload: unknown;
      try {
        payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      if (typeof payload !== 'object' || payload === null) return null;
      const { u, r, c, iat } = payload as Record<string, unknown>;
      if (typeof c !== 'string' || c === 'security' || !(MESSAGE_CATEGORIES as readonly string[]).includes(c)) return null;
      if (typeof iat !== 'number' || !Number.isInteger(iat)) return null;
      if (typeof u === 'string' && isId(u, 'usr')) return { userId: u, recipient: null, category: c as UnsubscribeClaim['category'], issuedAt: iat };
      if (u === null && typeof r === 'string' && r.length > 0 && r.length <= 320) return { userId: null, recipient: r, category: c as UnsubscribeClaim['category'], issuedAt: iat };
      return null;
    },
  };
  return links;
}

const CATEGORY_NAMES: Record<UnsubscribeClaim['category'], string> = {
  account: 'account',
  organization: 'organization',
  product: 'product',
  marketing: 'marketing',
};

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1 style="font-size: 1.4rem">${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function confirmationPage(claim: UnsubscribeClaim, token: string): string {
  const what = claim.userId
    ? `You will no longer receive ${CATEGORY_NAMES[claim.category]} emails. Security messages (sign-in alerts, password resets) still reach you; you can change this any time in your notification preferences.`
    : 'This address will receive no more email from us.';
  // A relative action: the same path (whatever prefix a proxy adds) with the token; a POST, so link scanners that follow GETs change nothing.
  return page(
    'Unsubscribe?',
    `<p>${escapeHtml(what)}</p>
<form method="post" action="?token=${escapeHtml(encodeURIComponent(token))}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
  );
}

function donePage(outcome: UnsubscribeOutcome): string {
  const what = outcome.kind === 'user'
    ? `You will no longer receive ${CATEGORY_NAMES[outcome.category]} emails. Security messages still reach you.`
    : 'This address will receive no more email from us.';
  return page('You are unsubscribed', `<p>${escapeHtml(what)}</p>`);
}

/** Headers of the two HTML pages: no caching, no referrer (the token is in the URL), styles inline only. */
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const Html = Type.String({ description: 'HTML page' });
const TokenQuery = Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false });
const Unsubscribed = Type.Object({
  unsubscribed: Type.Literal(true),
  /** `preferences`: the user's category is now off on email; `suppression`: the address is on the email suppression list. */
  scope: Type.Union([Type.Literal('preferences'), Type.Literal('suppression')]),
  category: Type.String(),
});

/**
 * `GET /v1/unsubscribe?token=…`: a confirmation page whose form POSTs (GET changes nothing: link
 * scanners and previews follow GETs). `POST /v1/unsubscribe?token=…`: RFC 8058 one-click, posted by
 * mail providers with the body `List-Unsubscribe=One-Click` (form-encoded or multipart) and no
 * credentials, so there is no authentication and no CSRF check: the signed token is the authority.
 * Answers JSON, or an HTML page when the caller accepts HTML (the confirmation form).
 */
export function unsubscribeRoutes(server: HttpServer, deps: { links: UnsubscribeLinks; preferences: PreferencesService }): void {
  const { links, preferences } = deps;
  const claimOf = (token: string): UnsubscribeClaim => {
    const claim = links.verify(token);
    if (!claim) throw preferenceErrors.invalid_unsubscribe_token();
    return claim;
  };

  server.get(
    '/v1/unsubscribe',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Confirmation page of a one-click unsubscribe link (HTML; changes nothing)',
        querystring: TokenQuery,
        response: { 200: { description: 'A page with a form that POSTs to the same URL', content: { 'text/html': { schema: Html } } }, ...problems(400) },
      },
    },
    async (request, reply) => {
      const claim = claimOf(request.query.token);
      return reply.code(200).headers(HTML_HEADERS).send(confirmationPage(claim, request.query.token));
    },
  );

  server.register(async (plugin) => {
    const scope = plugin.withTypeProvider<TypeBoxTypeProvider>();
    // Mail providers post `List-Unsubscribe=One-Click` as application/x-www-form-urlencoded or
    // multipart/form-data; some post nothing. The token in the URL is all that counts: any body
    // (up to 4 KiB) is read and ignored.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4096 }, (_request, _body, done) => done(null, undefined));
    scope.post(
      '/v1/unsubscribe',
      {
        bodyLimit: 4096,
        schema: {
          tags: ['notifications'],
          summary: 'One-click unsubscribe (RFC 8058): turns the category off on email, or suppresses an address that is not a user',
          querystring: TokenQuery,
          response: {
            200: { description: 'Unsubscribed', content: { 'application/json': { schema: Unsubscribed }, 'text/html': { schema: Html } } },
            ...problems(400),
          },
        },
      },
      async (request, reply) => {
        const claim = claimOf(request.query.token);
        const outcome = await preferences.unsubscribe(claim, clientOf(request));
        if ((request.headers.accept ?? '').includes('text/html')) return reply.code(200).headers(HTML_HEADERS).send(donePage(outcome));
        reply.header('cache-control', 'no-store');
        return { unsubscribed: true as const, scope: outcome.kind === 'user' ? ('preferences' as const) : ('suppression' as const), category: claim.category };
      },
    );
  });
}
