import { clientOf } from '../../platform/http/client.js';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, pageQuery, paginate, type PageBody } from '../../platform/http/pagination.js';

import { OrgId, type OrgGuard, type OrgRouteKey } from '../orgs/index.js';
import { entryBody, type AuditFilter, type AuditService } from './audit.service.js';

const Entry = Type.Object({
  id: Type.String(),
  created_at: Timestamp,
  actor: Type.Object({ type: Type.String({ description: 'user, api_key or system' }), id: Nullable(Type.String()), display: Nullable(Type.String({ description: "The actor's email or name at the time" })) }),
  org_id: Nullable(Type.String()),
  action: Type.String(),
  target: Nullable(Type.Object({ type: Type.String(), id: Type.String() })),
  result: Type.String(),
  reason: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  request_id: Nullable(Type.String()),
  changes: Type.Unknown({ description: 'Before and after of the fields that changed; secrets left out' }),
  seq: Nullable(Type.Integer({ description: 'Position in the hash chain (null for a moment after commit, until sealed)' })),
  hash: Nullable(Type.String()),
});

const filterFields = {
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "The actor's id" })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z_.]+$', description: 'Prefix: `member.` matches every member action' })),
  target: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: '`type:id`, or an id' })),
  result: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
};
const ListQuery = Type.Object({ ...filterFields, ...pageQuery({ cursor: Type.String({ pattern: '^aud_[0-9a-z]{26}$' }) }) }, { additionalProperties: false });
const AdminListQuery = Type.Object({ ...ListQuery.properties, org_id: Type.Optional(OrgId) }, { additionalProperties: false });
const ExportQuery = Type.Object({ ...filterFields, format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl')], { default: 'jsonl' }) }, { additionalProperties: false });
const AdminExportQuery = Type.Object({ ...ExportQuery.properties, org_id: Type.Optional(OrgId) }, { additionalProperties: false });
const EntryPage = Page(Entry);

type FilterQuery = Partial<Record<'actor' | 'action' | 'target' | 'ip' | 'from' | 'to' | 'org_id', string>> & { result?: 'success' | 'failure' };

function filterOf(query: FilterQuery): Omit<AuditFilter, 'limit'> {
  return {
    ...(query.org_id ? { orgId: query.org_id } : {}),
    ...(query.actor ? { actorId: query.actor } : {}),
    ...(query.action ? { action: query.action } : {}),
    ...(query.target ? { target: query.target } : {}),
    ...(query.result ? { result: query.result } : {}),
    ...(query.ip ? { ip: query.ip } : {}),
    ...(query.from ? { from: new Date(query.from) } : {}),
    ...(query.to ? { to: new Date(query.to) } : {}),
  };
}

/**
 * The audit log: an organization's entries for its members with audit:read, every entry for
 * platform admins, the chain verification. Exports are themselves audited (audit.exported, written
 * before the stream starts, so an export carries its own entry when the selection includes it).
 */
export function auditRoutes(server: HttpServer, deps: { service: AuditService; guards: Guards; orgGuard: (key: OrgRouteKey) => OrgGuard }): void {
  const { service, guards, orgGuard } = deps;
  const tags = ['audit'];
  const orgSecurity: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
  const adminCommon = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;

  const page = (filter: Omit<AuditFilter, 'limit'>, limit: number, cursor: unknown): Promise<PageBody<typeof Entry>> =>
    paginate(limit, (take) => service.list({ ...filter, limit: take, ...(typeof cursor === 'string' ? { before: cursor } : {}) }), (row) => row.id, entryBody);

  function stream(reply: FastifyReply, filter: Omit<AuditFilter, 'limit'>, format: 'csv' | 'jsonl'): FastifyReply {
    const name = `audit-${new Date().toISOString().slice(0, 10)}.${format}`;
    reply.header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="${name}"`);
    reply.header('cache-control', 'no-store');
    return reply.send(Readable.from(service.export(filter, format)));
  }

  server.get(
    '/v1/orgs/:org_id/audit-logs',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/audit-logs'),
      schema: { tags, summary: "The organization's audit log, newest first", security: orgSecurity, params: Type.Object({ org_id: OrgId }), querystring: ListQuery, response: { 200: EntryPage, ...problems(400, 401, 403, 404, 429) } },
    },
    async (request) => {
      const { limit, cursor, ...query } = request.query;
      return page({ ...filterOf(query), orgId: request.org!.orgId }, limit, cursor);
    },
  );

  server.get(
    '/v1/orgs/:org_id/audit-logs/export',
    {
      preValidation: orgGuard('GET /v1/orgs/:org_id/audit-logs/export'),
      schema: { tags, summary: 'The same selection, whole, as CSV or JSON Lines', security: orgSecurity, params: Type.Object({ org_id: OrgId }), querystring: ExportQuery, response: { ...problems(400, 401, 403, 404, 429) } },
    },
    async (request, reply) => {
      const { format, ...query } = request.query;
      const filter = { ...filterOf(query), orgId: request.org!.orgId };
      await service.recordExport({ actor: request.org!.actor, format, selectedOrgId: request.org!.orgId, orgId: request.org!.orgId }, clientOf(request));
      return stream(reply, filter, format);
    },
  );

  server.get(
    '/v1/admin/audit-logs',
    { ...adminCommon, schema: { tags, summary: 'Every audit entry (platform admins), newest first', security: [{ bearer: [] }], querystring: AdminListQuery, response: { 200: EntryPage, ...problems(400, 401, 403) } } },
    async (request) => {
      const { limit, cursor, ...query } = request.query;
      return page(filterOf(query), limit, cursor);
    },
  );

  server.get(
    '/v1/admin/audit-logs/export',
    { ...adminCommon, schema: { tags, summary: 'The same selection, whole, as CSV or JSON Lines (audited)', security: [{ bearer: [] }], querystring: AdminExportQuery, response: { ...problems(400, 401, 403) } } },
    async (request, reply) => {
      const { format, ...query } = request.query;
      await service.recordExport({ actor: { type: 'user', id: request.auth!.userId }, format, selectedOrgId: query.org_id ?? null, orgId: null }, clientOf(request));
      return stream(reply, filterOf(query), format);
    },
  );

  server.get(
    '/v1/admin/audit-logs/verify',
    {
      ...adminCommon,
      schema: {
        tags, summary: 'Walk the hash chain; the first entry where it breaks, or the last hash (keep it elsewhere to detect truncation)', security: [{ bearer: [] }],
        response: {
          200: Type.Object({
            ok: Type.Boolean(), checked: Type.Integer(), last_seq: Type.Optional(Nullable(Type.Integer())), last_hash: Type.Optional(Nullable(Type.String())), unsealed: Type.Optional(Type.Integer()),
            broken: Type.Optional(Type.Object({ id: Nullable(Type.String()), seq: Type.Integer(), reason: Type.String() })),
          }),
          ...problems(401, 403),
        },
      },
    },
    async () => {
      await service.sealPending();
      return service.verify();
    },
  );
}
