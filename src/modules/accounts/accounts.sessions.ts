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
  findRefreshToken, findRefreshTokenById, findSession, insertRefreshToken, insertSession, listLiveSessions, listRevokedSince, markReauthenticated, revokeSession,
  revokeUserSessions, setSessionOrg, spendRefreshToken, spentSince, touchSession, type SessionRow,
} from './accounts.sessions.queries.js';
import { deviceName } from './device.js';

export interface SessionSettings {
  accessTokenTtlSeconds: number;
  audience: string;
  refreshIdleTimeoutSeconds: number;
  sessionMaxLifetimeSeconds: number;
  /** Seconds after a rotation in which the client that spent a refresh token may present it again (0: never). */
  refreshReuseGraceSeconds: number;
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
   * Starts a session for the user (inside `options.tx` when given) and issues its first token pair.
   * `mustEnrol` (the `mfa_enroll` claim) is asked of the enrolment check when left out; a caller
   * passing its own tx asks first (`mustEnrol(user)`), because the check reads outside that tx and
   * PGlite's one connection would wait for the tx forever.
   */
  start(user: UserRow, input: { amr: string[]; client: ClientInfo; mustEnrol?: boolean }, options?: { tx?: DbHandle }): Promise<IssuedTokens>;
  /** Whether the user's new access tokens carry `mfa_enroll` (the enrolment check given at construction). Not inside a transaction. */
  mustEnrol(user: UserRow): Promise<boolean>;
  /**
   * Rotates a refresh token. A token presented twice revokes its whole session (theft detection),
   * except within the reuse grace: the same client presenting the latest spent token of the session
   * again gets a new pair of the same session (two tabs refreshing at once). `assertSession` runs
   * once the session is known, before anything changes (the CSRF check of cookie refreshes).
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
  /**
   * Ends every session of a user (except `exceptSessionId`); returns their ids. With `tx`, in the
   * caller's transaction: the caller then calls `announceRevoked(ids)` once it has committed, so the
   * access tokens of those sessions are refused at once (until then only their refresh tokens are).
   */
  revokeAll(userId: string, reason: string, options?: { client?: ClientInfo; exceptSessionId?: string | null; tx?: DbHandle }): Promise<string[]>;
  /** Puts sessions revoked in a caller's (committed) transaction on the revocation list. */
  announceRevoked(sessionIds: string[]): Promise<void>;
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

/**
 * "The same client" of the reuse grace: the IP address and User-Agent of the request, hashed. Two tabs
 * of one browser share both; a stolen token replayed from another machine or program differs in at
 * least one (an attacker on the same network with the same browser within seconds is the accepted
 * residue of a short grace). The session is the same by construction: the token belongs to it.
 */
function clientFingerprint(client: ClientInfo): string {
  return sha256(`${client.ip ?? ''}\n${client.userAgent ?? ''}`);
}

export function createSessionService(deps: {
  db: Database;
  cache: Cache;
  keys: KeyStore;
  audit: Audit;
  events: Events;
  csrfKey: Buffer;
  settings: SessionSettings;
  /**
   * The check behind the `mfa_enroll` claim (the MFA enrolment policy): access tokens of a user who
   * must enrol a second factor carry it, and the guard then allows only the enrolment endpoints.
   */
  enrollmentRequired: (user: UserRow) => Promise<boolean>;
  /**
   * The membership look-up behind organization tokens: the user's role in an organization, or null
   * when they are not a member (or there is no such organization).
   */
  roleIn: (userId: string, orgId: string) => Promise<string | null>;
  onRefreshReuse?: (session: SessionRow) => void;
}): SessionService {
  const { db, cache, keys, audit, events, settings, enrollmentRequired: mustEnrolFor, roleIn } = deps;
  const graceMs = settings.refreshReuseGraceSeconds * 1000;

  function csrfFor(sessionId: string): string {
    return createHmac('sha256', deps.csrfKey).update(sessionId).digest('base64url');
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

  /**
   * Whether a spent refresh token may be presented again: within the grace after it was spent, by the
   * client that spent it, and while it is the latest rotation of its session (a token spent after it
   * closes its grace: an old generation replayed is theft, whatever the clock says).
   */
  async function graceAllows(row: { sessionId: string; usedAt: Date | null; usedBy: string | null }, fingerprint: string, handle: DbHandle): Promise<boolean> {
    if (graceMs <= 0 || !row.usedAt || row.usedBy !== fingerprint) return false;
    if (Date.now() - row.usedAt.getTime() >= graceMs) return false;
    return !(await spentSince(handle, row.sessionId, row.usedAt));
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
    async start(user, input, options = {}) {
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
      return options.tx ? run(options.tx) : db.transaction(run);
    },

    async refresh(refreshToken, client, assertSession, options = {}) {
      if (!refreshToken.startsWith(REFRESH_PREFIX)) throw accountErrors.invalid_refresh_token();
      const row = await findRefreshToken(db, sha256(refreshToken));
      if (!row) throw accountErrors.invalid_refresh_token();
      assertSession?.(row.sessionId);
      const session = await findSession(db, row.sessionId);
      if (!session || session.revokedAt) throw accountErrors.invalid_refresh_token();
      const fingerprint = clientFingerprint(client);
      const reuse = async (): Promise<never> => {
        const withinGrace = graceMs > 0 && row.usedAt !== null && Date.now() - row.usedAt.getTime() < graceMs;
        const reason = withinGrace && row.usedBy !== fingerprint
          ? 'a rotated refresh token was presented again by another client within the reuse grace; the session was revoked'
          : 'a rotated refresh token was presented again; the session was revoked';
        await db.transaction(async (tx) => {
          await revokeSession(tx, session.id, 'refresh_token_reused');
          await audit.record(tx, {
            actor: { type: 'system' },
            action: 'session.refresh_token_reused',
            target: { type: 'session', id: session.id },
            result: 'failure',
            reason,
            context: client,
          });
          await events.publish(tx, { type: 'session.revoked', data: { id: session.id, user_id: session.userId, reason: 'refresh_token_reused' } });
        });
        await announceRevoked(session.id);
        deps.onRefreshReuse?.(session);
        throw accountErrors.refresh_token_reused();
      };
      // A spent token: a second tab of the same client within the grace, or a replay (theft).
      if (row.usedAt && !(await graceAllows(row, fingerprint, db))) return reuse();
      const now = Date.now();
      const idleEnd = session.lastSeenAt.getTime() + settings.refreshIdleTimeoutSeconds * 1000;
      if (now >= session.expiresAt.getTime() || now >= idleEnd) throw accountErrors.invalid_refresh_token('The session has expired; sign in again');
      const user = await findUserById(db, session.userId);
      if (!user) throw accountErrors.invalid_refresh_token();
      // Checked before anything is spent: a refused organization leaves the refresh token usable.
      const orgId = options.orgId === undefined ? session.orgId : options.orgId;
      const role = orgId ? await roleIn(user.id, orgId) : null;
      if (options.orgId && role === null) throw accountErrors.org_not_found('No such organization, or you are not a member of it');
      const org = orgId && role !== null ? { orgId, role } : null;
      const issued = await db.transaction(async (tx) => {
        // Atomic: of two concurrent rotations of one token exactly one spends it; the other is then
        // a reuse, within the grace when it comes from the same client (two tabs at once).
        if (!row.usedAt && !(await spendRefreshToken(tx, row.id, fingerprint))) {
          const spent = await findRefreshTokenById(tx, row.id);
          if (!spent || !(await graceAllows(spent, fingerprint, tx))) return null;
        }
        await touchSession(tx, session.id, client);
        if ((org?.orgId ?? null) !== session.orgId) await setSessionOrg(tx, session.id, org?.orgId ?? null);
        // Never the same token twice: a reuse within the grace gets a token of its own, single-use like every other.
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

    async revokeAll(userId, reason, options = {}) {
      const run = async (tx: DbHandle): Promise<string[]> => {
        const revoked = await revokeUserSessions(tx, userId, reason, options.exceptSessionId ?? undefined);
        for (const id of revoked) {
          await audit.record(tx, { actor: { type: 'user', id: userId }, action: 'session.revoked', target: { type: 'session', id }, reason, context: options.client ?? {} });
          await events.publish(tx, { type: 'session.revoked', data: { id, user_id: userId, reason } });
        }
        return revoked;
      };
      if (options.tx) return run(options.tx);
      const ids = await db.transaction(run);
      await service.announceRevoked(ids);
      return ids;
    },

    async announceRevoked(sessionIds) {
      await Promise.all(sessionIds.map((id) => announceRevoked(id)));
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
