import type { ClientInfo } from '../../platform/http/client.js';
import type { Database } from '../../platform/db/database.js';
import type { Audit, AuditEntry } from '../../platform/events/index.js';
import { newId } from '../../platform/crypto/ids.js';
import type { MessageCategory, TemplateContext } from '../../platform/mail/index.js';

import type { Renderer } from './communications.messenger.js';
import type { Channel } from './communications.settings.js';
import { DEFAULT_TEMPLATES, systemCategory, systemVariables } from './communications.templates.defaults.js';
import {
  assertValidTemplate, compileTemplate, renderTemplate, type CompiledTemplate, type TemplateContent,
} from './communications.templates.js';
import { templateErrors } from './communications.errors.js';
import {
  findActiveByName, findCategoryOfName, findTemplate, findVersion, insertTemplate, insertTemplatesIfAbsent, insertVersions, latestVersion,
  listCategories, listTemplates, listVersions, lockTemplateSeed, setActiveVersion, systemTemplateState, touchTemplate,
  type ActiveTemplate, type NewVersionRow, type TemplateFilter, type TemplateRow, type VersionRow, type VersionSummary,
} from './communications.templates.queries.js';

export type { TemplateFilter, TemplateRow } from './communications.templates.queries.js';

/*
 * Templates in the database: one per (name, channel, locale), its content in numbered versions, one
 * of them active. System templates are seeded at start (never over an admin's versions); admins add
 * templates and versions, preview them, and activate one (rollback = activate an older one).
 * Rendering reads the active versions of a name at most once a second per instance, so an
 * activation is in force everywhere within a second (at once on the instance that made it).
 */

export interface TemplateInput {
  subject: string | null;
  html: string | null;
  text: string;
  variables: string[];
}

export interface NewTemplate extends TemplateInput {
  name: string;
  channel: Channel;
  locale: string;
  /** Required for a new name; for a known name it must be the name's category (default). */
  category?: MessageCategory;
  description?: string | null;
}

export interface TemplateDetail {
  template: TemplateRow;
  /** The version shown (the active one unless asked for another). */
  version: VersionRow;
  versions: VersionSummary[];
}

export interface Preview {
  version: number;
  locale: string;
  subject: string | null;
  html: string | null;
  text: string;
  /** The text as the SMS channel would carry it (at most 1,600 characters). */
  sms: string;
}

export interface TemplateService extends Renderer {
  /** Inserts the system templates that are missing (idempotent; safe when instances start at once). */
  seed(): Promise<void>;
  list(filter: TemplateFilter): Promise<TemplateRow[]>;
  get(id: string, version?: number): Promise<TemplateDetail>;
  /** A new template, version 1 active; 409 when (name, channel, locale) exists. `actor` null: the system (tests, seeding). */
  create(input: NewTemplate, actor?: { id: string } | null, client?: ClientInfo): Promise<TemplateDetail>;
  /** A new version; active only with `activate`. */
  update(id: string, input: TemplateInput & { activate?: boolean }, actor: { id: string } | null, client?: ClientInfo): Promise<TemplateDetail>;
  activate(id: string, version: number, actor: { id: string } | null, client?: ClientInfo): Promise<TemplateDetail>;
  preview(id: string, input: { data: Record<string, unknown>; locale?: string; version?: number }): Promise<Preview>;
}

export interface TemplateServiceDeps {
  db: Database;
  audit: Audit;
  context: TemplateContext;
  now?: () => number;
  /** A background refresh of the template categories failed (logged; the old ones stay in use). */
  onError?: (error: unknown) => void;
}

/** How long an instance trusts its copy of a name's active versions: the bound on "in force everywhere". */
const FRESH_MS = 1000;
const MAX_CACHED = 1000;

/** 'es-MX' → ['es-MX', 'es', 'en']. */
function localeChain(locale: string | null): string[] {
  const chain = [locale, locale?.split('-')[0], 'en'].filter((item): item is string => Boolean(item));
  return [...new Set(chain)];
}

const sameContent = (a: TemplateContent, b: TemplateContent): boolean =>
  a.subject === b.subject && a.html === b.html && a.text === b.text && JSON.stringify(a.variables) === JSON.stringify(b.variables);

