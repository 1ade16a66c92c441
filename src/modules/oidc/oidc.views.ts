/**
 * The few pages oidc-provider draws itself (an error that cannot go back to the application, the
 * sign-out confirmation, the device flow's code entry): plain, accessible HTML under a strict CSP,
 * styled by the hosted pages' brand stylesheet. Everything shown is escaped.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The CSP of these pages: nothing inline but what oidc-provider hashes in (form_post), forms to this origin. */
export const VIEW_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function page(title: string, body: string, lang = 'en'): string {
  return `<!DOCTYPE html>
<html lang="${escapeHtml(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/branding.css">
</head>
<body>
<main class="oidc-page">
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`;
}

/** An authorization error that must not go back to the application (unknown client, unregistered redirect URI). */
export function errorPage(out: { error?: string; error_description?: string }): string {
  return page('Sign-in cannot continue', `<p>The application's request was refused, so you were not sent back to it.</p>
<dl>
<dt>Error</dt><dd><code>${escapeHtml(out.error ?? 'server_error')}</code></dd>
${out.error_description ? `<dt>Details</dt><dd>${escapeHtml(out.error_description)}</dd>` : ''}
</dl>
<p><a href="/account">Go to your account</a></p>`);
}

export function logoutPage(form: string, clientName: string | undefined): string {
  const from = clientName ? ` of ${escapeHtml(clientName)} and` : '';
  return page('Sign out?', `<p>Do you want to sign out${from} of this server?</p>
${form}
<p><button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></p>`);
}

export function loggedOutPage(clientName: string | undefined): string {
  return page('Signed out', `<p>You have signed out${clientName ? ` of ${escapeHtml(clientName)}` : ''}.</p>
<p><a href="/sign-in">Sign in again</a></p>`);
}

/** A hosted page asked for while the front end is not built (as the other page paths answer it: 503). */
export function pagesNotBuiltPage(): string {
  return page('Pages not built', '<p>The hosted pages are not built: run <code>npm run build:web</code> (<code>npm start</code> and <code>npm test</code> do it).</p>');
}
