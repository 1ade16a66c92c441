import { randomBytes, randomInt } from 'node:crypto';
import type { LightMyRequestResponse as Response } from 'fastify';
import { expect, inject } from 'vitest';
import type { Engine } from '../helpers/db.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { bearer } from '../helpers/http.js';
import { login, signUp, uniqueEmail, type UserBody } from '../helpers/outbox.js';

/*
 * Shared by the audit suites: an app per engine (PGlite + in-process cache, PostgreSQL + Redis),
 * calls from a client address and user agent of the test's choice, people and organizations made
 * through the API, and the audit log read through the platform admin's API (the shape the issue
 * names) or straight from the table.
 */

export const PASSWORD = 'correct horse battery staple';
export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
export type Role = 'owner' | 'admin' | 'member' | 'viewer';

export const { redisUrl } = inject('services');

/** Every engine this run has, with Redis beside PostgreSQL. */
export const runsOn = (engine: Engine, available: boolean): boolean => available && (engine === 'pglite' || !!redisUrl);

/** An entry as GET /v1/{orgs/{id},admin}/audit-logs answers it. */
export interface Entry {
  id: string;
  created_at: string;
  actor: { type: 'user' | 'api_key' | 'system'; id: string | null; display: string | null };
  org_id: string | null;
  action: string;
  target: { type: string; id: string } | null;
  result: 'success' | 'failure';
  reason: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  changes: Record<string, { before?: unknown; after?: unknown }> | null;
  seq: number | null;
  hash: string | null;
}

/** The fields of the issue's entry shape, every one present on every entry. */
export const ENTRY_FIELDS = ['id', 'created_at', 'actor', 'org_id', 'action', 'target', 'result', 'reason', 'ip', 'user_agent', 'request_id', 'changes'] as const;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Signed {
  email: string;
  user: UserBody;
  token: string;
  sessionId: string;
}

/** A private address per call unless one is given (tests pick theirs from 198.51.100.0/24, RFC 5737). */
export const randomIp = (): string => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

export async function appOn(engine: Engine, env: Record<string, string> = {}): Promise<TestApp> {
  return createEngineApp(engine, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...env });
}

export interface CallOptions {
  ip?: string;
  userAgent?: string;
  headers?: Record<string, string>;
}

export function harness(getApp: () => TestApp) {
  const app = () => getApp();

  const call = (method: Method, url: string, token: string | null, payload?: unknown, options: CallOptions = {}): Promise<Response> =>
    app().server.inject({
      method,
      url,
      remoteAddress: options.ip ?? randomIp(),
      headers: { 'user-agent': options.userAgent ?? 'audit-suite/1.0', ...options.headers, ...(token ? bearer(token) : {}) },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  const query = async <T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> => (await app().context.db.sql.query<T>(text, params)).rows;

  /** A new account, signed in once. */
  async function signedIn(label: string): Promise<Signed> {
    const email = uniqueEmail(label);
    const user = await signUp(app(), email, PASSWORD);
    const tokens = await login(app(), email, PASSWORD);
    return { email, user, token: tokens.access_token, sessionId: tokens.session_id };
  }

  async function createOrg(owner: Signed, name = `Audit ${randomBytes(4).toString('hex')}`): Promise<string> {
    const res = await call('POST', '/v1/orgs', owner.token, { name });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ id: string }>().id;
  }

  /** A new account added to the organization with this role (through the service: no invitation). */
  async function joined(orgId: string, role: Role | string, label: string = role): Promise<Signed> {
    const member = await signedIn(label);
    await app().context.orgs.addMember(orgId, member.user.id, role, { id: null }, { ip: null, userAgent: null });
    return member;
  }

  /** An API key of the organization with these scopes, made through the API by `by`. */
  async function apiKey(orgId: string, by: Signed, scopes: string[], name = `key ${randomBytes(3).toString('hex')}`): Promise<{ id: string; secret: string; name: string }> {
    const res = await call('POST', `/v1/orgs/${orgId}/api-keys`, by.token, { name, scopes });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json<{ id: string; secret: string }>();
    return { id: body.id, secret: body.secret, name };
  }

  let admin: { token: string; id: string; email: string } | undefined;
  let adminOf: TestApp | undefined;
  /** The platform admin of this app (made once). */
  async function platformAdmin(): Promise<{ token: string; id: string; email: string }> {
    if (admin && adminOf === app()) return admin;
    const email = uniqueEmail('platform-admin');
    const { user } = await app().context.admins.createPlatformAdmin({ email, password: PASSWORD });
    admin = { token: (await login(app(), email, PASSWORD)).access_token, id: user.id, email };
    adminOf = app();
    return admin;
  }

  /** Every page of a list route, in order. */
  async function allPages(url: string, token: string, options: CallOptions = {}): Promise<Entry[]> {
    const found: Entry[] = [];
    let cursor: string | null = null;
    for (;;) {
      const sep = url.includes('?') ? '&' : '?';
      const res = await call('GET', `${url}${sep}limit=200${cursor ? `&cursor=${cursor}` : ''}`, token, undefined, options);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json<Page<Entry>>();
      found.push(...page.data);
      if (!page.next_cursor) return found;
      cursor = page.next_cursor;
    }
  }

  /** Entries read by the platform admin, filtered with the API's own query string (`action=member.&target=…`). */
  async function entries(filter: Record<string, string>): Promise<Entry[]> {
    const { token } = await platformAdmin();
    return allPages(`/v1/admin/audit-logs?${new URLSearchParams(filter).toString()}`, token);
  }

  /** The one entry with this action on this target (fails when there is not exactly one). */
  async function one(action: string, target: string): Promise<Entry> {
    const found = (await entries({ target })).filter((entry) => entry.action === action);
    expect(found.map((entry) => entry.action), `exactly one ${action} on ${target}`).toEqual([action]);
    return found[0]!;
  }

  return { app, call, query, signedIn, createOrg, joined, apiKey, platformAdmin, allPages, entries, one };
}

/** Asserts the issue's entry shape: every field there, typed as it should be. */
export function expectShape(entry: Entry): void {
  for (const field of ENTRY_FIELDS) expect(entry, `field ${field}`).toHaveProperty(field);
  expect(entry.id).toMatch(/^aud_[0-9a-z]{26}$/);
  expect(new Date(entry.created_at).toISOString()).toBe(entry.created_at);
  expect(['user', 'api_key', 'system']).toContain(entry.actor.type);
  expect(Object.keys(entry.actor).sort()).toEqual(['display', 'id', 'type']);
  expect(['success', 'failure']).toContain(entry.result);
  if (entry.target) expect(Object.keys(entry.target).sort()).toEqual(['id', 'type']);
}

/** An RFC 4180 parser: quoted fields may hold commas, doubled quotes and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += ch;
    }
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export { uniqueEmail };
