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

/** The device flow's code entry: oidc-provider's form (hidden xsrf, the `user_code` input) with a label. */
export function userCodePage(form: string, error: string | null): string {
  // The label for the code field, and no inline handler (the CSP would refuse it).
  const labelled = form
    .replace(/\sonfocus="[^"]*"/, '')
    .replace(/<input([^>]*name="user_code"[^>]*)>/, '<label for="user_code">Code shown on your device</label><input id="user_code"$1>');
  return page('Connect a device', `${error ? `<p role="alert">${escapeHtml(error)}</p>` : '<p>Enter the code your device shows.</p>'}
${labelled}
<p><button type="submit" form="op.deviceInputForm">Continue</button></p>`);
}

export function userCodeConfirmPage(form: string, clientName: string, userCode: string): string {
  return page('Connect a device', `<p>${escapeHtml(clientName)} asks to sign in on a device showing the code <strong>${escapeHtml(userCode)}</strong>.</p>
<p>Only continue if that is the code on your device.</p>
${form}
<p><button type="submit" form="op.deviceConfirmForm" name="confirm" value="yes">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button></p>`);
}

export function deviceSuccessPage(clientName: string | undefined): string {
  return page('Device connected', `<p>${clientName ? `${escapeHtml(clientName)} is` : 'Your device is'} signed in. You can go back to your device.</p>`);
}
