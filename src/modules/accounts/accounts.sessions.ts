import { createHmac } from 'node:crypto';
import type { Cache } from '../../platform/cache/cache.js';
import type { Database, DbHandle } from '../../platform/db/database.js';
import type { KeyStore } from '../../platform/crypto/keys.js';
import type { Audit, Events } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { newId } from '../../platform/crypto/ids.js';
import { randomToken, safeEqual, sha256 } from '../../platform/crypto/tokens.js';
import { ACCESS_TOKEN_TYPE } from '../../platform/http/auth.js';
import { accountErrors } from './accounts.errors.js';
import { findUserById, type UserRow } from './accounts.queries.js';
import {
  findRefreshToken, findSession, insertRefreshToken, insertSession, listLiveSessions, listRevokedSince, markReauthenticated, markRefreshTokenUsed, revokeSession, revokeUserSessions,
  setSessionOrg, touchSession, type SessionRow,
} from './accounts.sessions.queries.js';
import { deviceName } from './device.js';

export interface SessionSettings {
  accessTokenTtlSeconds: number;
  audience: string;
  refreshIdleTimeoutSeconds: number;
  sessionMaxLifetimeSeconds: number;
}

export type { ClientInfo };

export interface IssuedTokens {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  session: SessionRow;
  /** For cookie sessions: the double-submit CSRF token bound to this session. */
  csrfToken: string;
  user: UserRow;
}

export interface SessionService {
  /**
   * Starts a session for the user (inside tx when given) and issues its first token pair.
   * `mustEnrol` (the `mfa_enroll` claim) is asked of the enrolment check when left out; a caller
   * passing its own tx asks first (`mustEnrol(user)`), because the check reads outside that tx and
   * PGlite's one connection would wait for the tx forever.
   */
  start(user: UserRow, input: { amr: string[]; client: ClientInfo; mustEnrol?: boolean }, tx?: DbHandle): Promise<IssuedTokens>;
  /** Whether the user's new access tokens carry `mfa_enroll` (the installed enrolment check). Not inside a transaction. */
  mustEnrol(user: UserRow): Promise<boolean>;
  /**
   * Rotates a refresh token. A token presented twice revokes its whole session (theft detection).
   * `assertSession` runs once the session is known, before anything changes (the CSRF check of
   * cookie refreshes).
   */
  refresh(refreshToken: string, client: ClientInfo, assertSession?: (sessionId: string) => void, options?: RefreshOptions): Promise<IssuedTokens>;
  /** Ends one session everywhere at once: refresh tokens die, access tokens are refused from now on. */
  revoke(
    sessionId: string,
    reason: string,
    actor: { type: 'user' | 'system'; id?: string },
    client?: ClientInfo,
    options?: { action?: string; userId?: string },
  ): Promise<boolean>;
  /** Live sessions of a user: not revoked, not past their absolute or idle end. */
  list(userId: string): Promise<SessionRow[]>;
  /** Ends every session of a user (except one); returns how many. */
  revokeAll(userId: string, reason: string, client?: ClientInfo, exceptSessionId?: string): Promise<number>;
  /** Whether an access token's session was revoked: the cache's revocation list, or the database when the cache is down. */
  isRevoked(sessionId: string): Promise<boolean>;
  csrfMatches(sessionId: string, token: string): boolean;
  /**
   * Puts every session revoked within the access-token lifetime back on the revocation list: run at
   * start, so a restarted in-process cache or a flushed Redis does not forget a recent revocation.
   */
  restoreRevocations(): Promise<number>;
  /** When the session last proved its user (sign-in or step-up); null for an ended session. */
  authenticatedAt(sessionId: string): Promise<Date | null>;
  /** Records a step-up: the session proved its user just now. */
  markReauthenticated(sessionId: string): Promise<void>;
  /**
   * Installs the check behind the `mfa_enroll` claim: access tokens of a user who must enrol a
   * second factor carry it, and the guard then allows only the enrolment endpoints.
   */
  setEnrollmentCheck(check: (user: UserRow) => Promise<boolean>): void;
  /**
   * Installs the membership look-up behind organization tokens: the user's role in an organization,
   * or null when they are not a member (or there is no such organization).
   */
  setOrgResolver(resolve: (userId: string, orgId: string) => Promise<string | null>): void;
}

export interface RefreshOptions {
  /**
   * The organization the new tokens speak for (`org_id` and `org_role` claims), after a membership
   * check (404 org_not_found, the refresh token left unspent, when the user is not a member); null
   * leaves organizations; absent keeps the session's (dropped quietly once the membership ends).
   */
  orgId?: string | null;
}

