import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../../platform/db/database.js';
import type { Audit, AuditEntry } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import type { Jobs } from '../../platform/jobs/jobs.js';
import { createPoller, type Poller } from '../../platform/jobs/poller.js';
import { sealBatch, verifyChain, type Verification } from './audit.chain.js';
import { listAudit, lockChain, oldestSealed, purgeThrough, sealedThrough, type AuditFilter, type AuditRow, type RawAuditRow } from './audit.queries.js';

export type { AuditFilter, AuditRow } from './audit.queries.js';

export const RETENTION_QUEUE = 'audit.retention';

/** An entry as the API shows it. */
export interface AuditEntryBody {
  id: string;
  created_at: string;
  actor: { type: string; id: string | null; display: string | null };
  org_id: string | null;
  action: string;
  target: { type: string; id: string } | null;
  result: string;
  reason: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  changes: unknown;
  seq: number | null;
  hash: string | null;
}

export function entryBody(row: AuditRow): AuditEntryBody {
  return {
    id: row.id, created_at: row.createdAt.toISOString(), actor: { type: row.actorType, id: row.actorId, display: row.actorDisplay }, org_id: row.orgId, action: row.action,
    target: row.targetType && row.targetId ? { type: row.targetType, id: row.targetId } : null, result: row.result, reason: row.reason, ip: row.ip, user_agent: row.userAgent,
    request_id: row.requestId, changes: row.changes ?? null, seq: row.seq ?? null, hash: row.hash ?? null,
  };
}

const CSV_COLUMNS = ['id', 'created_at', 'org_id', 'actor_type', 'actor_id', 'actor_display', 'action', 'target_type', 'target_id', 'result', 'reason', 'ip', 'user_agent', 'request_id', 'changes', 'seq', 'hash'] as const;

/** One CSV field: quoted when needed, and a leading = + - @ neutralised (spreadsheet formula injection). */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(entry: AuditEntryBody): string {
  const flat: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    id: entry.id, created_at: entry.created_at, org_id: entry.org_id, actor_type: entry.actor.type, actor_id: entry.actor.id, actor_display: entry.actor.display,
    action: entry.action, target_type: entry.target?.type, target_id: entry.target?.id, result: entry.result, reason: entry.reason, ip: entry.ip,
    user_agent: entry.user_agent, request_id: entry.request_id, changes: entry.changes, seq: entry.seq, hash: entry.hash,
  };
  return `${CSV_COLUMNS.map((column) => csvField(flat[column])).join(',')}\r\n`;
}

export interface AuditService {
  /** Newest first (by id); `before` is the id of the last entry of the previous page. */
  list(filter: AuditFilter): Promise<AuditRow[]>;
  /**
   * Records that `actor` exported a selection (`audit.exported`), committed before the export
   * streams, so an export carries its own entry when the selection includes it.
   */
  recordExport(
    input: {
      actor: AuditEntry['actor'];
      format: 'csv' | 'jsonl';
      /** The organization whose entries were selected, if one was. */
      selectedOrgId: string | null;
      /** The organization whose log holds the entry (an export by its members); null for a platform admin's. */
      orgId: string | null;
    },
    client: ClientInfo,
  ): Promise<void>;
  /** The whole selection, newest first, as CSV (with a header) or JSON Lines, page by page. */
  export(filter: Omit<AuditFilter, 'limit' | 'before'>, format: 'csv' | 'jsonl'): AsyncIterable<string>;
  verify(): Promise<Verification>;
  /** Seals what is committed and unsealed (the sealer does this continuously; tests and the CLI call it). */
  sealPending(): Promise<number>;
  /** Exports then deletes sealed entries older than the retention; returns what it did. */
  purge(now?: Date): Promise<{ purged: number; file: string | null }>;
  /** The sealer loop (instances that run workers). */
  readonly sealer: Poller;
}

