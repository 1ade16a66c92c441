import { and, asc, desc, eq, inArray, max, sql, type SQL } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { communicationTemplates, communicationTemplateVersions } from './communications.tables.js';

export type TemplateRow = typeof communicationTemplates.$inferSelect;
export type VersionRow = typeof communicationTemplateVersions.$inferSelect;
export type NewVersionRow = typeof communicationTemplateVersions.$inferInsert;
/** A template with the content of its active version. */
export type ActiveTemplate = Pick<TemplateRow, 'id' | 'name' | 'channel' | 'locale' | 'category'> & Pick<VersionRow, 'version' | 'subject' | 'html' | 'text' | 'variables'>;
export type VersionSummary = Pick<VersionRow, 'version' | 'createdBy' | 'createdAt'>;

const t = communicationTemplates;
const v = communicationTemplateVersions;

/** Serialises the seeding of system templates between instances starting at once. */
export async function lockTemplateSeed(tx: DbHandle): Promise<void> {
  await tx.sql.query(`SELECT pg_advisory_xact_lock(hashtext('communication_templates_seed'))`);
}

/** Inserts the templates that do not exist yet; returns those it inserted. */
export async function insertTemplatesIfAbsent(tx: DbHandle, rows: (typeof t.$inferInsert)[]): Promise<Pick<TemplateRow, 'id' | 'name' | 'channel' | 'locale'>[]> {
  if (rows.length === 0) return [];
  return tx.orm
    .insert(t)
    .values(rows)
    .onConflictDoNothing({ target: [t.name, t.channel, t.locale] })
    .returning({ id: t.id, name: t.name, channel: t.channel, locale: t.locale });
}

export async function insertVersions(tx: DbHandle, rows: NewVersionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.orm.insert(v).values(rows).onConflictDoNothing();
}

/** The state of the templates with these names, for upgrading untouched system templates. */
export async function systemTemplateState(
  tx: DbHandle,
  names: string[],
): Promise<(Pick<TemplateRow, 'id' | 'name' | 'channel' | 'locale' | 'activeVersion'> & { latest: VersionRow; touched: boolean })[]> {
  const templates = await tx.orm.select().from(t).where(inArray(t.name, names));
  if (templates.length === 0) return [];
  const ids = templates.map((row) => row.id);
  const versions = await tx.orm.select().from(v).where(inArray(v.templateId, ids)).orderBy(asc(v.templateId), asc(v.version));
  const byTemplate = new Map<string, VersionRow[]>();
  for (const row of versions) byTemplate.set(row.templateId, [...(byTemplate.get(row.templateId) ?? []), row]);
  return templates.flatMap((row) => {
    const list = byTemplate.get(row.id) ?? [];
    const latest = list[list.length - 1];
    if (!latest) return [];
    return [{ id: row.id, name: row.name, channel: row.channel, locale: row.locale, activeVersion: row.activeVersion, latest, touched: list.some((item) => item.createdBy !== null) }];
  });
}

/** Every template of a name with its active content. */
export async function findActiveByName(db: DbHandle, name: string): Promise<ActiveTemplate[]> {
  return db.orm
    .select({ id: t.id, name: t.name, channel: t.channel, locale: t.locale, category: t.category, version: v.version, subject: v.subject, html: v.html, text: v.text, variables: v.variables })
    .from(t)
    .innerJoin(v, and(eq(v.templateId, t.id), eq(v.version, t.activeVersion)))
    .where(eq(t.name, name));
}

/** Name → category of every template (one category per name). */
export async function listCategories(db: DbHandle): Promise<{ name: string; category: string }[]> {
  return db.orm.selectDistinct({ name: t.name, category: t.category }).from(t);
}

export interface TemplateFilter {
  name?: string;
  channel?: string;
  locale?: string;
  /** The sort key of the last template of the previous page. */
  after?: { name: string; channel: string; locale: string };
  limit: number;
}

/** Templates by name, channel and locale (unique together: a total order); `after` is that key of the last row of the previous page. */
export async function listTemplates(db: DbHandle, filter: TemplateFilter): Promise<TemplateRow[]> {
  const conditions: SQL[] = [];
  if (filter.name) conditions.push(eq(t.name, filter.name));
  if (filter.channel) conditions.push(eq(t.channel, filter.channel));
  if (filter.locale) conditions.push(eq(t.locale, filter.locale));
  if (filter.after) {
    conditions.push(sql`(${t.name}, ${t.channel}, ${t.locale}) > (${filter.after.name}, ${filter.after.channel}, ${filter.after.locale})`);
  }
  return db.orm
    .select()
    .from(t)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(asc(t.name), asc(t.channel), asc(t.locale))
    .limit(filter.limit);
}

export async function findTemplate(db: DbHandle, id: string, options: { forUpdate?: boolean } = {}): Promise<TemplateRow | null> {
  const query = db.orm.select().from(t).where(eq(t.id, id)).limit(1);
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row ?? null;
}

/** The category the templates of a name have, or null when there are none. */
export async function findCategoryOfName(db: DbHandle, name: string): Promise<string | null> {
  const [row] = await db.orm.select({ category: t.category }).from(t).where(eq(t.name, name)).limit(1);
  return row?.category ?? null;
}

export async function insertTemplate(tx: DbHandle, row: typeof t.$inferInsert): Promise<TemplateRow | null> {
  const [inserted] = await tx.orm.insert(t).values(row).onConflictDoNothing({ target: [t.name, t.channel, t.locale] }).returning();
  return inserted ?? null;
}

export async function findVersion(db: DbHandle, templateId: string, version: number): Promise<VersionRow | null> {
  const [row] = await db.orm.select().from(v).where(and(eq(v.templateId, templateId), eq(v.version, version))).limit(1);
  return row ?? null;
}

/** Every version of a template, newest first (no content). */
export async function listVersions(db: DbHandle, templateId: string): Promise<VersionSummary[]> {
  return db.orm.select({ version: v.version, createdBy: v.createdBy, createdAt: v.createdAt }).from(v).where(eq(v.templateId, templateId)).orderBy(desc(v.version));
}

export async function latestVersion(db: DbHandle, templateId: string): Promise<number> {
  const [row] = await db.orm.select({ latest: max(v.version) }).from(v).where(eq(v.templateId, templateId));
  return row?.latest ?? 0;
}

export async function setActiveVersion(tx: DbHandle, templateId: string, version: number): Promise<TemplateRow> {
  const [row] = await tx.orm.update(t).set({ activeVersion: version, updatedAt: sql`now()` as unknown as Date }).where(eq(t.id, templateId)).returning();
  return row!;
}

/** Marks a template changed (a new version that is not active yet). */
export async function touchTemplate(tx: DbHandle, templateId: string): Promise<TemplateRow> {
  const [row] = await tx.orm.update(t).set({ updatedAt: sql`now()` as unknown as Date }).where(eq(t.id, templateId)).returning();
  return row!;
}
