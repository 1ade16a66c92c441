import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import { safeEqual } from '../../platform/crypto/tokens.js';
import type { ClientRegistry } from './oidc.applications.service.js';
import { createOidcAdapter, type OidcAdapter, type OidcPayload } from './oidc.adapter.js';
import { consumedLaterInGrant } from './oidc.queries.js';
import { errorPage, loggedOutPage, logoutPage, pagesNotBuiltPage, VIEW_CSP } from './oidc.views.js';

/**
 * Tessera's OpenID provider: oidc-provider (OpenID Certified) with its storage on Tessera's database,
 * its clients from the applications registry, its login and consent steps on the hosted pages
 * (`/authorize/{uid}`), and its tokens signed with Tessera's keys (one JWKS).
 *
 * Sessions are one: an OIDC session is linked to the Tessera session that signed in through it
 * (model `SessionLink`, keyed by the OIDC session's uid). Every model instance bound to an OIDC
 * session (the session itself, its access and refresh tokens) is answered only while that Tessera
 * session lives, so revoking it anywhere (account center, admin, sign-out, another instance) ends the
 * OIDC session and its tokens at once, with no copy to keep in step.
 */

/** Where the provider answers, under the standard paths (ARCHITECTURE: `/.well-known/…`, `/oauth/…`). */
export const OIDC_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  jwks: '/oauth/jwks',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  end_session: '/oauth/logout',
  device_authorization: '/oauth/device/auth',
  code_verification: '/oauth/device',
  pushed_authorization_request: '/oauth/par',
  backchannel_authentication: '/oauth/backchannel',
  challenge: '/oauth/challenge',
  registration: '/oauth/register',
} as const;

/** The hosted page that carries the login, consent and organization steps of an authorization. */
export const INTERACTION_PAGE = '/authorize';

