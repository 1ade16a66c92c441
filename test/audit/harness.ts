import { expect, inject } from 'vitest';
import type { Engine } from '../helpers/db.js';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type TestClient } from '../helpers/client.js';

/*
 * Shared by the audit suites: an app per engine (PGlite + in-process cache, PostgreSQL + Redis),
 * the shared test client (calls from a client address and user agent of the test's choice, people
 * and organizations made through the API), and the audit log read through the platform admin's API
 * (the shape the issue names).
 */

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

/** The fields of the entry shape, every one present on every entry. */
export const ENTRY_FIELDS = ['id', 'created_at', 'actor', 'org_id', 'action', 'target', 'result', 'reason', 'ip', 'user_agent', 'request_id', 'changes'] as const;

export async function appOn(engine: Engine, env: Record<string, string> = {}): Promise<TestApp> {
  return createEngineApp(engine, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...env });
}

export interface AuditHarness extends TestClient {
  /** Entries read by the platform admin, filtered with the API's own query string (`action=member.&target=…`). */
  entries(filter: Record<string, string>): Promise<Entry[]>;
  /** The one entry with this action on this target (fails when there is not exactly one). */
  one(action: string, target: string): Promise<Entry>;
}

/** The shared test client, plus the audit log as the platform admin reads it. */
export function harness(getApp: () => TestApp): AuditHarness {
  const api = testClient(getApp);

  async function entries(filter: Record<string, string>): Promise<Entry[]> {
    const { token } = await api.platformAdmin();
    return api.allPages<Entry>(`/v1/admin/audit-logs?${new URLSearchParams(filter).toString()}`, token);
  }

  async function one(action: string, target: string): Promise<Entry> {
    const found = (await entries({ target })).filter((entry) => entry.action === action);
    expect(found.map((entry) => entry.action), `exactly one ${action} on ${target}`).toEqual([action]);
    return found[0]!;
  }

  return { ...api, entries, one };
}

/** Asserts the entry shape: every field there, typed as it should be. */
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
