import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * The audit log: append-only (a trigger refuses UPDATE and DELETE, see the migration
 * `audit_append_only`). Written in the same transaction as the change it records.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: text('id').primaryKey(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    orgId: text('org_id'),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    actorDisplay: text('actor_display'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    result: text('result').notNull().default('success'),
    reason: text('reason'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    changes: jsonb('changes'),
    /**
     * The hash chain, set by the sealer shortly after commit (the trigger allows exactly that
     * one update): position in the chain, the previous entry's hash, and
     * sha256(prev_hash | the entry's content).
     */
    seq: bigint('seq', { mode: 'number' }),
    prevHash: text('prev_hash'),
    hash: text('hash'),
  },
  (t) => [
    index('audit_events_org_created_idx').on(t.orgId, t.createdAt),
    index('audit_events_created_idx').on(t.createdAt),
    uniqueIndex('audit_events_seq_key').on(t.seq),
    index('audit_events_unsealed_idx').on(t.createdAt).where(sql`seq IS NULL`),
    index('audit_events_org_id_idx').on(t.orgId, t.id),
  ],
);

/**
 * Where the chain continues after a retention purge: the last purged entry's position and hash,
 * so the first remaining entry still verifies.
 */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  hash: text('hash').notNull(),
  purgedCount: integer('purged_count').notNull(),
  /** The file the purged entries were exported to. */
  exportFile: text('export_file'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The transactional outbox: every domain event is written here in the transaction of the change
 * that caused it; dispatchers (webhooks, notifications) read it after commit.
 */
export const outboxEvents = pgTable(
  'events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    orgId: text('org_id'),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
  },
  (t) => [index('events_undispatched_idx').on(t.createdAt).where(sql`dispatched_at is null`)],
);

