import type { DbHandle } from '../db/database.js';
import { newId } from '../crypto/ids.js';
import { auditEvents, outboxEvents } from './events.tables.js';

export interface RequestContext {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface AuditEntry {
  actor: { type: 'user' | 'api_key' | 'system'; id?: string | null; display?: string | null };
  action: string;
  orgId?: string | null;
  target?: { type: string; id: string } | null;
  result?: 'success' | 'failure';
  reason?: string | null;
  context?: RequestContext;
  /** Fields that changed: `{ name: { before, after } }`. Secret-looking fields are dropped. */
  changes?: Record<string, { before?: unknown; after?: unknown }> | null;
}

export interface Audit {
  /** Writes the entry in the caller's transaction, so it exists exactly when the change does. */
  record(tx: DbHandle, entry: AuditEntry): Promise<string>;
}

export interface DomainEvent {
  type: string;
  orgId?: string | null;
  data: Record<string, unknown>;
}

export interface Events {
  /** Writes the event to the outbox in the caller's transaction; dispatchers read it after commit. */
  publish(tx: DbHandle, event: DomainEvent): Promise<string>;
}

const SECRET_FIELD = /(password|secret|token|hash|code|private|otp|key_material)/i;

function withoutSecrets(changes: AuditEntry['changes']): AuditEntry['changes'] {
  if (!changes) return null;
  // A dotted path (`otp.length`) is judged by its last part: the settings of one-time codes are no secret.
  return Object.fromEntries(Object.entries(changes).filter(([field]) => !SECRET_FIELD.test(field.split('.').pop()!)));
}

/**
 * Who an actor is, for the audit's `actor_display` when the caller did not say (a user's email, an
 * API key's name): given by the wiring, which knows the modules that own users and keys.
 */
export type ActorDisplay = (tx: DbHandle, actor: { type: 'user' | 'api_key'; id: string }) => Promise<string | null>;

async function displayOf(tx: DbHandle, actor: AuditEntry['actor'], lookup: ActorDisplay | undefined): Promise<string | null> {
  if (actor.display !== undefined && actor.display !== null) return actor.display;
  if (!actor.id || actor.type === 'system' || !lookup) return null;
  return lookup(tx, { type: actor.type, id: actor.id });
}

export function createAudit(options: { actorDisplay?: ActorDisplay } = {}): Audit {
  return {
    async record(tx, entry) {
      const id = newId('aud');
      const actorDisplay = await displayOf(tx, entry.actor, options.actorDisplay);
      await tx.orm.insert(auditEvents).values({
        id,
        orgId: entry.orgId ?? null,
        actorType: entry.actor.type,
        actorId: entry.actor.id ?? null,
        actorDisplay,
        action: entry.action,
        targetType: entry.target?.type ?? null,
        targetId: entry.target?.id ?? null,
        result: entry.result ?? 'success',
        reason: entry.reason ?? null,
        ip: entry.context?.ip ?? null,
        userAgent: entry.context?.userAgent ?? null,
        requestId: entry.context?.requestId ?? null,
        changes: withoutSecrets(entry.changes),
      });
      return id;
    },
  };
}

export function createEvents(): Events {
  return {
    async publish(tx, event) {
      const id = newId('evt');
      await tx.orm.insert(outboxEvents).values({ id, type: event.type, orgId: event.orgId ?? null, payload: event.data });
      return id;
    },
  };
}

/** Where a change is recorded: the audit log and the outbox. */
export interface ChangeSinks {
  audit: Audit;
  events: Events;
}

/**
 * Records a change in the caller's transaction: its audit entry and its outbox event, so both exist
 * exactly when the change does (ARCHITECTURE rule 7). The event's type defaults to the entry's
 * action and its organization to the entry's.
 */
export async function recordChange(
  tx: DbHandle,
  sinks: ChangeSinks,
  entry: AuditEntry,
  event: { type?: string; orgId?: string | null; data: Record<string, unknown> },
): Promise<{ auditId: string; eventId: string }> {
  const auditId = await sinks.audit.record(tx, entry);
  const eventId = await sinks.events.publish(tx, { type: event.type ?? entry.action, orgId: event.orgId === undefined ? (entry.orgId ?? null) : event.orgId, data: event.data });
  return { auditId, eventId };
}
