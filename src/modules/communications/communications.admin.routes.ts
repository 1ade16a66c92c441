import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems } from '../../platform/http/schemas.js';

import { DEFAULT_STATS_DAYS, MAX_STATS_DAYS, type DailyStats, type StatsService } from './communications.stats.js';
import type { TestSendService } from './communications.test-send.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('push'), Type.Literal('in_app')]);
const Count = Type.Integer({ minimum: 0 });

const StatsEntry = Type.Object({
  date: Type.String({ format: 'date', description: 'UTC day' }),
  channel: Type.String(),
  total: Type.Integer({ minimum: 0, description: 'Messages created that day (the sum of the counts that follow)' }),
  queued: Type.Integer({ minimum: 0, description: 'Still on their way: queued, sending or retrying' }),
  sent: Type.Integer({ minimum: 0, description: 'Accepted by the provider, no delivery report' }),
  delivered: Count,
  failed: Count,
  bounced: Count,
  complained: Count,
  blocked: Type.Integer({ minimum: 0, description: 'Stopped before sending: channel disabled, suppressed, opted out, rate limited' }),
  delivery_rate: Nullable(
    Type.Number({ minimum: 0, maximum: 1, description: '(sent + delivered + complained) / (sent + delivered + complained + bounced + failed); null when nothing was handed to a provider' }),
  ),
  cost: Nullable(Type.Object({ amount: Type.String({ description: 'Decimal' }), currency: Type.String() }, { description: 'What providers charged; null when not reported or in several currencies' })),
});

const statsBody = (row: DailyStats): Static<typeof StatsEntry> => ({
  date: row.date, channel: row.channel, total: row.total, queued: row.queued, sent: row.sent, delivered: row.delivered, failed: row.failed,
  bounced: row.bounced, complained: row.complained, blocked: row.blocked, delivery_rate: row.deliveryRate, cost: row.cost,
});

/** Platform-admin delivery statistics and test sends. */
export function communicationAdminRoutes(server: HttpServer, deps: { stats: StatsService; tests: TestSendService; guards: Guards }): void {
  const { stats, tests, guards } = deps;
  const common = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;
  const security = [{ bearer: [] }];

  server.get(
    '/v1/admin/communications/stats',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Delivery statistics per UTC day and channel',
        description:
          `Every day from \`from\` to \`to\` (inclusive, UTC; default the last ${DEFAULT_STATS_DAYS} days, at most ${MAX_STATS_DAYS} days) for every channel ` +
          '(or the one asked for), zeros included. A message counts on the day it was created, under the channel that carried it, by its status now.',
        security,
        querystring: Type.Object(
          {
            from: Type.Optional(Type.String({ format: 'date', description: 'First day, YYYY-MM-DD (UTC)' })),
            to: Type.Optional(Type.String({ format: 'date', description: 'Last day, YYYY-MM-DD (UTC), inclusive' })),
            channel: Type.Optional(Channel),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(StatsEntry) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => ({ data: (await stats.daily(request.query)).map(statsBody) }),
  );

  server.post(
    '/v1/admin/communications/test',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Send a test message through the real path',
        description:
          '`to` is an email address (email), an E.164 number (sms) or a user id (push, in_app). Sent as a security message: preferences do not stop it. ' +
          'On a disabled channel it goes by the fallback when one is enabled and reaches the recipient (the log names it); otherwise 422 `channel_disabled`, ' +
          'with `message_id`, its log entry (blocked_channel_disabled with the reason). Answers the id of its log entry.',
        security,
        body: Type.Object({ channel: Channel, to: Type.String({ minLength: 1, maxLength: 320 }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ message_id: Type.String() }), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const id = await tests.send(request.body, { id: request.auth!.userId }, clientOf(request));
      return reply.code(202).send({ message_id: id });
    },
  );
}
