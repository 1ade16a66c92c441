/*
 * The rules of an application's URIs, by type (what RFC 6749 §3.1.2, RFC 8252 and OAuth 2.1 ask of
 * redirect URIs; what a CORS origin is). Pure functions: each answers why a value is refused, or null.
 */

export const APPLICATION_TYPES = ['web', 'spa', 'native', 'm2m', 'device'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

/** Types that authenticate at the token endpoint with a secret. */
export const isConfidential = (type: ApplicationType): boolean => type === 'web' || type === 'm2m';
/** Types whose sign-in goes through a browser redirect (authorization code + PKCE). */
export const isRedirecting = (type: ApplicationType): boolean => type === 'web' || type === 'spa' || type === 'native';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
/** A private-use URI scheme in reverse domain notation (RFC 8252 §7.1): `com.example.app`. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/;
const HTTPS_RULE = 'must use https (http only on localhost, 127.0.0.1 or [::1])';

/** Why an http(s) URL is refused (https, or http on a loopback host), or null. */
function webUrlProblem(raw: string, url: URL): string | null {
  if (!/^https?:\/\/[^/]/i.test(raw)) return 'must be an absolute URI (scheme://host/path)';
  if (url.username || url.password) return 'must not carry a user name or password';
  if (url.hostname.includes('*')) return 'must not contain a wildcard';
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) return HTTPS_RULE;
  return null;
}

function parse(raw: string): URL | string {
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return 'must not contain spaces or control characters';
  if (raw.includes('#')) return 'must not contain a fragment (#)';
  try {
    return new URL(raw);
  } catch {
    return 'must be an absolute URI';
  }
}

/** Why a redirect URI (or post-logout redirect URI) is refused for this type, or null. */
export function redirectUriProblem(raw: string, type: ApplicationType): string | null {
  const url = parse(raw);
  if (typeof url === 'string') return url;
  if (url.protocol === 'https:' || url.protocol === 'http:') return webUrlProblem(raw, url);
  if (type === 'native') {
    return PRIVATE_USE_SCHEME.test(url.protocol.slice(0, -1))
      ? null
      : 'must use https, http on a loopback host, or a private-use scheme in reverse domain notation (com.example.app:/callback)';
  }
  return HTTPS_RULE;
}

/** Why a back-channel logout URI is refused, or null: https (http on loopback), no fragment. */
export function backchannelUriProblem(raw: string): string | null {
  const url = parse(raw);
  if (typeof url === 'string') return url;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return HTTPS_RULE;
  return webUrlProblem(raw, url);
}

/** Why an allowed origin is refused, or null: exactly `scheme://host[:port]`, https (http on loopback). */
export function originProblem(raw: string): string | null {
  const url = parse(raw);
  if (typeof url === 'string') return url === 'must be an absolute URI' ? 'must be an origin (scheme://host[:port])' : url;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https origin';
  if (url.origin !== raw) return `must be an origin, scheme://host[:port] without path, query or trailing slash (${url.origin})`;
  return webUrlProblem(raw, url);
}

/** Why a resource indicator is refused, or null: an absolute URI without fragment (RFC 8707 §2). */
export function indicatorProblem(raw: string): string | null {
  const url = parse(raw);
  if (typeof url === 'string') return url;
  if ((url.protocol === 'https:' || url.protocol === 'http:') && !/^https?:\/\/[^/]/i.test(raw)) return 'must be an absolute URI (scheme://host/path)';
  return null;
}

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

/** The grant types of a type: code + refresh for redirecting types, client credentials for m2m, device code + refresh for device. */
export function grantTypesOf(type: ApplicationType): string[] {
  if (isRedirecting(type)) return ['authorization_code', 'refresh_token'];
  return type === 'm2m' ? ['client_credentials'] : [DEVICE_CODE, 'refresh_token'];
}

/** The response types of a type: `code` for redirecting types, none for the others. */
export const responseTypesOf = (type: ApplicationType): string[] => (isRedirecting(type) ? ['code'] : []);
