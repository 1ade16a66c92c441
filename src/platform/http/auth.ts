import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import type { KeyStore } from '../crypto/keys.js';
import { safeEqual } from '../crypto/tokens.js';
import { httpErrors } from './errors.js';
import type { HttpServer } from './server.js';

/** The JWT `typ` of access tokens (RFC 9068), so no other token Tessera signs passes as one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Cookies of browser sessions (`use_cookie: true`). */
export const COOKIES = {
  access: 'tessera_access',
  refresh: 'tessera_refresh',
  csrf: 'tessera_csrf',
} as const;
export const CSRF_HEADER = 'x-csrf-token';

export interface AuthContext {
  kind: 'user';
  userId: string;
  sessionId: string | null;
  /** How the credential came: a bearer header, or the session cookie (then CSRF applies). */
  via: 'bearer' | 'cookie';
  claims: JWTPayload;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable by a user who must enrol a second factor and has not (the enrolment endpoints). */
    duringMfaEnrollment?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling, set by the `authenticate` guard; null on public routes. */
    auth: AuthContext | null;
  }
}

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface Guards {
  /** Requires a valid access token (bearer header or session cookie + CSRF) and sets `request.auth`. */
  authenticate: Guard;
  /** Requires a platform administrator (checked against the database, not only the token). */
  requirePlatformAdmin: Guard;
  /**
   * Step-up: after `authenticate`, requires that the session proved its user recently (sign-in or
   * POST /v1/auth/reauthenticate within the last 5 minutes); else 403 reauthentication_required.
   */
  requireRecentAuth: Guard;
  /** For cookie-authenticated state changes outside `authenticate` (refresh, logout by cookie). */
  assertCsrf(request: FastifyRequest, sessionId: string): void;
}

/** How long a sign-in or step-up counts as recent for sensitive operations. */
export const RECENT_AUTH_SECONDS = 300;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1]! : null;
}

export function createGuards(
  server: HttpServer,
  deps: {
    keys: KeyStore;
    audience: string;
    isPlatformAdmin(userId: string): Promise<boolean>;
    isSessionRevoked(sessionId: string): Promise<boolean>;
    csrfMatches(sessionId: string, token: string): boolean;
    /** When the session last proved its user (sign-in or step-up), or null. */
    authenticatedAt(sessionId: string): Promise<Date | null>;
    /** Asked only for tokens carrying `mfa_enroll`: whether the user still has to enrol. */
    stillMustEnrol(userId: string): Promise<boolean>;
  },
): Guards {
  server.decorateRequest('auth', null);
  const invalid = (detail = 'The access token is invalid or expired') =>
    httpErrors.invalid_token(detail, undefined, { 'www-authenticate': 'Bearer error="invalid_token"' });

  function assertCsrf(request: FastifyRequest, sessionId: string): void {
    const header = request.headers[CSRF_HEADER];
    const cookie = request.cookies[COOKIES.csrf];
    // Double submit, signed: the header must equal the cookie, and both be this session's token.
    if (typeof header !== 'string' || !cookie || !safeEqual(header, cookie) || !deps.csrfMatches(sessionId, header)) {
      throw httpErrors.csrf_failed(`Send this session's CSRF token (the ${COOKIES.csrf} cookie) in the ${CSRF_HEADER} header`);
    }
  }

  const authenticate: Guard = async (request) => {
    const bearer = bearerToken(request);
    const token = bearer ?? request.cookies[COOKIES.access] ?? null;
    if (!token) throw httpErrors.unauthorized('Send Authorization: Bearer <access token>', undefined, { 'www-authenticate': 'Bearer' });
    if (token.startsWith('tsk_')) throw invalid('API keys work on organization routes only (/v1/orgs/{org_id}/… and /v1/org)');
    let claims: JWTPayload;
    try {
      claims = await deps.keys.verify(token, { type: ACCESS_TOKEN_TYPE, audience: deps.audience });
    } catch {
      throw invalid();
    }
    if (!claims.sub || typeof claims.sid !== 'string') throw invalid('The access token lacks its subject or session');
    if (await deps.isSessionRevoked(claims.sid)) throw invalid('The session of this access token has ended');
    const via = bearer ? 'bearer' : 'cookie';
    if (via === 'cookie' && !SAFE_METHODS.has(request.method)) assertCsrf(request, claims.sid);
    // The token says so when it was issued; the user may have enrolled since, so ask again.
    if (claims.mfa_enroll === true && !request.routeOptions.config?.duringMfaEnrollment && (await deps.stillMustEnrol(claims.sub))) {
      throw httpErrors.mfa_enrollment_required('Enrol a second factor (POST /v1/me/mfa/totp or POST /v1/me/passkeys/options) before anything else');
    }
    request.auth = { kind: 'user', userId: claims.sub, sessionId: claims.sid, via, claims };
  };

  return {
    authenticate,
    assertCsrf,
    async requireRecentAuth(request, reply) {
      if (!request.auth) await authenticate(request, reply);
      const sessionId = request.auth!.sessionId;
      const at = sessionId ? await deps.authenticatedAt(sessionId) : null;
      if (!at || Date.now() - at.getTime() > RECENT_AUTH_SECONDS * 1000) {
        throw httpErrors.reauthentication_required(
          `Confirm who you are first: POST /v1/auth/reauthenticate (valid ${RECENT_AUTH_SECONDS / 60} minutes)`,
        );
      }
    },
    async requirePlatformAdmin(request, reply) {
      if (!request.auth) await authenticate(request, reply);
      if (!(await deps.isPlatformAdmin(request.auth!.userId))) {
        throw httpErrors.forbidden('Only a platform administrator may do this');
      }
    },
  };
}
