import { randomBytes, randomInt } from 'node:crypto';
import type { LightMyRequestResponse as Response } from 'fastify';
import { expect } from 'vitest';
import type { App } from '../../src/app/app.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { bearer } from './http.js';
import { login, signUp, uniqueEmail, type TokenBody, type UserBody } from './outbox.js';
import { waitFor } from './wait.js';

/*
 * The one test client of the API suites: calls through `app.server.inject` (from a client address
 * and user agent of the test's choice), people and organizations made through the API, raw reads of
 * the rows a call leaves behind, and the row types those reads return. Every suite builds it once
 * from its app: `const api = testClient(() => app)`.
 */

export const PASSWORD = 'correct horse battery staple';
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Role = 'owner' | 'admin' | 'member' | 'viewer';

export interface CallOptions {
  /** The client address (default: a fresh private one per call, so per-IP limits do not pile up). */
  ip?: string;
  userAgent?: string;
  headers?: Record<string, string>;
}

/** A person with an account, signed in once (a recent sign-in: step-up operations pass). */
export interface Signed {
  email: string;
  user: UserBody;
  /** Access token. */
  token: string;
  refreshToken: string;
  sessionId: string;
}

export interface OrgBody {
  id: string;
  slug: string;
  name: string;
  tier: string;
  role: Role;
  created_at: string;
  updated_at: string;
}

