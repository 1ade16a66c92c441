/**
 * Where to go after sign-in: `?return_to=` when it is one of this server's own pages (a path, not
 * `//host`, not an API or asset path) or an http(s) URL on an origin of ALLOWED_REDIRECT_ORIGINS;
 * anything else is ignored (no open redirect) and the account center is used.
 */
export function safeReturnTo(raw: string | null, allowedOrigins: readonly string[]): string | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw, window.location.origin);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username || url.password) return null;
  if (url.origin === window.location.origin) {
    // Only a real path of ours: "//evil.example" and "/\evil.example" parse as other origins above;
    // API, asset and sign-in paths would make no sense to return to.
    if (!raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return null;
    if (/^\/(v1|assets|\.well-known|health)(\/|$)/.test(url.pathname)) return null;
    if (/^\/(sign-in|sign-up|mfa)(\/|$)/.test(url.pathname)) return null;
    return url.pathname + url.search + url.hash;
  }
  return allowedOrigins.includes(url.origin) ? url.href : null;
}

/** Goes to a return target: in-app paths through the router, other origins by a full navigation. */
export function isExternal(target: string): boolean {
  return !target.startsWith('/');
}