/** OIDC scopes and the claims each one releases (OpenID Connect Core 5.4; `organizations` is Tessera's). */
export const OIDC_SCOPES: Record<string, string[]> = {
  // amr rides with openid: how the person signed in is part of every ID token.
  openid: ['sub', 'amr', 'auth_time'],
  profile: ['name', 'locale', 'zoneinfo', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  organizations: ['organizations'],
  offline_access: [],
};

/** Model names the adapter stores besides oidc-provider's own. */
export const SESSION_LINK_MODEL = 'SessionLink';
export const GRANT_ORG_MODEL = 'GrantOrganization';

/** Models whose instances belong to an OIDC session (their payload's `sessionUid`, or the session's `uid`). */
const SESSION_BOUND = new Set(['Session', 'AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export interface OidcAccount {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  locale: string | null;
  timezone: string | null;
  phone: string | null;
  phoneVerified: boolean;
  updatedAt: Date;
}

export interface OidcProviderDeps {
  issuer: string;
  db: Database;
  audit: Audit;
  registry: ClientRegistry;
  keys: { providerKeys(): Promise<{ version: string; keys: JWK[] }> };
  /** Keys that sign the provider's cookies (derived from TESSERA_SECRET). */
  cookieKeys: string[];
  /** The audience of Tessera's own API (TOKEN_AUDIENCE): the built-in resource `/v1`. */
  apiAudience: string;
  accessTokenTtlSeconds: number;
  refreshIdleTimeoutSeconds: number;
  /** REFRESH_REUSE_GRACE_SECONDS: the latest rotated refresh token of a grant may be presented again this long after. */
  refreshReuseGraceSeconds: number;
  sessionMaxLifetimeSeconds: number;
  account(userId: string): Promise<OidcAccount | null>;
  /** The person's memberships for the `organizations` claim. */
  organizations(userId: string): Promise<{ id: string; slug: string; role: string }[]>;
  /** The person's role in one organization, or null when not (or no longer) a member. */
  roleIn(orgId: string, userId: string): Promise<string | null>;
  isSessionRevoked(sessionId: string): Promise<boolean>;
  /**
   * Whether the provider's own calls (back-channel logout) may reach private and loopback addresses
   * (WEBHOOK_ALLOW_PRIVATE_NETWORKS); by default oidc-provider refuses them (SSRF protection).
   */
  allowPrivateNetworks: boolean;
  /** The hosted pages' app shell carrying `meta` for the page to draw (null when the pages are not built). */
  page(meta: Record<string, unknown>): string | null;
  /** The hosted pages' Content-Security-Policy. */
  pageCsp: string;
  /** Called when RP-initiated logout ended an OIDC session linked to a Tessera session. */
  endTesseraSession(sessionId: string): Promise<void>;
  logger: Logger;
}

export interface OidcProvider {
  /** Answers a request on one of the provider's paths (Node's request and response). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The provider of the current key set (rebuilt after a key rotation). */
  current(): Promise<Provider>;
  /** The organization a grant was given for (the organization step), kept as long as the grant. */
  setGrantOrganization(grantId: string, orgId: string): Promise<void>;
}

type Ctx = KoaContextWithOIDC;

const TOKEN_VALUE = Symbol('tessera.accessTokenValue');

/**
 * `at_hash` in the ID tokens of the token endpoint too. oidc-provider adds it only to ID tokens of the
 * authorization response (implicit and hybrid, which are off here); it is optional in the code flow
 * (OpenID Connect Core 3.1.3.6) but lets a relying party bind the ID token to its access token, so
 * Tessera includes it: the access token's value is kept on the token when it is saved, and the ID
 * token issued in the same exchange hashes it (left half of the digest of the ID token's algorithm).
 */
function issueAtHash(provider: Provider): void {
  const save = provider.AccessToken.prototype.save;
  Object.defineProperty(provider.AccessToken.prototype, 'save', {
    async value(this: Record<symbol, unknown>, ...args: unknown[]) {
      const value = (await (save as (...a: unknown[]) => Promise<string>).apply(this, args)) as string;
      this[TOKEN_VALUE] = value;
      return value;
    },
  });
  const issue = provider.IdToken.prototype.issue;
  Object.defineProperty(provider.IdToken.prototype, 'issue', {
    value(this: { ctx?: Ctx; extra: Record<string, unknown>; set(key: string, value: unknown): void }, options?: { use?: string }) {
      const value = (this.ctx?.oidc?.entities?.AccessToken as Record<symbol, unknown> | undefined)?.[TOKEN_VALUE];
      if (options?.use === 'idtoken' && this.extra.at_hash === undefined && typeof value === 'string') this.set('at_hash', value);
      return issue.call(this as never, options as never);
    },
  });
}

export function createOidcProvider(deps: OidcProviderDeps): OidcProvider {
  const Base = createOidcAdapter(deps.db);
  const links = new Base(SESSION_LINK_MODEL);
  const grantOrgs = new Base(GRANT_ORG_MODEL);

  /** The Tessera session of an OIDC session uid, or undefined when there is none (never linked, or gone). */
  async function tesseraSessionOf(oidcSessionUid: unknown): Promise<string | undefined> {
    if (typeof oidcSessionUid !== 'string') return undefined;
    const link = await links.find(oidcSessionUid);
    return typeof link?.sessionId === 'string' ? link.sessionId : undefined;
  }

  /**
   * Whether a stored instance still stands: one bound to an OIDC session only while the Tessera
   * session linked to it lives. The link is written when a login finishes (it lasts as long as a
   * Tessera session can), so a signed-in OIDC session or a token without one has outlived its
   * Tessera session; an anonymous session or a code in the middle of a sign-in has none yet.
   */
  async function alive(model: string, payload: OidcPayload | undefined): Promise<OidcPayload | undefined> {
    if (!payload || !SESSION_BOUND.has(model)) return payload;
    const uid = model === 'Session' ? payload.uid : payload.sessionUid;
    if (typeof uid !== 'string') return payload;
    const sessionId = await tesseraSessionOf(uid);
    if (!sessionId) {
      const signedIn = model === 'Session' ? payload.accountId !== undefined : model === 'AccessToken' || model === 'RefreshToken';
      return signedIn ? undefined : payload;
    }
    return (await deps.isSessionRevoked(sessionId)) ? undefined : payload;
  }

  /**
   * The reuse grace of /v1/auth/refresh for OIDC refresh tokens: the latest rotated refresh token of a
   * grant, presented again (by its client: refresh tokens are bound to it) within
   * REFRESH_REUSE_GRACE_SECONDS of its rotation, is answered as unspent, so it is rotated once more
   * (two tabs refreshing at once). Otherwise oidc-provider sees it spent and revokes the grant (theft).
   */
  async function withinGrace(id: string, payload: OidcPayload | undefined): Promise<OidcPayload | undefined> {
    if (!payload || typeof payload.consumed !== 'number' || deps.refreshReuseGraceSeconds <= 0 || typeof payload.grantId !== 'string') return payload;
    if (Date.now() / 1000 - payload.consumed > deps.refreshReuseGraceSeconds) return payload;
    if (await consumedLaterInGrant(deps.db, 'RefreshToken', payload.grantId, id)) return payload;
    const { consumed: _consumed, ...unspent } = payload;
    return unspent;
  }

  class Adapter implements OidcAdapter {
    private readonly base: OidcAdapter;
    constructor(private readonly model: string) {
      this.base = new Base(model);
    }
    upsert(id: string, payload: OidcPayload, expiresIn: number) {
      return this.base.upsert(id, payload, expiresIn);
    }
    async find(id: string) {
      if (this.model === 'Client') return ((await deps.registry.findClient(id)) ?? undefined) as OidcPayload | undefined;
      const payload = await alive(this.model, await this.base.find(id));
      return this.model === 'RefreshToken' ? withinGrace(id, payload) : payload;
    }
    async findByUid(uid: string) {
      return alive(this.model, await this.base.findByUid(uid));
    }
    async findByUserCode(userCode: string) {
      return alive(this.model, await this.base.findByUserCode(userCode));
    }
    consume(id: string) {
      return this.base.consume(id);
    }
    destroy(id: string) {
      return this.base.destroy(id);
    }
    revokeByGrantId(grantId: string) {
      return this.base.revokeByGrantId(grantId);
    }
  }

  async function findAccount(_ctx: Ctx, sub: string) {
    const account = await deps.account(sub);
    if (!account) return undefined;
    return {
      accountId: account.id,
      // Every claim of the account: oidc-provider releases only those of the granted scopes and claims.
      async claims(_use: string, scope: string, requested: Record<string, unknown> = {}) {
        const wantsOrganizations = scope.split(' ').includes('organizations') || 'organizations' in requested;
        return {
          sub: account.id,
          name: account.name ?? undefined,
          locale: account.locale ?? undefined,
          zoneinfo: account.timezone ?? undefined,
          updated_at: Math.floor(account.updatedAt.getTime() / 1000),
          email: account.email,
          email_verified: account.emailVerified,
          ...(account.phone ? { phone_number: account.phone, phone_number_verified: account.phoneVerified } : {}),
          ...(wantsOrganizations ? { organizations: await deps.organizations(account.id) } : {}),
        };
      },
    };
  }

  /** The resource servers: Tessera's own API (its audience) and every registered API resource the client was granted. */
  async function resourceServerInfo(_ctx: Ctx, indicator: string, client: { clientId: string }) {
    const jwt = { sign: { alg: 'EdDSA' as const } };
    if (indicator === deps.apiAudience) {
      return { scope: '', audience: indicator, accessTokenTTL: deps.accessTokenTtlSeconds, accessTokenFormat: 'jwt' as const, jwt };
    }
    const resource = await deps.registry.findResource(indicator);
    if (!resource) throw new errors.InvalidTarget('unknown resource indicator');
    const granted = (await deps.registry.resourceScopes(client.clientId)).find((grant) => grant.resource === indicator);
    if (!granted) throw new errors.InvalidTarget('the client was not granted this resource');
    return { scope: granted.scopes.join(' '), audience: indicator, accessTokenTTL: deps.accessTokenTtlSeconds, accessTokenFormat: 'jwt' as const, jwt };
  }

  /**
   * The interaction policy: select_account (only when asked for), oidc-provider's login and consent
   * prompts, and one more consent check:
   * an authorization with `organization_id` (an organization's id, or `select`) needs the person to
   * choose or confirm that organization, unless this grant already speaks for the one named.
   */
  function policy() {
    const prompts = interactionPolicy.base();
    // prompt=select_account: the hosted page asks whether to go on as the signed-in person or as another.
    prompts.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }), 0);
    prompts.get('consent')!.checks.add(
      new interactionPolicy.Check('organization_not_chosen', 'an organization must be chosen', async (ctx: Ctx) => {
        const requested = ctx.oidc.params!.organization_id;
        if (typeof requested !== 'string' || requested === '') return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        if ((ctx.oidc.result as { organization?: { id?: string } } | undefined)?.organization?.id) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        if (requested === 'select' || !ctx.oidc.grant?.jti) return interactionPolicy.Check.REQUEST_PROMPT;
        const chosen = await grantOrgs.find(ctx.oidc.grant.jti);
        return chosen?.orgId === requested ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
      }),
    );
    return prompts;
  }

  /** oidc-provider's CSRF token of a form it made (the device flow's). */
  const xsrfOf = (form: string): string => /name="xsrf" value="([^"]+)"/.exec(form)?.[1] ?? '';

  /** Answers with a hosted page (the app shell, the pages' CSP) drawing `meta`; 503 when the pages are not built, as every page path. */
  function hostedPage(ctx: Ctx, meta: Record<string, unknown>): void {
    const shell = deps.page({ page: 'device', ...meta });
    ctx.type = 'html';
    if (shell) {
      ctx.set('content-security-policy', deps.pageCsp);
      ctx.body = shell;
    } else {
      ctx.status = 503;
      ctx.body = pagesNotBuiltPage();
    }
  }

  const issuer = new URL(deps.issuer);
  const https = issuer.protocol === 'https:';

  function configuration(jwks: JWK[]): Configuration {
    return {
      adapter: Adapter as unknown as Configuration['adapter'],
      jwks: { keys: jwks as never },
      cookies: {
        keys: deps.cookieKeys,
        // Path / so the hosted page's API calls (/v1/oidc/interactions/…) carry the interaction cookie.
        short: { path: '/', httpOnly: true, sameSite: 'lax', secure: https },
        // An authorization request by POST (OpenID Connect Core 3.1.2.1) arrives cross-site: it carries the
        // session cookie only when that is SameSite=None, which browsers take only with Secure (https).
        long: { httpOnly: true, sameSite: https ? 'none' : 'lax', secure: https },
      },
      enableHttpPostMethods: https,
      routes: { ...OIDC_ROUTES },
      // Without oidc-provider's SSRF-guarding dispatcher when private addresses are allowed.
      ...(deps.allowPrivateNetworks ? { fetch: (url: string | URL | Request, options?: RequestInit) => fetch(url, { ...options, dispatcher: undefined } as RequestInit) } : {}),
      scopes: Object.keys(OIDC_SCOPES),
      // The session's claims of every ID token (acr, amr, auth_time, sid), and those each scope releases.
      claims: { acr: null, amr: null, auth_time: null, sid: null, iss: null, ...OIDC_SCOPES },
      responseTypes: ['code'],
      pkce: { required: () => true },
      findAccount: findAccount as unknown as Configuration['findAccount'],
      extraClientMetadata: {
        properties: ['first_party', 'org_id', 'allowed_origins', 'tessera_type'],
        validator() {},
      },
      extraParams: ['organization_id'],
      clientBasedCORS(_ctx, origin, client) {
        const allowed = (client as unknown as { allowed_origins?: string[] }).allowed_origins ?? [];
        return allowed.includes(origin);
      },
      async extraTokenClaims(_ctx, token) {
        const claims: Record<string, unknown> = {};
        const sessionUid = (token as { sessionUid?: string }).sessionUid;
        const sid = await tesseraSessionOf(sessionUid);
        if (sid) claims.sid = sid;
        const grantId = (token as { grantId?: string }).grantId;
        const accountId = (token as { accountId?: string }).accountId;
        if (grantId && accountId) {
          const chosen = await grantOrgs.find(grantId);
          const orgId = typeof chosen?.orgId === 'string' ? chosen.orgId : undefined;
          const role = orgId ? await deps.roleIn(orgId, accountId) : null;
          if (orgId && role) Object.assign(claims, { org_id: orgId, org_role: role });
        }
        return claims;
      },
      async loadExistingGrant(ctx) {
        const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        // A first-party application is granted what it asks for without a consent screen.
        const client = ctx.oidc.client as unknown as { first_party?: boolean; clientId: string };
        if (!client.first_party || !ctx.oidc.session?.accountId) return undefined;
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: ctx.oidc.session.accountId });
        const requested = ctx.oidc.requestParamScopes ?? new Set<string>();
        grant.addOIDCScope([...requested].filter((scope) => scope in OIDC_SCOPES).join(' '));
        for (const [indicator, resource] of Object.entries(ctx.oidc.resourceServers ?? {})) {
          grant.addResourceScope(indicator, (resource as { scope: string }).scope);
        }
        await grant.save();
        return grant;
      },
      interactions: {
        policy: policy(),
        url: (_ctx, interaction) => `${INTERACTION_PAGE}/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: false },
        claimsParameter: { enabled: true },
        // Introspection answers a confidential client about its own tokens only (anyone else: active false).
        // Tokens for resources are JWTs their resource servers verify alone.
        introspection: {
          enabled: true,
          allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
        },
        revocation: { enabled: true },
        userinfo: { enabled: true },
        clientCredentials: { enabled: true },
        pushedAuthorizationRequests: { enabled: true },
        dPoP: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          async logoutSource(ctx, form) {
            ctx.body = logoutPage(form, ctx.oidc.client?.clientName);
          },
          async postLogoutSuccessSource(ctx) {
            ctx.body = loggedOutPage(ctx.oidc.client?.clientName);
          },
        },
        // The device flow's pages are hosted pages (/oauth/device drawn by the front end from the data
        // in the shell): the code entry, the confirmation, and the end.
        deviceFlow: {
          enabled: true,
          async userCodeInputSource(ctx, form, _out, err) {
            const wrong = err && ((err as { userCode?: string }).userCode || err.name === 'NoCodeError');
            hostedPage(ctx, { step: 'input', xsrf: xsrfOf(form), error: err ? (wrong ? 'wrong_code' : 'failed') : null });
          },
          async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
            hostedPage(ctx, { step: 'confirm', xsrf: xsrfOf(form), client: client.clientName ?? client.clientId, user_code: userCode });
          },
          async successSource(ctx) {
            hostedPage(ctx, { step: 'done', client: ctx.oidc.client?.clientName ?? null });
          },
        },
        resourceIndicators: {
          enabled: true,
          // No resource asked for: an opaque access token for userinfo (oidc-provider's rule). Tessera's
          // own API is asked for like any other resource (resource=TOKEN_AUDIENCE).
          defaultResource: (_ctx, _client, oneOf) => oneOf,
          useGrantedResource: () => true,
          getResourceServerInfo: resourceServerInfo as never,
        },
      },
      rotateRefreshToken: true,
      // Refresh tokens are rotated on every use; a rotated one presented again revokes the grant (reuse detection).
      ttl: {
        AccessToken: deps.accessTokenTtlSeconds,
        ClientCredentials: deps.accessTokenTtlSeconds,
        AuthorizationCode: 60,
        IdToken: 3600,
        DeviceCode: 600,
        Interaction: 3600,
        Grant: deps.sessionMaxLifetimeSeconds,
        Session: deps.sessionMaxLifetimeSeconds,
        RefreshToken: deps.refreshIdleTimeoutSeconds,
      },
      enabledJWA: {
        idTokenSigningAlgValues: ['RS256', 'EdDSA'],
        userinfoSigningAlgValues: ['RS256', 'EdDSA'],
        introspectionSigningAlgValues: ['RS256', 'EdDSA'],
        authorizationSigningAlgValues: ['RS256', 'EdDSA'],
        requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        dPoPSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
      },
      clientDefaults: { id_token_signed_response_alg: 'RS256', grant_types: ['authorization_code'], response_types: ['code'] },
      async renderError(ctx, out) {
        ctx.type = 'html';
        ctx.body = errorPage(out);
      },
    };
  }

  function build(jwks: JWK[]): Provider {
    const provider = new Provider(deps.issuer, configuration(jwks));
    provider.proxy = true;
    issueAtHash(provider);
    // The current secret is in the client's metadata (compared in constant time, no second read); the
    // registry knows the previous one too, accepted until its overlap ends after a rotation.
    const { registry } = deps;
    Object.defineProperty(provider.Client.prototype, 'compareClientSecret', {
      value(this: { clientId: string; clientSecret?: string }, presented: string) {
        if (this.clientSecret && safeEqual(this.clientSecret, presented)) return true;
        return registry.verifyClientSecret(this.clientId, presented);
      },
    });
    // Security headers for the pages the provider draws; set before the route so form_post can add its script hash.
    provider.use(async (ctx, next) => {
      ctx.set('content-security-policy', VIEW_CSP);
      ctx.set('x-content-type-options', 'nosniff');
      ctx.set('referrer-policy', 'no-referrer');
      await next();
      // A login finished on the hosted page: the OIDC session now belongs to that Tessera session.
      const oidc = (ctx as Ctx).oidc;
      const sessionId = (oidc?.result as { tessera?: { sessionId?: string } } | undefined)?.tessera?.sessionId;
      if ((oidc?.route === 'resume' || oidc?.route === 'device_resume') && sessionId && oidc.session?.uid) {
        await links.upsert(oidc.session.uid, { sessionId }, deps.sessionMaxLifetimeSeconds);
      }
    });
    provider.on('server_error', (_ctx, error) => deps.logger.error({ err: error }, 'the OpenID provider failed on a request'));
    provider.on('backchannel.error', (_ctx, error, client) =>
      deps.logger.warn({ err: error, client_id: (client as { clientId?: string }).clientId }, 'a back-channel logout notification failed'),
    );
    // Tokens taken back (revocation endpoint, a reused code or refresh token, a revoked grant): audited, never the token.
    provider.on('grant.revoked', (ctx, grantId: string) => {
      const oidc = (ctx as Ctx).oidc;
      const clientId = oidc?.client?.clientId;
      void deps.db
        .transaction((tx) =>
          deps.audit.record(tx, {
            actor: clientId ? { type: 'system', display: `application ${clientId}` } : { type: 'system' },
            action: 'oidc.tokens_revoked',
            target: clientId ? { type: 'application', id: clientId } : null,
            reason: `${oidc?.route ?? 'unknown'}: grant ${grantId}`,
          }),
        )
        .catch((error: unknown) => deps.logger.error({ err: error }, 'could not audit a revoked OIDC grant'));
    });
    provider.on('end_session.success', (ctx) => {
      const uid = (ctx as Ctx).oidc.session?.uid;
      void tesseraSessionOf(uid)
        .then((sessionId) => (sessionId ? deps.endTesseraSession(sessionId) : undefined))
        .catch((error: unknown) => deps.logger.error({ err: error }, 'could not end the Tessera session of an OIDC logout'));
    });
    return provider;
  }

  let built: { version: string; provider: Provider; callback: ReturnType<Provider['callback']> } | undefined;
  async function currentBuild() {
    const { version, keys } = await deps.keys.providerKeys();
    if (built?.version !== version) {
      const provider = build(keys);
      built = { version, provider, callback: provider.callback() };
    }
    return built;
  }

  return {
    async current() {
      return (await currentBuild()).provider;
    },
    async handle(req, res) {
      const { callback } = await currentBuild();
      // oidc-provider builds its URLs from the request's host and scheme: make them PUBLIC_URL's, so no
      // Host or X-Forwarded-* header a client sends can change them (and secure cookies work behind TLS
      // termination).
      req.headers.host = issuer.host;
      req.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
      delete req.headers['x-forwarded-host'];
      await new Promise<void>((resolve) => {
        res.once('close', resolve);
        void callback(req, res);
      });
    },
    setGrantOrganization(grantId, orgId) {
      return grantOrgs.upsert(grantId, { grantId, orgId }, deps.sessionMaxLifetimeSeconds);
    },
  };
}
