export { createAudit, createEvents, type Audit, type AuditEntry, type DomainEvent, type Events, type RequestContext } from './events.js';
export { auditCheckpoints, auditEvents, outboxEvents } from './events.tables.js';
