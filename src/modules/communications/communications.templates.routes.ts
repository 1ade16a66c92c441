import { clientOf } from '../../platform/http/client.js';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { Nullable, problems, Timestamp } from '../../platform/http/schemas.js';
import { Page, pageQuery, paginate } from '../../platform/http/pagination.js';
import { MESSAGE_CATEGORIES } from '../../platform/mail/index.js';

import { systemCategory } from './communications.templates.defaults.js';
import type { TemplateDetail, TemplateRow, TemplateService } from './communications.templates.service.js';

/** Size limits of a template's parts (characters). */
export const TEMPLATE_LIMITS = { subject: 1_000, html: 100_000, text: 100_000, variables: 100 } as const;

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('push'), Type.Literal('in_app')]);
const Category = Type.Union(MESSAGE_CATEGORIES.map((category) => Type.Literal(category)));
const Name = Type.String({ pattern: '^[a-z][a-z0-9_.]{1,99}$', description: 'Dotted lower-case name, e.g. `accounts.verify_email`' });
const Locale = Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$', description: '`en`, `es`, `es-MX`…' });
const TemplateId = Type.String({ minLength: 1, maxLength: 64 });
/** A list cursor: `name:channel:locale` of the last template of the previous page (the list's sort key). */
const TemplateCursor = Type.String({ pattern: '^[a-z][a-z0-9_.]{1,99}:(email|sms|push|in_app):[a-z]{2}(-[A-Z]{2})?$', description: 'next_cursor of the previous page' });
const templateCursor = (row: Pick<TemplateRow, 'name' | 'channel' | 'locale'>): string => `${row.name}:${row.channel}:${row.locale}`;
function parseTemplateCursor(cursor: string): { name: string; channel: string; locale: string } {
  const [name, channel, locale] = cursor.split(':') as [string, string, string];
  return { name, channel, locale };
}
const Variables = Type.Array(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,63}$' }), {
  maxItems: TEMPLATE_LIMITS.variables,
  description: 'The variables the template may use (besides product_name, public_url, unsubscribe_url)',
});
const contentFields = {
  subject: Type.Optional(Nullable(Type.String({ maxLength: TEMPLATE_LIMITS.subject, description: 'Email subject; title of push and in-app notifications; none for SMS' }))),
  html: Type.Optional(Nullable(Type.String({ maxLength: TEMPLATE_LIMITS.html, description: 'Email only: the body inside the house layout (escaped output only)' }))),
  text: Type.String({ minLength: 1, maxLength: TEMPLATE_LIMITS.text, description: 'Plain-text body; the SMS text; the body of push and in-app notifications' }),
  variables: Variables,
};
const NewTemplateBody = Type.Object(
  {
    name: Name,
    channel: Channel,
    locale: Locale,
    category: Type.Optional(Category),
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    ...contentFields,
  },
  { additionalProperties: false },
);
const VersionBody = Type.Object(
  { ...contentFields, activate: Type.Optional(Type.Boolean({ default: false, description: 'Make the new version the active one at once (default: no; see preview and activate)' })) },
  { additionalProperties: false },
);
const Summary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channel: Type.String(),
  locale: Type.String(),
  category: Type.String(),
  description: Nullable(Type.String()),
  active_version: Type.Integer(),
  system: Type.Boolean({ description: 'A template the platform sends by itself (seeded)' }),
  created_at: Timestamp,
  updated_at: Timestamp,
});
const Detail = Type.Object({
  ...Summary.properties,
  content: Type.Object({
    version: Type.Integer(),
    active: Type.Boolean(),
    subject: Nullable(Type.String()),
    html: Nullable(Type.String()),
    text: Type.String(),
    variables: Type.Array(Type.String()),
    created_by: Nullable(Type.String()),
    created_at: Timestamp,
  }),
  versions: Type.Array(Type.Object({ version: Type.Integer(), active: Type.Boolean(), created_by: Nullable(Type.String()), created_at: Timestamp })),
});
const PreviewBody = Type.Object(
  {
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { default: {}, description: 'Values of the declared variables' })),
    locale: Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$', description: "Language of the house layout (default: the template's)" })),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'Default: the active version' })),
  },
  { additionalProperties: false },
);
const Rendered = Type.Object({
  version: Type.Integer(),
  locale: Type.String(),
  subject: Nullable(Type.String()),
  html: Nullable(Type.String({ description: 'The whole mail in the house layout (email templates)' })),
  text: Type.String(),
  sms: Type.String({ description: 'The text as the SMS channel carries it (at most 1,600 characters)' }),
});

