import { and, desc, eq, gte, like, lt, lte, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { auditEvents } from '../../platform/events/index.js';

export type AuditRow = typeof auditEvents.$inferSelect;

export interface AuditFilter {
  /** Forced by the organization route; optional for platform admins. */
  orgId?: string;
  actorId?: string;
  /** Prefix: `member.` matches member.added, member.removed… */
  action?: string;
  /** `type:id`, or an id alone. */
  target?: string;
  result?: 'success' | 'failure';
  ip?: string;
  from?: Date;
  to?: Date;
  /** The id of the last entry of the previous page. */
  before?: string;
  limit: number;
}

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (ch) => `\\${ch}`);

function conditions(filter: AuditFilter): (SQL | undefined)[] {
  const target = filter.target?.includes(':') ? filter.target.split(':', 2) : null;
  return [
    filter.orgId ? eq(auditEvents.orgId, filter.orgId) : undefined,
    filter.actorId ? eq(auditEvents.actorId, filter.actorId) : undefined,
    filter.action ? like(auditEvents.action, `${escapeLike(filter.action)}%`) : undefined,
    target ? and(eq(auditEvents.targetType, target[0]!), eq(auditEvents.targetId, target[1]!)) : filter.target ? eq(auditEvents.targetId, filter.target) : undefined,
    filter.result ? eq(auditEvents.result, filter.result) : undefined,
    filter.ip ? eq(auditEvents.ip, filter.ip) : undefined,
    filter.from ? gte(auditEvents.createdAt, filter.from) : undefined,
    filter.to ? lte(auditEvents.createdAt, filter.to) : undefined,
    filter.before ? lt(auditEvents.id, filter.before) : undefined,
  ];
}

/** Newest first (ids are time-ordered). */
export async function listAudit(db: DbHandle, filter: AuditFilter): Promise<AuditRow[]> {
  return db.orm.select().from(auditEvents).where(and(...conditions(filter))).orderBy(desc(auditEvents.id)).limit(filter.limit);
}