const REFRESH_PREFIX = 'rt_';
const revokedKey = (sessionId: string): string => `revoked-session:${sessionId}`;

export function createSessionService(deps: {
  db: Database;
  cache: Cache;
  keys: KeyStore;
  audit: Audit;
  events: Events;
  csrfKey: Buffer;
  settings: SessionSettings;
  onRefreshReuse?: (session: SessionRow) => void;
}): SessionService {
  const { db, cache, keys, audit, events, settings } = deps;
  let enrollmentRequired: ((user: UserRow) => Promise<boolean>) | undefined;
  let roleIn: ((userId: string, orgId: string) => Promise<string | null>) | undefined;

  function csrfFor(sessionId: string): string {
    return createHmac('sha256', deps.csrfKey).update(sessionId).digest('base64url');
  }

  async function mustEnrolFor(user: UserRow): Promise<boolean> {
    return enrollmentRequired ? enrollmentRequired(user) : false;
  }

  async function accessToken(user: UserRow, session: SessionRow, known?: boolean, org?: { orgId: string; role: string } | null): Promise<string> {
    const mustEnrol = known ?? (await mustEnrolFor(user));
    return keys.sign(
      {
        sid: session.id, jti: randomToken(12), email_verified: user.emailVerified, amr: session.amr,
        ...(mustEnrol ? { mfa_enroll: true } : {}),
        ...(org ? { org_id: org.orgId, org_role: org.role } : {}),
      },
      { subject: user.id, audience: settings.audience, expiresInSeconds: settings.accessTokenTtlSeconds, type: ACCESS_TOKEN_TYPE },
    );
  }

  async function newRefreshToken(tx: DbHandle, sessionId: string): Promise<string> {
    const token = randomToken(32, REFRESH_PREFIX);
    await insertRefreshToken(tx, { id: newId('rtk'), sessionId, tokenHash: sha256(token) });
    return token;
  }

  /** Puts the session on the revocation list for as long as any of its access tokens may live. */
  async function announceRevoked(sessionId: string, ttlSeconds = settings.accessTokenTtlSeconds + 60): Promise<void> {
    try {
      await cache.set(revokedKey(sessionId), '1', { ttlSeconds });
    } catch {
      // isRevoked() falls back to the database while the cache is down.
    }
  }

  const service: SessionService = {
    async start(user, input, tx) {
      // Asked before the transaction: the check reads through `db`, which PGlite serves only after it.
      const mustEnrol = input.mustEnrol ?? (await mustEnrolFor(user));
      const now = Date.now();
      const run = async (handle: DbHandle): Promise<IssuedTokens> => {
        const session = await insertSession(handle, {
          id: newId('ses'),
          userId: user.id,
          expiresAt: new Date(now + settings.sessionMaxLifetimeSeconds * 1000),
          ip: input.client.ip,
          userAgent: input.client.userAgent,
          device: deviceName(input.client.userAgent),
          amr: input.amr,
          reauthenticatedAt: new Date(now),
        });
        const refreshToken = await newRefreshToken(handle, session.id);
        await events.publish(handle, { type: 'session.created', data: { id: session.id, user_id: user.id, device: session.device } });
        return { accessToken: await accessToken(user, session, mustEnrol), expiresIn: settings.accessTokenTtlSeconds, refreshToken, session, csrfToken: csrfFor(session.id), user };
      };
      return tx ? run(tx) : db.transaction(run);
    },

    async refresh(refreshToken, client, assertSession, options = {}) {
      if (!refreshToken.startsWith(REFRESH_PREFIX)) throw accountErrors.invalid_refresh_token();
      const row = await findRefreshToken(db, sha256(refreshToken));
      if (!row) throw accountErrors.invalid_refresh_token();
      assertSession?.(row.sessionId);
      const session = await findSession(db, row.sessionId);
      if (!session || session.revokedAt) throw accountErrors.invalid_refresh_token();
      const reuse = async (): Promise<never> => {
        await db.transaction(async (tx) => {
          await revokeSession(tx, session.id, 'refresh_token_reused');
          await audit.record(tx, {
            actor: { type: 'system' },
            action: 'session.refresh_token_reused',
            target: { type: 'session', id: session.id },
            result: 'failure',
            reason: 'a rotated refresh token was presented again; the session was revoked',
            context: client,
          });
          await events.publish(tx, { type: 'session.revoked', data: { id: session.id, user_id: session.userId, reason: 'refresh_token_reused' } });
        });
        await announceRevoked(session.id);
        deps.onRefreshReuse?.(session);
        throw accountErrors.refresh_token_reused();
      };
      if (row.usedAt) return reuse();
      const now = Date.now();
      const idleEnd = session.lastSeenAt.getTime() + settings.refreshIdleTimeoutSeconds * 1000;
      if (now >= session.expiresAt.getTime() || now >= idleEnd) throw accountErrors.invalid_refresh_token('The session has expired; sign in again');
      const user = await findUserById(db, session.userId);
      if (!user) throw accountErrors.invalid_refresh_token();
      // Checked before anything is spent: a refused organization leaves the refresh token usable.
      const orgId = options.orgId === undefined ? session.orgId : options.orgId;
      const role = orgId && roleIn ? await roleIn(user.id, orgId) : null;
      if (options.orgId && role === null) throw accountErrors.org_not_found('No such organization, or you are not a member of it');
      const org = orgId && role !== null ? { orgId, role } : null;
      const issued = await db.transaction(async (tx) => {
        // Atomic: of two concurrent rotations of one token, exactly one wins.
        if (!(await markRefreshTokenUsed(tx, row.id))) return null;
        await touchSession(tx, session.id, client);
        if ((org?.orgId ?? null) !== session.orgId) await setSessionOrg(tx, session.id, org?.orgId ?? null);
        return newRefreshToken(tx, session.id);
      });
      if (issued === null) return reuse();
      const current = { ...session, orgId: org?.orgId ?? null };
      return { accessToken: await accessToken(user, current, undefined, org), expiresIn: settings.accessTokenTtlSeconds, refreshToken: issued, session: current, csrfToken: csrfFor(session.id), user };
    },

    async revoke(sessionId, reason, actor, client, options = {}) {
      const revoked = await db.transaction(async (tx) => {
        const session = await findSession(tx, sessionId);
        // A user may end only their own sessions: someone else's answers as if it did not exist.
        if (!session || (options.userId && session.userId !== options.userId)) return false;
        if (!(await revokeSession(tx, sessionId, reason))) return false;
        await audit.record(tx, { actor, action: options.action ?? 'session.revoked', target: { type: 'session', id: sessionId }, reason, context: client ?? {} });
        await events.publish(tx, { type: 'session.revoked', data: { id: sessionId, user_id: session.userId, reason } });
        return true;
      });
      if (revoked) await announceRevoked(sessionId);
      return revoked;
    },

    async revokeAll(userId, reason, client, exceptSessionId) {
      const ids = await db.transaction(async (tx) => {
        const revoked = await revokeUserSessions(tx, userId, reason, exceptSessionId);
        for (const id of revoked) {
          await audit.record(tx, { actor: { type: 'user', id: userId }, action: 'session.revoked', target: { type: 'session', id }, reason, context: client ?? {} });
          await events.publish(tx, { type: 'session.revoked', data: { id, user_id: userId, reason } });
        }
        return revoked;
      });
      await Promise.all(ids.map((id) => announceRevoked(id)));
      return ids.length;
    },

    async list(userId) {
      const idleSince = Date.now() - settings.refreshIdleTimeoutSeconds * 1000;
      return (await listLiveSessions(db, userId)).filter((session) => session.lastSeenAt.getTime() > idleSince);
    },

    async isRevoked(sessionId) {
      try {
        return (await cache.get(revokedKey(sessionId))) !== null;
      } catch {
        const session = await findSession(db, sessionId);
        return !session || session.revokedAt !== null;
      }
    },

    async authenticatedAt(sessionId) {
      const session = await findSession(db, sessionId);
      return session && !session.revokedAt ? session.reauthenticatedAt : null;
    },

    markReauthenticated: (sessionId) => markReauthenticated(db, sessionId),

    mustEnrol: mustEnrolFor,

    setOrgResolver(resolve) {
      roleIn = resolve;
    },

    setEnrollmentCheck(check) {
      enrollmentRequired = check;
    },

    async restoreRevocations() {
      const window = (settings.accessTokenTtlSeconds + 60) * 1000;
      const now = Date.now();
      const recent = await listRevokedSince(db, new Date(now - window));
      await Promise.all(recent.map((row) => announceRevoked(row.id, Math.max(1, Math.ceil((row.revokedAt.getTime() + window - now) / 1000)))));
      return recent.length;
    },

    csrfMatches(sessionId, token) {
      return safeEqual(csrfFor(sessionId), token);
    },
  };
  return service;
}