export interface Team {
  org: OrgBody;
  owner: Signed;
  admin: Signed;
  member: Signed;
  viewer: Signed;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** A row of audit_events, as the suites read it. */
export interface AuditRow {
  org_id: string | null;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  result: string;
  reason?: string | null;
  request_id: string | null;
  changes: Record<string, { before?: unknown; after?: unknown }> | null;
}

/** A row of the events outbox. */
export interface EventRow {
  type: string;
  org_id: string | null;
  payload: Record<string, unknown>;
}

/** A row of communication_logs. */
export interface LogRow {
  id: string;
  channel: string;
  requested_channel: string | null;
  template: string;
  category: string;
  recipient: string;
  user_id: string | null;
  locale: string | null;
  status: string;
  reason: string | null;
  provider: string | null;
  provider_message_id: string | null;
  attempts: number;
  error: string | null;
}

/** A whole row of communication_logs (`SELECT *`): a LogRow with its cost and timestamps. */
export interface LogEntry extends LogRow {
  cost: string | null;
  cost_currency: string | null;
  created_at: Date;
  updated_at: Date;
}

/** What a password sign-in answers when a second factor is due. */
export interface MfaChallenge {
  mfa_required: true;
  mfa_token: string;
  methods: string[];
}

/** A private address per call unless one is given (tests pick theirs from 198.51.100.0/24, RFC 5737). */
export const randomIp = (): string => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

export interface TestClient {
  call(method: Method, url: string, token: string | null, payload?: unknown, options?: CallOptions): Promise<Response>;
  query<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** A new verified account, signed in once with a password. */
  signedIn(label: string, options?: { name?: string; email?: string; userAgent?: string }): Promise<Signed>;
  /** An organization made through the API by `owner` (201 expected). */
  createOrg(owner: Signed, body?: { name?: string; slug?: string }): Promise<OrgBody>;
  /** A new account added to the organization with this role (through the service: no invitation). */
  joined(orgId: string, role: Role | string, label?: string, options?: { name?: string }): Promise<Signed>;
  /** An organization with an owner, an admin, a member and a viewer. */
  team(): Promise<Team>;
  /** An API key of the organization with these scopes, made through the API by `by`. */
  apiKey(orgId: string, by: Signed, scopes: string[], name?: string): Promise<{ id: string; secret: string; name: string }>;
  /** The platform admin of this app (made once per app). */
  platformAdmin(): Promise<{ token: string; id: string; email: string }>;
  /** Every page of a list route, in order. */
  allPages<T>(url: string, token: string, options?: CallOptions): Promise<T[]>;
  auditRows(where: { orgId?: string | null; action?: string; targetId?: string }): Promise<AuditRow[]>;
  eventRows(where: { orgId?: string | null; type?: string }): Promise<EventRow[]>;
  logRows(where: { recipient?: string; template?: string; userId?: string }): Promise<LogRow[]>;
  /**
   * A verified account written straight to the users table, with a session started by the session
   * service (`amr: ['pwd']`, a recent sign-in). No password (so no argon2 work) and no sign-up mail
   * queued ahead of the mail a test waits for: for suites that need many people and test no sign-in.
   */
  seeded(label: string, options?: { name?: string; email?: string }): Promise<Signed>;
  /** A new account (with PASSWORD unless told), not signed in: verified (as `signedIn`'s) unless `verified: false`. */
  signedUp(label: string, options?: { name?: string; email?: string; password?: string; verified?: boolean }): Promise<{ email: string; user: UserBody }>;
  /**
   * Another session of an existing account: a password sign-in that answers tokens (200 and no second
   * step expected), from the client `signedIn` uses (inject's 127.0.0.1) unless `ip` is given.
   */
  signIn(email: string, options?: { password?: string; userAgent?: string; ip?: string }): Promise<Signed>;
  /** The second step of a password sign-in of an account with a second factor (200 with `mfa_required` expected), from inject's 127.0.0.1 unless `ip` is given. */
  challenge(email: string, options?: { password?: string; userAgent?: string; ip?: string }): Promise<MfaChallenge>;
  /** The whole communication_logs row of a message (the id `mail.send` or `messenger.notify` answered). */
  logEntry(id: string): Promise<LogEntry | undefined>;
  /** Waits (up to `timeoutMs`, default 15 s) until a message's log row has one of these statuses, and answers it. */
  logWhen(id: string, statuses: readonly string[], timeoutMs?: number): Promise<LogEntry>;
}

export interface TestClientOptions {
  /**
   * How `joined` and `team` make their people: `'signed-up'` (the default: sign-up and a password
   * sign-in, as `signedIn`) or `'seeded'` (as `seeded`: no argon2, no sign-up mail).
   */
  accounts?: 'signed-up' | 'seeded';
}

/** A client of any app: a test app, or a second instance built with `buildApp` beside it. */
export function testClient(getApp: () => App, clientOptions: TestClientOptions = {}): TestClient {
  const app = getApp;

  const call: TestClient['call'] = (method, url, token, payload, options = {}) =>
    app().server.inject({
      method,
      url,
      remoteAddress: options.ip ?? randomIp(),
      headers: { 'user-agent': options.userAgent ?? 'tessera-tests/1.0', ...options.headers, ...(token ? bearer(token) : {}) },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  const query: TestClient['query'] = async (text, params = []) => (await app().context.db.sql.query(text, params)).rows as never;

  const signedIn: TestClient['signedIn'] = async (label, options = {}) => {
    const email = options.email ?? uniqueEmail(label);
    const user = await signUp(app(), email, PASSWORD, options.name);
    const tokens = await login(app(), email, PASSWORD, options.userAgent ? { 'user-agent': options.userAgent } : {});
    return { email, user: tokens.user ?? user, token: tokens.access_token, refreshToken: tokens.refresh_token, sessionId: tokens.session_id };
  };

  const createOrg: TestClient['createOrg'] = async (owner, body = {}) => {
    const res = await call('POST', '/v1/orgs', owner.token, { name: `Team ${randomBytes(4).toString('hex')}`, ...body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<OrgBody>();
  };

  const seeded: TestClient['seeded'] = async (label, options = {}) => {
    const [row] = await query<Omit<UserBody, 'created_at' | 'updated_at'> & { created_at: Date; updated_at: Date }>(
      'INSERT INTO users (id, email, email_verified, name) VALUES ($1, $2, true, $3) RETURNING id, email, email_verified, name, locale, timezone, created_at, updated_at',
      [newId('usr'), options.email ?? uniqueEmail(label), options.name ?? null],
    );
    const user: UserBody = { ...row!, created_at: row!.created_at.toISOString(), updated_at: row!.updated_at.toISOString() };
    const stored = (await app().context.accounts.getUser(user.id))!;
    const tokens = await app().context.sessions.start(stored, { amr: ['pwd'], client: { ip: null, userAgent: null } });
    return { email: user.email, user, token: tokens.accessToken, refreshToken: tokens.refreshToken, sessionId: tokens.session.id };
  };
  const person = (label: string, options: { name?: string }): Promise<Signed> => (clientOptions.accounts === 'seeded' ? seeded(label, options) : signedIn(label, options));

  const joined: TestClient['joined'] = async (orgId, role, label = role, joinedOptions = {}) => {
    const member = await person(label, joinedOptions);
    await app().context.orgs.addMember(orgId, member.user.id, role, { id: null }, { ip: null, userAgent: null });
    return member;
  };

  let admin: { token: string; id: string; email: string } | undefined;
  let adminOf: App | undefined;

  return {
    call,
    query,
    signedIn,
    createOrg,
    joined,
    async team() {
      const owner = await person('owner', {});
      const org = await createOrg(owner);
      const [adminMember, member, viewer] = [await joined(org.id, 'admin'), await joined(org.id, 'member'), await joined(org.id, 'viewer')];
      return { org, owner, admin: adminMember, member, viewer };
    },
    async apiKey(orgId, by, scopes, name = `key ${randomBytes(3).toString('hex')}`) {
      const res = await call('POST', `/v1/orgs/${orgId}/api-keys`, by.token, { name, scopes });
      expect(res.statusCode, res.body).toBe(201);
      const body = res.json<{ id: string; secret: string }>();
      return { id: body.id, secret: body.secret, name };
    },
    async platformAdmin() {
      if (admin && adminOf === app()) return admin;
      const email = uniqueEmail('platform-admin');
      const { user } = await app().context.admins.createPlatformAdmin({ email, password: PASSWORD });
      admin = { token: (await login(app(), email, PASSWORD)).access_token, id: user.id, email };
      adminOf = app();
      return admin;
    },
    async allPages<T>(url: string, token: string, options: CallOptions = {}): Promise<T[]> {
      const found: T[] = [];
      let cursor: string | null = null;
      for (;;) {
        const sep = url.includes('?') ? '&' : '?';
        const res = await call('GET', `${url}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token, undefined, options);
        expect(res.statusCode, res.body).toBe(200);
        const page = res.json<Page<T>>();
        found.push(...page.data);
        if (!page.next_cursor) return found;
        cursor = page.next_cursor;
      }
    },
    auditRows({ orgId, action, targetId }) {
      const conditions: string[] = [];
      const params: unknown[] = [];
      if (orgId !== undefined) conditions.push(orgId === null ? 'org_id IS NULL' : `org_id = $${params.push(orgId)}`);
      if (action) conditions.push(`action = $${params.push(action)}`);
      if (targetId) conditions.push(`target_id = $${params.push(targetId)}`);
      return query<AuditRow & Record<string, unknown>>(
        `SELECT org_id, actor_type, actor_id, action, target_type, target_id, result, reason, request_id, changes FROM audit_events${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at, id`,
        params,
      );
    },
    eventRows({ orgId, type }) {
      const conditions: string[] = [];
      const params: unknown[] = [];
      if (orgId !== undefined) conditions.push(orgId === null ? 'org_id IS NULL' : `org_id = $${params.push(orgId)}`);
      if (type) conditions.push(`type = $${params.push(type)}`);
      return query<EventRow & Record<string, unknown>>(
        `SELECT type, org_id, payload FROM events${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at, id`,
        params,
      );
    },
    logRows({ recipient, template, userId }) {
      const conditions: string[] = [];
      const params: unknown[] = [];
      if (recipient) conditions.push(`lower(recipient) = lower($${params.push(recipient)})`);
      if (template) conditions.push(`template = $${params.push(template)}`);
      if (userId) conditions.push(`user_id = $${params.push(userId)}`);
      return query<LogRow & Record<string, unknown>>(
        `SELECT id, channel, requested_channel, template, category, recipient, user_id, locale, status, reason, provider, provider_message_id, attempts, error FROM communication_logs${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY id`,
        params,
      );
    },
    seeded,
    async signedUp(label, options = {}) {
      const email = options.email ?? uniqueEmail(label);
      const user = await signUp(app(), email, options.password ?? PASSWORD, options.name, { verified: options.verified ?? true });
      return { email, user };
    },
    async signIn(email, options = {}) {
      const res = await passwordSignIn(app(), email, options);
      expect(res.statusCode, res.body).toBe(200);
      const tokens = res.json<TokenBody>();
      expect(tokens.access_token, `a second step instead of tokens: ${res.body}`).toEqual(expect.any(String));
      return { email, user: tokens.user, token: tokens.access_token, refreshToken: tokens.refresh_token, sessionId: tokens.session_id };
    },
    async challenge(email, options = {}) {
      const res = await passwordSignIn(app(), email, options);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<MfaChallenge>();
      expect(body.mfa_required, `tokens instead of a second step: ${res.body}`).toBe(true);
      return body;
    },
    async logEntry(id) {
      return (await query<LogEntry & Record<string, unknown>>('SELECT * FROM communication_logs WHERE id = $1', [id]))[0];
    },
    async logWhen(id, statuses, timeoutMs = 15_000) {
      return waitFor(async () => {
        const [row] = await query<LogEntry & Record<string, unknown>>('SELECT * FROM communication_logs WHERE id = $1', [id]);
        return row && statuses.includes(row.status) && row;
      }, timeoutMs, `log ${id} to be ${statuses.join(' or ')}`);
    },
  };
}

/** A password sign-in, as `signIn` and `challenge` send it (inject's own client address unless `ip` is given). */
function passwordSignIn(app: App, email: string, options: { password?: string; userAgent?: string; ip?: string }): Promise<Response> {
  return app.server.inject({
    method: 'POST',
    url: '/v1/auth/login',
    ...(options.ip ? { remoteAddress: options.ip } : {}),
    headers: options.userAgent ? { 'user-agent': options.userAgent } : {},
    payload: { email, password: options.password ?? PASSWORD },
  });
}

/** Rows cut down to these columns, to compare whole rows with `toEqual` (`columns(await api.auditRows({ orgId }), 'action', 'result')`). */
export function columns<T extends object, K extends keyof T>(rows: T[], ...keys: K[]): Pick<T, K>[] {
  return rows.map((row) => Object.fromEntries(keys.map((key) => [key, row[key]])) as Pick<T, K>);
}
