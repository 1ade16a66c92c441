export { createAuditService, entryBody, RETENTION_QUEUE, type AuditService } from './audit.service.js';
export { auditRoutes } from './audit.routes.js';
export { verifyChain, sealBatch, entryHash, GENESIS_HASH, type Verification } from './audit.chain.js';
