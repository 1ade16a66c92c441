import { clientOf } from '../../platform/http/client.js';
import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import type { Database } from '../../platform/db/database.js';
import { listOutbox } from '../../platform/mail/index.js';
import { Timestamp } from '../../platform/http/schemas.js';

import { OrgId, TIERS, TierLimitsSchema, type OrgsService, type Tiers } from '../orgs/index.js';

const OutboxMessage = Type.Object({
  id: Type.String(),
  template: Type.String(),
  from: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  html: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
});

const Problem = Type.Object({ type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String(), code: Type.String() }, { additionalProperties: true });

const AdminOrg = Type.Object({
  id: Type.String(), slug: Type.String(), name: Type.String(), tier: Type.String(), limits: TierLimitsSchema, created_at: Timestamp, updated_at: Timestamp,
});

export function adminRoutes(server: HttpServer, deps: { db: Database; guards: Guards; orgs: OrgsService; tiers: Tiers }): void {
  server.patch(
    '/v1/admin/orgs/:org_id',
    {
      config: { rateLimit: 'admin' },
      preValidation: deps.guards.requirePlatformAdmin,
      schema: {
        tags: ['admin'],
        summary: "Change an organization's tier (platform admins)",
        security: [{ bearer: [] }],
        params: Type.Object({ org_id: OrgId }),
        body: Type.Object({ tier: Type.Union(TIERS.map((tier) => Type.Literal(tier))) }, { additionalProperties: false }),
        response: { 200: AdminOrg, 400: Problem, 401: Problem, 403: Problem, 404: Problem },
      },
    },
    async (request) => {
      const org = await deps.orgs.setTier(request.params.org_id, request.body.tier, { id: request.auth!.userId }, clientOf(request));
      return {
        id: org.id, slug: org.slug, name: org.name, tier: org.tier, limits: deps.tiers.limitsFor(org.tier),
        created_at: org.createdAt.toISOString(), updated_at: org.updatedAt.toISOString(),
      };
    },
  );

  server.get(
    '/v1/admin/outbox',
    {
      config: { rateLimit: 'admin' },
      // preValidation: an anonymous caller learns nothing about the schema, only that it must sign in.
      preValidation: deps.guards.requirePlatformAdmin,
      schema: {
        tags: ['admin'],
        summary: 'Mail kept by the development outbox (no SMTP_URL), newest first',
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }), cursor: Type.Optional(Type.String({ pattern: '^msg_[0-9a-z]{26}$' })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ data: Type.Array(OutboxMessage), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          401: Problem,
          403: Problem,
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await listOutbox(deps.db, { limit: limit + 1, ...(cursor ? { before: cursor } : {}) });
      const page = rows.slice(0, limit);
      return {
        data: page.map((row) => ({ ...row, created_at: row.createdAt.toISOString() })),
        next_cursor: rows.length > limit ? page[page.length - 1]!.id : null,
      };
    },
  );
}
