import { expect } from 'vitest';
import * as client from 'openid-client';
import { PASSWORD } from './client.js';

/**
 * A user agent over real HTTP with a cookie jar, doing what the hosted page `/authorize/{uid}` does
 * (reads the interaction, signs in, continues or consents through /v1/oidc/interactions/…), so the
 * OpenID flows run without a browser. The browser suite drives the real page.
 */
export class UserAgent {
  readonly jar = new Map<string, string>();
  /** Every Set-Cookie line received, in order (to check a cookie's attributes). */
  readonly setCookies: string[] = [];
  /**
   * `origin`: where the server listens. `publicOrigin` (default the same): its PUBLIC_URL, when that is
   * https in front of a plain listener (a TLS proxy's view): requests to it go to `origin` with
   * `x-forwarded-proto: https`.
   */
  constructor(
    readonly origin: string,
    readonly publicOrigin: string = origin,
  ) {}

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && new Date(a.split('=')[1]!) < new Date()));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  /** One request, no redirect followed; cookies sent and kept; the CSRF header on state changes. */
  async fetch(url: string | URL, init: { method?: string; json?: unknown; form?: Record<string, string> } = {}): Promise<Response> {
    const method = init.method ?? (init.json !== undefined || init.form ? 'POST' : 'GET');
    const headers: Record<string, string> = { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), 'user-agent': 'tessera-oidc-tests/1.0' };
    const csrf = this.jar.get('tessera_csrf');
    if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
    let body: string | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    } else if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    let target = new URL(url, this.publicOrigin);
    if (target.origin === this.publicOrigin && this.publicOrigin !== this.origin) {
      target = new URL(target.pathname + target.search, this.origin);
      // What a TLS proxy adds (the server takes the scheme and host of its PUBLIC_URL anyway).
      headers['x-forwarded-proto'] = 'https';
    }
    const res = await fetch(target, { method, headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
    this.store(res);
    return res;
  }

  /** Signs in with a password (cookie session, as the hosted sign-in page does). */
  async signIn(email: string, password = PASSWORD): Promise<void> {
    const res = await this.fetch('/v1/auth/login', { json: { email, password, use_cookie: true } });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  /**
   * Follows redirects from `url` (an authorization request or a resume URL) until one leaves this
   * server (the application's redirect URI: answered) or reaches the hosted page (the interaction uid).
   */
  async follow(url: string | URL): Promise<{ uid: string } | { callback: URL } | { page: Response }> {
    let next = new URL(url, this.publicOrigin);
    const page = (at: URL) => (at.origin === this.publicOrigin ? /^\/authorize\/([\w-]+)$/.exec(at.pathname)?.[1] : undefined);
    const first = page(next);
    if (first) return { uid: first };
    for (let hops = 0; hops < 10; hops++) {
      const res = await this.fetch(next);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { page: res };
      next = new URL(location, next);
      if (next.origin !== this.publicOrigin) return { callback: next };
      const uid = page(next);
      if (uid) return { uid };
    }
    throw new Error('too many redirects');
  }

  async interaction(uid: string): Promise<{ prompt: string; reasons: string[]; client: { name: string; first_party: boolean }; scopes: string[]; [key: string]: unknown }> {
    const res = await this.fetch(`/v1/oidc/interactions/${uid}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json() as never;
  }

  /** What the hosted page does at a step: continue signed in (login) or allow (consent); answers the next stop. */
  async step(uid: string, action: 'login' | 'consent' | 'abort', body: Record<string, unknown> = {}) {
    const res = await this.fetch(`/v1/oidc/interactions/${uid}/${action}`, { json: body });
    expect(res.status, await res.clone().text()).toBe(200);
    return this.follow(((await res.json()) as { redirect_to: string }).redirect_to);
  }

  /**
   * The whole front channel of an authorization for a signed-in person: every login step continued,
   * every consent allowed (with `consent` options), until the application's redirect URI.
   */
  async authorize(url: URL, options: { consent?: Record<string, unknown>; onConsent?: (uid: string) => Promise<void> } = {}): Promise<URL> {
    let at = await this.follow(url);
    for (let steps = 0; steps < 5; steps++) {
      if ('callback' in at) return at.callback;
      if ('page' in at) throw new Error(`stopped at ${at.page.status}: ${await at.page.text()}`);
      const details = await this.interaction(at.uid);
      if (details.prompt === 'consent') await options.onConsent?.(at.uid);
      at = await this.step(at.uid, details.prompt === 'login' ? 'login' : 'consent', details.prompt === 'consent' ? (options.consent ?? {}) : {});
    }
    throw new Error('too many interaction steps');
  }
}

/** An openid-client configuration for a client of this server (discovery over http, ID token signatures checked). */
export async function relyingParty(origin: string, clientId: string, secret?: string, metadata: Partial<client.ClientMetadata> = {}): Promise<client.Configuration> {
  const config = await client.discovery(
    new URL(origin),
    clientId,
    { ...metadata, ...(secret ? { client_secret: secret } : {}) },
    secret ? client.ClientSecretBasic(secret) : client.None(),
    { execute: [client.allowInsecureRequests] },
  );
  client.enableNonRepudiationChecks(config);
  return config;
}

/** An authorization request with PKCE (S256), state and nonce, and what the callback must be checked against. */
export async function authorizationRequest(config: client.Configuration, params: Record<string, string>) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}