export function createTemplateService(deps: TemplateServiceDeps): TemplateService {
  const { db, audit, context } = deps;
  const now = deps.now ?? Date.now;
  const active = new Map<string, { rows: ActiveTemplate[]; at: number }>();
  const loading = new Map<string, Promise<ActiveTemplate[]>>();
  const compiled = new Map<string, CompiledTemplate>();
  const categories = new Map<string, MessageCategory>();
  let categoriesAt = 0;
  let refreshing: Promise<void> | null = null;

  function compiledOf(row: { id: string; version: number; channel: string } & TemplateContent): CompiledTemplate {
    const key = `${row.id}:${row.version}`;
    let found = compiled.get(key);
    if (!found) {
      if (compiled.size >= MAX_CACHED) compiled.clear();
      found = compileTemplate(row.channel as Channel, { subject: row.subject, html: row.html, text: row.text, variables: row.variables });
      compiled.set(key, found);
    }
    return found;
  }

  async function activeOf(name: string): Promise<ActiveTemplate[]> {
    const cached = active.get(name);
    if (cached && now() - cached.at < FRESH_MS) return cached.rows;
    let pending = loading.get(name);
    if (!pending) {
      pending = findActiveByName(db, name)
        .then((rows) => {
          if (active.size >= MAX_CACHED) active.clear();
          active.set(name, { rows, at: now() });
          if (rows[0]) categories.set(name, rows[0].category as MessageCategory);
          return rows;
        })
        .finally(() => loading.delete(name));
      loading.set(name, pending);
    }
    return pending;
  }

  async function refreshCategories(): Promise<void> {
    const rows = await listCategories(db);
    for (const row of rows) categories.set(row.name, row.category as MessageCategory);
    categoriesAt = now();
  }

  function auditEntry(action: string, template: TemplateRow, actor: { id: string } | null, client: ClientInfo | undefined, changes: AuditEntry['changes']): AuditEntry {
    return {
      actor: actor ? { type: 'user', id: actor.id } : { type: 'system' },
      action,
      target: { type: 'communication_template', id: template.id },
      ...(client ? { context: client } : {}),
      changes,
    };
  }

  /** 422 unless the content checks, and (system names) declares only what the system sends. */
  function assertContent(name: string, channel: Channel, content: TemplateContent): void {
    assertValidTemplate(channel, content);
    const sent = systemVariables(name);
    if (!sent) return;
    const errors = content.variables.flatMap((variable, i) =>
      sent.includes(variable) ? [] : [{ path: `body.variables.${i}`, message: `"${variable}" is not sent with ${name} messages (they carry: ${sent.join(', ') || 'nothing'})` }],
    );
    if (errors.length > 0) throw templateErrors.invalid_template(errors[0]!.message, { errors });
  }

  async function detail(id: string, version?: number): Promise<TemplateDetail> {
    const template = await findTemplate(db, id);
    if (!template) throw templateErrors.template_not_found();
    const shown = await findVersion(db, id, version ?? template.activeVersion);
    if (!shown) throw templateErrors.template_version_not_found(`${template.name} has no version ${version}`);
    return { template, version: shown, versions: await listVersions(db, id) };
  }

  /** Forget the cached active versions of a name: in force at once on this instance. */
  function changed(template: TemplateRow): void {
    active.delete(template.name);
    categories.set(template.name, template.category as MessageCategory);
  }

  return {
    categoryOf(name) {
      if (now() - categoriesAt >= FRESH_MS && !refreshing) {
        // Templates created on another instance are learnt here within a second or so.
        refreshing = refreshCategories()
          .catch((error: unknown) => deps.onError?.(error))
          .finally(() => {
            refreshing = null;
          });
      }
      return systemCategory(name) ?? categories.get(name);
    },

    async render({ template, channel, locale, data, unsubscribeUrl }) {
      const rows = await activeOf(template);
      if (rows.length === 0) return null;
      const chain = localeChain(locale);
      const pick = (wanted: string): ActiveTemplate | undefined => {
        for (const candidate of chain) {
          const found = rows.find((row) => row.channel === wanted && row.locale === candidate);
          if (found) return found;
        }
        return undefined;
      };
      // A channel without its own version carries the email version's subject and text.
      const chosen = pick(channel) ?? (channel === 'email' ? undefined : pick('email'));
      if (!chosen) return null;
      return renderTemplate(compiledOf(chosen), { channel, locale: chosen.locale, category: chosen.category as MessageCategory, data, unsubscribeUrl, context });
    },

    async seed() {
      await db.transaction(async (tx) => {
        await lockTemplateSeed(tx);
        const inserted = await insertTemplatesIfAbsent(
          tx,
          DEFAULT_TEMPLATES.map((item) => ({
            id: newId('tpl'), name: item.name, channel: item.channel, locale: item.locale, category: item.category, description: item.description, activeVersion: 1,
          })),
        );
        const key = (row: { name: string; channel: string; locale: string }): string => `${row.name}\u0000${row.channel}\u0000${row.locale}`;
        const defaults = new Map(DEFAULT_TEMPLATES.map((item) => [key(item), item]));
        const versionOf = (templateId: string, version: number, item: TemplateContent): NewVersionRow => ({
          templateId, version, subject: item.subject, html: item.html, text: item.text, variables: item.variables, createdBy: null,
        });
        await insertVersions(tx, inserted.map((row) => versionOf(row.id, 1, defaults.get(key(row))!)));
        // A system template no admin has touched follows the defaults of this release: when they
        // changed, a new (system) version is added and activated. An admin's versions are never replaced.
        const fresh = new Set(inserted.map((row) => row.id));
        const names = [...new Set(DEFAULT_TEMPLATES.map((item) => item.name))];
        for (const state of await systemTemplateState(tx, names)) {
          const item = defaults.get(key(state));
          if (!item || fresh.has(state.id) || state.touched || state.activeVersion !== state.latest.version || sameContent(state.latest, item)) continue;
          await insertVersions(tx, [versionOf(state.id, state.latest.version + 1, item)]);
          await setActiveVersion(tx, state.id, state.latest.version + 1);
        }
      });
      active.clear();
      await refreshCategories();
    },

    list: (filter) => listTemplates(db, filter),

    get: (id, version) => detail(id, version),

    async create(input, actor = null, client) {
      const content: TemplateContent = { subject: input.subject, html: input.html, text: input.text, variables: input.variables };
      const existing = systemCategory(input.name) ?? ((await findCategoryOfName(db, input.name)) as MessageCategory | null);
      const category = input.category ?? existing;
      if (!category) {
        throw templateErrors.invalid_template('a new template name needs a category', { errors: [{ path: 'body.category', message: 'required for a new template name' }] });
      }
      if (existing && category !== existing) {
        throw templateErrors.invalid_template(`the ${input.name} templates are in the ${existing} category`, {
          errors: [{ path: 'body.category', message: `must be ${existing}, the category of the other ${input.name} templates` }],
        });
      }
      assertContent(input.name, input.channel, content);
      const template = await db.transaction(async (tx) => {
        const row = await insertTemplate(tx, {
          id: newId('tpl'), name: input.name, channel: input.channel, locale: input.locale, category, description: input.description ?? null, activeVersion: 1,
        });
        if (!row) throw templateErrors.template_exists(`a ${input.channel} template ${input.name} in ${input.locale} exists already`);
        await insertVersions(tx, [{ templateId: row.id, version: 1, ...content, createdBy: actor?.id ?? null }]);
        await audit.record(
          tx,
          auditEntry('communications.template_created', row, actor, client, {
            name: { after: row.name }, channel: { after: row.channel }, locale: { after: row.locale }, category: { after: row.category }, active_version: { after: 1 },
          }),
        );
        return row;
      });
      changed(template);
      return detail(template.id);
    },

    async update(id, input, actor, client) {
      const content: TemplateContent = { subject: input.subject, html: input.html, text: input.text, variables: input.variables };
      const found = await findTemplate(db, id);
      if (!found) throw templateErrors.template_not_found();
      assertContent(found.name, found.channel as Channel, content);
      const { template, version } = await db.transaction(async (tx) => {
        // The row lock orders concurrent saves: versions are consecutive.
        const locked = await findTemplate(tx, id, { forUpdate: true });
        if (!locked) throw templateErrors.template_not_found();
        const next = (await latestVersion(tx, id)) + 1;
        await insertVersions(tx, [{ templateId: id, version: next, ...content, createdBy: actor?.id ?? null }]);
        const row = input.activate ? await setActiveVersion(tx, id, next) : await touchTemplate(tx, id);
        await audit.record(
          tx,
          auditEntry('communications.template_updated', row, actor, client, {
            version: { after: next }, ...(input.activate ? { active_version: { before: locked.activeVersion, after: next } } : {}),
          }),
        );
        return { template: row, version: next };
      });
      changed(template);
      return detail(id, version);
    },

    async activate(id, version, actor, client) {
      const template = await db.transaction(async (tx) => {
        const locked = await findTemplate(tx, id, { forUpdate: true });
        if (!locked) throw templateErrors.template_not_found();
        if (!(await findVersion(tx, id, version))) throw templateErrors.template_version_not_found(`${locked.name} has no version ${version}`);
        if (locked.activeVersion === version) return locked;
        const row = await setActiveVersion(tx, id, version);
        await audit.record(tx, auditEntry('communications.template_activated', row, actor, client, { active_version: { before: locked.activeVersion, after: version } }));
        return row;
      });
      changed(template);
      return detail(id);
    },

    async preview(id, input) {
      const { template, version } = await detail(id, input.version);
      const locale = input.locale ?? template.locale;
      const category = template.category as MessageCategory;
      const compiledVersion = compiledOf({ ...version, id: template.id, channel: template.channel });
      const base = { category, data: input.data, locale, context, unsubscribeUrl: category === 'security' ? null : `${context.publicUrl.replace(/\/+$/, '')}/v1/unsubscribe?token=preview` };
      const message = renderTemplate(compiledVersion, { ...base, channel: template.channel as Channel });
      const sms = template.channel === 'sms' ? message.text : renderTemplate(compiledVersion, { ...base, channel: 'sms' }).text;
      return { version: version.version, locale, subject: message.subject, html: message.html, text: message.text, sms };
    },
  };
}
