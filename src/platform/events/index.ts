export { createAudit, createEvents, recordChange, type ActorDisplay, type Audit, type ChangeSinks, type AuditEntry, type DomainEvent, type Events, type RequestContext } from './events.js';
export { auditCheckpoints, auditEvents, outboxEvents } from './events.tables.js';