export function createAuditService(deps: {
  db: Database;
  jobs: Jobs;
  audit: Audit;
  settings: { retentionDays?: number; exportDir: string };
  onError?: (error: unknown) => void;
}): AuditService {
  const { db, jobs, audit, settings } = deps;

  async function sealPending(): Promise<number> {
    let total = 0;
    for (;;) {
      const sealed = await sealBatch(db);
      total += sealed;
      if (sealed < 500) return total;
    }
  }

  async function purge(now = new Date()): Promise<{ purged: number; file: string | null }> {
    if (!settings.retentionDays) return { purged: 0, file: null };
    const cutoff = new Date(now.getTime() - settings.retentionDays * 86_400_000);
    await sealPending();
    let purged = 0;
    let file: string | null = null;
    for (;;) {
      const done = await db.transaction(async (tx) => {
        await lockChain(tx);
        // Only a prefix of the chain can go, or a hole would break it: stop at the first entry still young.
        const rows = await oldestSealed(tx, 2000);
        const old = [];
        for (const row of rows) {
          if (new Date(row.created_at) >= cutoff) break;
          old.push(row);
        }
        if (old.length === 0) return true;
        await mkdir(settings.exportDir, { recursive: true });
        const last = old[old.length - 1]!;
        file ??= join(settings.exportDir, `audit-${now.toISOString().replace(/[:.]/g, '-')}.jsonl`);
        const handle = await open(file, 'a', 0o600);
        try {
          const full = await sealedThrough(tx, last.seq!);
          await handle.appendFile(full.map((row) => `${JSON.stringify(rawBody(row))}\n`).join(''));
          await handle.sync();
        } finally {
          await handle.close();
        }
        await purgeThrough(tx, { seq: last.seq!, hash: last.hash!, purgedCount: old.length, exportFile: file });
        purged += old.length;
        return old.length < rows.length || rows.length < 2000;
      });
      if (done) return { purged, file };
    }
  }

  // A daily job: one worker is plenty.
  jobs.define(RETENTION_QUEUE, async () => purge(), { retryLimit: 3, retryDelaySeconds: 300, concurrency: 1 });
  if (settings.retentionDays) jobs.schedule(RETENTION_QUEUE, '23 3 * * *');

  return {
    list: (filter) => listAudit(db, filter),
    async recordExport({ actor, format, selectedOrgId, orgId }, client) {
      await db.transaction((tx) =>
        audit.record(tx, {
          actor, ...(orgId ? { orgId } : {}), action: 'audit.exported', target: selectedOrgId ? { type: 'org', id: selectedOrgId } : null, context: client, changes: { format: { after: format } },
        }),
      );
    },
    async *export(filter, format) {
      if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
      let before: string | undefined;
      for (;;) {
        const rows = await listAudit(db, { ...filter, limit: 500, ...(before ? { before } : {}) });
        if (rows.length > 0) yield rows.map((row) => (format === 'csv' ? csvLine(entryBody(row)) : `${JSON.stringify(entryBody(row))}\n`)).join('');
        if (rows.length < 500) return;
        before = rows[rows.length - 1]!.id;
      }
    },
    verify: () => verifyChain(db),
    sealPending,
    purge,
    sealer: createPoller(() => sealBatch(db), { batch: 500, minMs: 500, maxMs: 4000, ...(deps.onError ? { onError: deps.onError } : {}) }),
  };
}

/** A purged entry as exported: the API's shape, from a raw row. */
function rawBody(row: RawAuditRow): Record<string, unknown> {
  return {
    id: row.id, created_at: new Date(row.created_at).toISOString(), actor: { type: row.actor_type, id: row.actor_id, display: row.actor_display }, org_id: row.org_id,
    action: row.action, target: row.target_type ? { type: row.target_type, id: row.target_id } : null, result: row.result, reason: row.reason, ip: row.ip,
    user_agent: row.user_agent, request_id: row.request_id, changes: row.changes, seq: Number(row.seq), prev_hash: row.prev_hash, hash: row.hash,
  };
}
