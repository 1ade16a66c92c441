import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import type { KeyStore } from '../crypto/keys.js';
import { httpErrors } from './errors.js';
import type { HttpServer } from './server.js';

/** The JWT `typ` of access tokens (RFC 9068), so no other token Tessera signs passes as one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AuthContext {
  kind: 'user';
  userId: string;
  sessionId: string | null;
  claims: JWTPayload;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, set by the `authenticate` guard; null on public routes. */
    auth: AuthContext | null;
  }
}

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface Guards {
  /** Requires a valid bearer access token and sets `request.auth`. */
  authenticate: Guard;
  /** Requires a platform administrator (checked against the database, not only the token). */
  requirePlatformAdmin: Guard;
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1]! : null;
}

export function createGuards(
  server: HttpServer,
  deps: { keys: KeyStore; isPlatformAdmin(userId: string): Promise<boolean> },
): Guards {
  server.decorateRequest('auth', null);
  const authenticate: Guard = async (request) => {
    const token = bearerToken(request);
    if (!token) throw httpErrors.unauthorized('Send Authorization: Bearer <access token>', undefined, { 'www-authenticate': 'Bearer' });
    let claims: JWTPayload;
    try {
      claims = await deps.keys.verify(token, { type: ACCESS_TOKEN_TYPE });
    } catch {
      throw httpErrors.invalid_token('The access token is invalid or expired', undefined, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    if (!claims.sub) throw httpErrors.invalid_token('The access token has no subject');
    request.auth = { kind: 'user', userId: claims.sub, sessionId: typeof claims.sid === 'string' ? claims.sid : null, claims };
  };
  return {
    authenticate,
    async requirePlatformAdmin(request, reply) {
      if (!request.auth) await authenticate(request, reply);
      if (!(await deps.isPlatformAdmin(request.auth!.userId))) {
        throw httpErrors.forbidden('Only a platform administrator may do this');
      }
    },
  };
}
