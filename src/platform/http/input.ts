import type { FastifyRequest } from 'fastify';
import type { Ajv, FormatDefinition } from 'ajv';
import { httpErrors } from './errors.js';

/**
 * Input hygiene for every route, in one place (installed by `createHttpServer`, not route by route):
 *
 * - Strings: no request string (path parameter, query parameter, anywhere in the body, object keys
 *   included) may hold U+0000 or an unpaired UTF-16 surrogate, and a query parameter must be
 *   percent-encoded UTF-8. PostgreSQL cannot store the first (the statement fails: a 500) and the
 *   second is not Unicode at all (the driver would silently store U+FFFD instead). Refused with
 *   400 `validation_failed` and the path of each offending value.
 * - Timestamps: the `date-time` and `date` formats accept only instants from
 *   0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (measured in UTC, after the offset), and only
 *   what JavaScript's Date can parse (so `23:59:60` leap seconds are refused): the range of
 *   RFC 3339's four-digit years that both PostgreSQL and JavaScript represent exactly.
 */

/** The earliest and latest instants a `date-time` (or `date`) may name, in ms since the epoch. */
export const EARLIEST_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
export const LATEST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/** An unpaired high or low surrogate (the string is not well-formed UTF-16). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why this string is refused, or null when it is fine. */
export function stringDefect(value: string): string | null {
  if (value.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (it holds an unpaired surrogate)';
  return null;
}

export interface InputIssue {
  path: string;
  message: string;
}

/** At most this many issues are reported for one request (the first ones found). */
const MAX_ISSUES = 20;

/** A path segment fit to print: the offending characters shown as U+FFFD, a long name cut short. */
function printable(segment: string): string {
  const shown = segment.replace(/\u0000/g, '\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
  return shown.length > 64 ? `${shown.slice(0, 64)}…` : shown;
}

/** A place in the value being walked; its path is spelled out only for a value that is refused. */
interface Place {
  parent: Place | null;
  segment: string;
}

/** Paths deeper than this are shown as their root, `…` and their last segments. */
const MAX_PATH_SEGMENTS = 32;

function pathOf(place: Place): string {
  const segments: string[] = [];
  for (let at: Place | null = place; at; at = at.parent) segments.push(printable(at.segment));
  segments.reverse();
  if (segments.length <= MAX_PATH_SEGMENTS) return segments.join('.');
  return [segments[0], '…', ...segments.slice(-(MAX_PATH_SEGMENTS - 2))].join('.');
}

/**
 * Every defective string in `value` (strings, array items, object keys and values, at any depth),
 * with its path from `root` (`body.user.name`, `querystring.q`, `params.org_id`). Iterative, so a
 * deeply nested body cannot exhaust the stack, and linear in the size of the value (paths are
 * spelled out for refused values only).
 */
export function findStringDefects(root: string, value: unknown): InputIssue[] {
  const issues: InputIssue[] = [];
  const stack: { value: unknown; place: Place }[] = [{ value, place: { parent: null, segment: root } }];
  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const defect = stringDefect(item.value);
      if (defect) issues.push({ path: pathOf(item.place), message: defect });
    } else if (Array.isArray(item.value)) {
      for (let i = item.value.length - 1; i >= 0; i--) stack.push({ value: item.value[i], place: { parent: item.place, segment: String(i) } });
    } else if (typeof item.value === 'object' && item.value !== null) {
      const entries = Object.entries(item.value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        const place = { parent: item.place, segment: key };
        const defect = stringDefect(key);
        if (defect) issues.push({ path: pathOf(place), message: `names a property that ${defect}` });
        stack.push({ value: child, place });
      }
    }
  }
  return issues;
}

/** A `%` that does not start a percent-encoded byte is taken literally (as the query parser does). */
const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/g;

/**
 * Query parameters whose percent-encoding is not UTF-8 (`%ED%A0%80`, the encoding of a lone
 * surrogate; `%C0%80`, an overlong NUL; a truncated `%E0`). The query parser keeps such a value
 * as its raw text, which is not what the client meant: refused, like the same bytes in the path.
 */
export function findMalformedQuery(url: string): InputIssue[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const issues: InputIssue[] = [];
  for (const part of url.slice(q + 1).split('&')) {
    if (!part.includes('%')) continue;
    const [rawKey = '', ...rest] = part.split('=');
    const decode = (text: string): string | null => {
      try {
        return decodeURIComponent(text.replace(/\+/g, ' ').replace(STRAY_PERCENT, '%25'));
      } catch {
        return null;
      }
    };
    const key = decode(rawKey);
    const value = decode(rest.join('='));
    if (key === null || value === null) {
      issues.push({ path: `querystring.${key === null ? printable(rawKey) : printable(key)}`, message: 'is not valid percent-encoded UTF-8' });
    }
    if (issues.length >= MAX_ISSUES) break;
  }
  return issues;
}

/**
 * The preValidation hook: refuses defective strings in the path, the query (decoded or not) and
 * the body. Paths are named like the schema validator names them (`params`, `querystring`, `body`).
 */
export async function refuseDefectiveStrings(request: FastifyRequest): Promise<void> {
  const issues = [
    ...findStringDefects('params', request.params),
    ...findMalformedQuery(request.url),
    ...findStringDefects('querystring', request.query),
    ...findStringDefects('body', request.body),
  ].slice(0, MAX_ISSUES);
  if (issues.length === 0) return;
  throw httpErrors.validation_failed(issues.map((issue) => `${issue.path} ${issue.message}`).join('; '), { errors: issues });
}

function withinRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_INSTANT && ms <= LATEST_INSTANT;
}

function validatorOf(format: unknown): ((value: string) => boolean) | null {
  if (format instanceof RegExp) return (value) => format.test(value);
  if (typeof format === 'function') return format as (value: string) => boolean;
  if (typeof format === 'object' && format !== null) {
    const validate = (format as { validate?: unknown }).validate;
    if (validate instanceof RegExp) return (value) => validate.test(value);
    if (typeof validate === 'function') return validate as (value: string) => boolean;
  }
  return null;
}

/**
 * Tightens the `date-time` and `date` formats of the request validator (called once, after
 * ajv-formats registered its own): each keeps ajv-formats' syntax check and adds the range above.
 */
export function tightenFormats(ajv: Ajv): void {
  const dateTime = validatorOf(ajv.formats['date-time']);
  const date = validatorOf(ajv.formats.date);
  if (!dateTime || !date) throw new Error('ajv-formats must be loaded before the formats are tightened');
  const compareOf = (name: string) => (ajv.formats[name] as FormatDefinition<string> | undefined)?.compare;
  const dateTimeCompare = compareOf('date-time');
  const dateCompare = compareOf('date');
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (value: string) => dateTime(value) && withinRange(Date.parse(value)),
    ...(dateTimeCompare ? { compare: dateTimeCompare } : {}),
  });
  ajv.addFormat('date', {
    type: 'string',
    validate: (value: string) => date(value) && withinRange(Date.parse(`${value}T00:00:00Z`)),
    ...(dateCompare ? { compare: dateCompare } : {}),
  });
}
