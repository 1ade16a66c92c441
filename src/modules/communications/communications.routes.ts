import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';

import { CHANNELS, type Channel as ChannelName, type SettingsService, type SettingsVersion } from './communications.settings.js';
import { maskRecipient, type CommunicationsService, type LogRow, type SuppressionRow } from './communications.service.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('push'), Type.Literal('in_app')]);
/*
 * `T | null` as one type list, not Nullable(T) (a union with Type.Null()): the server validates with
 * coerceTypes, which lets the null branch of a union turn 0, '' and false into null, so a rate limit
 * of 0 would be stored as "no limit". With a type list a value of the right type is never coerced.
 */
const Limit = Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 });
const Fallback = Type.Unsafe<ChannelName | null>({ type: ['string', 'null'], enum: [...CHANNELS, null] });
const channelFields = {
  enabled: Type.Boolean(),
  rate_limit_per_recipient_per_hour: Type.Unsafe<number | null>({ ...Limit, description: 'Messages other than security messages one recipient may get per hour; null: no limit' }),
  security_rate_limit_per_purpose_per_hour: Type.Unsafe<number | null>({
    ...Limit, description: 'Security messages of one purpose (template) one recipient may get per hour, apart from any other traffic; null: no limit',
  }),
  rate_limit_per_minute: Type.Unsafe<number | null>({
    ...Limit, description: 'Messages per minute on the channel; security messages count towards it but are held only by a count of their own against the same number',
  }),
  fallback_channel: Fallback,
};
const otpFields = {
  length: Type.Integer({ minimum: 4, maximum: 10 }),
  expiry_minutes: Type.Integer({ minimum: 1, maximum: 60 }),
  max_attempts: Type.Integer({ minimum: 1, maximum: 20 }),
  resend_cooldown_seconds: Type.Integer({ minimum: 0, maximum: 3600 }),
};
const Settings = Type.Object({
  channels: Type.Object({ email: Type.Object(channelFields), sms: Type.Object(channelFields), push: Type.Object(channelFields), in_app: Type.Object(channelFields) }),
  otp: Type.Object(otpFields),
  version: Type.Integer(),
  updated_by: Nullable(Type.String()),
  updated_at: Nullable(Timestamp),
});
const ChannelPatch = Type.Optional(Type.Partial(Type.Object(channelFields), { additionalProperties: false, minProperties: 1 }));
const SettingsPatch = Type.Object(
  {
    channels: Type.Optional(Type.Object({ email: ChannelPatch, sms: ChannelPatch, push: ChannelPatch, in_app: ChannelPatch }, { additionalProperties: false, minProperties: 1 })),
    otp: Type.Optional(Type.Partial(Type.Object(otpFields), { additionalProperties: false, minProperties: 1 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
const LogEntry = Type.Object({
  id: Type.String(),
  channel: Type.String(),
  requested_channel: Nullable(Type.String()),
  template: Type.String(),
  category: Type.String(),
  recipient: Type.String({ description: 'Masked' }),
  user_id: Nullable(Type.String()),
  status: Type.String(),
  reason: Nullable(Type.String()),
  provider: Nullable(Type.String()),
  attempts: Type.Integer(),
  error: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const Suppression = Type.Object({ channel: Type.String(), recipient: Type.String(), reason: Type.String(), created_at: Timestamp });
/** A suppression list cursor: `channel:recipient` of the last entry of the previous page (its sort key, recipient then channel). */
const SuppressionCursor = Type.String({ pattern: '^(email|sms|push|in_app):.', maxLength: 330, description: 'next_cursor of the previous page' });
const suppressionCursor = (row: Pick<SuppressionRow, 'channel' | 'recipient'>): string => `${row.channel}:${row.recipient}`;
function parseSuppressionCursor(cursor: string): { channel: string; recipient: string } {
  const colon = cursor.indexOf(':');
  return { channel: cursor.slice(0, colon), recipient: cursor.slice(colon + 1) };
}

function settingsBody(value: SettingsVersion): Static<typeof Settings> {
  return { ...value.settings, version: value.version, updated_by: value.updatedBy, updated_at: value.version === 0 ? null : value.updatedAt.toISOString() };
}

function logBody(row: LogRow): Static<typeof LogEntry> {
  return {
    id: row.id, channel: row.channel, requested_channel: row.requestedChannel, template: row.template, category: row.category, recipient: maskRecipient(row.recipient),
    user_id: row.userId, status: row.status, reason: row.reason, provider: row.provider, attempts: row.attempts, error: row.error,
    created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString(),
  };
}

/** Platform-admin control over communications: channel settings, the delivery log, the suppression list. */
export function communicationRoutes(server: HttpServer, deps: { settings: SettingsService; communications: CommunicationsService; guards: Guards }): void {
  const { settings, communications, guards } = deps;
  const common = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;
  const security = [{ bearer: [] }];

  server.get(
    '/v1/admin/communications/settings',
    { ...common, schema: { tags: ['communications'], summary: 'Channel and OTP settings in force, with their version', security, response: { 200: Settings, ...problems(401, 403) } } },
    async () => settingsBody(await settings.current()),
  );

  server.patch(
    '/v1/admin/communications/settings',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Change any part of the settings (merged); a new version, audited, in force everywhere within a second',
        security,
        body: SettingsPatch,
        response: { 200: Settings, ...problems(400, 401, 403, 422) },
      },
    },
    // The route's type provider reads schemas with another TypeBox, which sees Type.Unsafe as unknown.
    async (request) => settingsBody(await settings.update(request.body as Static<typeof SettingsPatch>, { id: request.auth!.userId }, clientOf(request))),
  );

  server.get(
    '/v1/admin/communications/logs',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Every outgoing message and where it stands, newest first (recipients masked)',
        security,
        querystring: Type.Object(
          {
            channel: Type.Optional(Channel),
            status: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
            recipient: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: 'Exact address or number (case-insensitive)' })),
            template: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
            ...pageQuery({ cursor: Type.String({ pattern: '^com_[0-9a-z]{26}$' }) }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(LogEntry), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor, from, to, ...filters } = request.query;
      const filter = { ...filters, ...(typeof cursor === 'string' ? { before: cursor } : {}), ...(from ? { from: new Date(from) } : {}), ...(to ? { to: new Date(to) } : {}) };
      return paginate(limit, (take) => communications.logs({ ...filter, limit: take }), (row) => row.id, logBody);
    },
  );

  server.get(
    '/v1/admin/communications/suppressions',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Recipients that receive nothing on a channel (bounces, complaints, unsubscribes)',
        security,
        querystring: Type.Object({ channel: Type.Optional(Channel), ...pageQuery({ cursor: SuppressionCursor }) }, { additionalProperties: false }),
        response: { 200: Page(Suppression), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { channel, limit, cursor } = request.query;
      const after = typeof cursor === 'string' ? { after: parseSuppressionCursor(cursor) } : {};
      return paginate(
        limit,
        (take) => communications.suppressions({ ...(channel ? { channel } : {}), limit: take, ...after }),
        suppressionCursor,
        // An admin removes entries by address, so the list shows them in full.
        (row) => ({ channel: row.channel, recipient: row.recipient, reason: row.reason, created_at: row.createdAt.toISOString() }),
      );
    },
  );

  server.delete(
    '/v1/admin/communications/suppressions',
    {
      ...common,
      schema: {
        tags: ['communications'],
        summary: 'Take a recipient off the suppression list of a channel',
        security,
        querystring: Type.Object({ channel: Channel, recipient: Type.String({ minLength: 1, maxLength: 320 }) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await communications.unsuppress(request.query.channel, request.query.recipient, { id: request.auth!.userId }, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