function summary(row: TemplateRow): Static<typeof Summary> {
  return {
    id: row.id, name: row.name, channel: row.channel, locale: row.locale, category: row.category, description: row.description, active_version: row.activeVersion,
    system: systemCategory(row.name) !== undefined, created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString(),
  };
}

function detailBody({ template, version, versions }: TemplateDetail): Static<typeof Detail> {
  return {
    ...summary(template),
    content: {
      version: version.version, active: version.version === template.activeVersion, subject: version.subject, html: version.html, text: version.text, variables: version.variables,
      created_by: version.createdBy, created_at: version.createdAt.toISOString(),
    },
    versions: versions.map((item) => ({ version: item.version, active: item.version === template.activeVersion, created_by: item.createdBy, created_at: item.createdAt.toISOString() })),
  };
}

/** Platform-admin management of message templates: list, create, new versions, preview, activate (rollback). */
export function templateRoutes(server: HttpServer, deps: { templates: TemplateService; guards: Guards }): void {
  const { templates, guards } = deps;
  const common = { config: { rateLimit: 'admin' }, preValidation: guards.requirePlatformAdmin } as const;
  const security = [{ bearer: [] }];
  const tags = ['communications'];
  const IdParams = Type.Object({ id: TemplateId });

  server.get(
    '/v1/admin/communications/templates',
    {
      ...common,
      schema: {
        tags, summary: 'Message templates by name, channel and locale', security,
        querystring: Type.Object(
          {
            name: Type.Optional(Name), channel: Type.Optional(Channel), locale: Type.Optional(Locale),
            ...pageQuery({ cursor: TemplateCursor }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Summary), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.query;
      const after = typeof cursor === 'string' ? { after: parseTemplateCursor(cursor) } : {};
      return paginate(limit, (take) => templates.list({ ...filters, ...after, limit: take }), templateCursor, summary);
    },
  );

  server.post(
    '/v1/admin/communications/templates',
    {
      ...common,
      schema: {
        tags, summary: 'A new template (version 1, active); 409 when one exists for the name, channel and locale', security,
        body: NewTemplateBody,
        response: { 201: Detail, ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const { subject, html, description, ...rest } = request.body;
      const created = await templates.create({ ...rest, subject: subject ?? null, html: html ?? null, description: description ?? null }, { id: request.auth!.userId }, clientOf(request));
      return reply.code(201).send(detailBody(created));
    },
  );

  server.get(
    '/v1/admin/communications/templates/:id',
    {
      ...common,
      schema: {
        tags, summary: 'A template with its versions and the content of the active one (or of `?version=`)', security,
        params: IdParams,
        querystring: Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
        response: { 200: Detail, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => detailBody(await templates.get(request.params.id, request.query.version)),
  );

  server.put(
    '/v1/admin/communications/templates/:id',
    {
      ...common,
      schema: {
        tags, summary: 'Save a new version of a template; it becomes active only with `activate: true` (else preview it, then activate it)', security,
        params: IdParams,
        body: VersionBody,
        response: { 200: Detail, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { subject, html, ...rest } = request.body;
      return detailBody(await templates.update(request.params.id, { ...rest, subject: subject ?? null, html: html ?? null }, { id: request.auth!.userId }, clientOf(request)));
    },
  );

  server.post(
    '/v1/admin/communications/templates/:id/preview',
    {
      ...common,
      schema: {
        tags, summary: 'Render a version (default: the active one) with sample data: subject, html (escaped), text and the SMS text', security,
        params: IdParams,
        body: PreviewBody,
        response: { 200: Rendered, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { data, locale, version } = request.body;
      return templates.preview(request.params.id, { data: data ?? {}, ...(locale ? { locale } : {}), ...(version ? { version } : {}) });
    },
  );

  server.post(
    '/v1/admin/communications/templates/:id/activate',
    {
      ...common,
      schema: {
        tags, summary: 'Make a version the active one (rollback = activate an older one); in force everywhere within a second', security,
        params: IdParams,
        body: Type.Object({ version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        response: { 200: Detail, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => detailBody(await templates.activate(request.params.id, request.body.version, { id: request.auth!.userId }, clientOf(request))),
  );
}
