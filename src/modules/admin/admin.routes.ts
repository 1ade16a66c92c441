import { Type } from '@sinclair/typebox';
import { clientOf } from '../../platform/http/client.js';
import type { Guards } from '../../platform/http/auth.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import type { HttpServer } from '../../platform/http/server.js';

import { OrgId, TIERS, TierLimitsSchema, type OrgsService, type Tiers } from '../orgs/index.js';
import type { AdminOutboxService } from './admin.service.js';

const OutboxMessage = Type.Object({
  id: Type.String(),
  template: Type.String(),
  from: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  html: Nullable(Type.String()),
  created_at: Timestamp,
});

const AdminOrg = Type.Object({
  id: Type.String(), slug: Type.String(), name: Type.String(), tier: Type.String(), limits: TierLimitsSchema, created_at: Timestamp, updated_at: Timestamp,
});

const MessageId = Type.String({ pattern: '^msg_[0-9a-z]{26}$' });

/** Platform-admin routes that belong to no other module: an organization's tier, and the development outbox. */
export function adminRoutes(server: HttpServer, deps: { guards: Guards; orgs: OrgsService; tiers: Tiers; outbox: AdminOutboxService }): void {
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
        response: { 200: AdminOrg, ...problems(400, 401, 403, 404) },
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
        summary: 'Mail kept by the development outbox (no SMTP_URL), newest first (the cursor is the last message id of a page)',
        security: [{ bearer: [] }],
        querystring: Type.Object(pageQuery({ cursor: MessageId }), { additionalProperties: false }),
        response: { 200: Page(OutboxMessage), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query as { limit: number; cursor?: string };
      return paginate(
        limit,
        (take) => deps.outbox.list({ limit: take, ...(cursor ? { before: cursor } : {}) }),
        (row) => row.id,
        (row) => ({ id: row.id, template: row.template, from: row.from, to: row.to, subject: row.subject, text: row.text, html: row.html, created_at: row.createdAt.toISOString() }),
      );
    },
  );
}
