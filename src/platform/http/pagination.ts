import { Type, type Static, type TObject, type TSchema, type TString, type TOptional, type TInteger } from '@sinclair/typebox';
import { Nullable } from './schemas.js';

/**
 * Lists answer `{ data: [...], next_cursor }` and take `?limit=&cursor=`. A list query fetches one
 * row more than asked to learn whether there is a next page; the cursor is the sort key of the last
 * row returned (an id, which is time-ordered and unique, so the order is total). The query's ORDER
 * BY and its cursor condition must use the same key: `ORDER BY id DESC` with `id < cursor`.
 */

/** `{ data: T[], next_cursor: string | null }`, the response schema of every list. */
export function Page<T extends TSchema>(item: T): TObject<{ data: ReturnType<typeof Type.Array<T>>; next_cursor: ReturnType<typeof Nullable<TString>> }> {
  return Type.Object({ data: Type.Array(item), next_cursor: Nullable(Type.String()) });
}

export interface PageQueryOptions {
  /** Largest `limit` (default 200). */
  max?: number;
  /** `limit` when none is given (default 50). */
  defaultLimit?: number;
  /** The schema of a cursor (default a string of 1 to 200 characters). */
  cursor?: TSchema;
}

/** The `limit` and `cursor` query parameters; spread into a route's querystring object. */
export function pageQuery(options: PageQueryOptions = {}): { limit: TInteger; cursor: TOptional<TSchema> } {
  return {
    limit: Type.Integer({ minimum: 1, maximum: options.max ?? 200, default: options.defaultLimit ?? 50, description: 'Page size' }),
    cursor: Type.Optional(options.cursor ?? Type.String({ minLength: 1, maxLength: 200, description: 'next_cursor of the previous page' })),
  };
}

export interface PageOf<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * Fetches one page: `fetch(limit + 1)` returns rows in list order; the extra row only tells that
 * another page exists. `cursorOf` is the sort key of a row, `body` its wire form.
 */
export async function paginate<Row, Body>(
  limit: number,
  fetch: (take: number) => Promise<Row[]>,
  cursorOf: (row: Row) => string,
  body: (row: Row) => Body,
): Promise<PageOf<Body>> {
  const rows = await fetch(limit + 1);
  const page = rows.slice(0, limit);
  return { data: page.map(body), next_cursor: rows.length > limit ? cursorOf(page[page.length - 1]!) : null };
}

/** A list that is never cut into pages (small, bounded sets such as a user's passkeys). */
export function wholeList<Row, Body>(rows: Row[], body: (row: Row) => Body): PageOf<Body> {
  return { data: rows.map(body), next_cursor: null };
}

export type PageBody<T extends TSchema> = Static<ReturnType<typeof Page<T>>>;
