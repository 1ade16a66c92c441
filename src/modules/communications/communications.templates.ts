import Handlebars from 'handlebars';
import { templateErrors } from './communications.errors.js';
import { escapeHtml, type MessageCategory, type TemplateContext } from '../../platform/mail/index.js';
import { baseUrl, HOUSE_STYLES, oneLine, plural, when, wrap } from '../../platform/mail/layout.js';
import type { RenderedMessage } from './communications.messenger.js';
import type { Channel } from './communications.settings.js';

/*
 * The template language: Handlebars 4 in a private environment, with a checked subset.
 *
 * At save time a template is parsed and walked: every variable it reads must be declared (or be one
 * of the built-ins), helpers must be ours, partials, decorators and unescaped output in HTML are
 * refused; a refusal names the part and the line. At render time the data is cut down to the
 * declared variables, every string value is flattened to one line, and the HTML part is escaped by
 * Handlebars (the text parts are not HTML and are not escaped). Compiled templates are cached by
 * (template id, version).
 */

/** Values every template may use without declaring them. */
export const BUILTIN_VARIABLES = ['product_name', 'public_url', 'unsubscribe_url'] as const;
/** Helpers written inline: `{{url "/verify-email" token}}`, `(when at)`. */
export const INLINE_HELPERS = ['url', 'href', 'when', 'plural', 'truncate', 'article', 'or', 'eq', 'lookup'] as const;
/** Block helpers: `{{#if x}}…{{else}}…{{/if}}`. `each` and `with` change the context. */
export const BLOCK_HELPERS = ['if', 'unless', 'each', 'with'] as const;
/** Data variables Handlebars defines inside `{{#each}}`. */
const LOOP_DATA = new Set(['index', 'key', 'first', 'last']);
const SMS_MAX = 1600;

export interface TemplateContent {
  /** Email subject; title of push and in-app notifications; null for SMS. */
  subject: string | null;
  /** Email only: the body inside the house layout; null for a text-only mail (its HTML is made from the text). */
  html: string | null;
  text: string;
  variables: string[];
}

export type TemplatePart = 'subject' | 'html' | 'text';

export interface TemplateIssue {
  kind: 'syntax' | 'undeclared';
  path: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Checking: parse, then walk the tree.

type Node = hbs.AST.Node;
type Program = hbs.AST.Program;
type PathExpression = hbs.AST.PathExpression;
type Call = hbs.AST.MustacheStatement | hbs.AST.SubExpression;

interface Frame {
  /** The context here is the template's data (not an item of `#each` or the object of `#with`). */
  root: boolean;
  blockParams: string[];
}

const inlineHelpers = new Set<string>(INLINE_HELPERS);
const blockHelpers = new Set<string>(BLOCK_HELPERS);
const lineOf = (node: Node): number => node.loc?.start.line ?? 1;

function simpleName(path: PathExpression): string | null {
  return !path.data && path.depth === 0 && path.parts.length === 1 && !/^(\.|this\b)/.test(path.original) ? path.parts[0]! : null;
}

/** Parses a part and checks it; the tree is returned ready to compile (see `{{name}}` below). */
function check(source: string, part: TemplatePart, declared: ReadonlySet<string>): { ast: Program | null; issues: TemplateIssue[] } {
  const path = `body.${part}`;
  const issues: TemplateIssue[] = [];
  const issue = (kind: TemplateIssue['kind'], node: Node, message: string): void => {
    issues.push({ kind, path, message: `line ${lineOf(node)}: ${message}` });
  };
  let ast: Program;
  try {
    ast = Handlebars.parse(source);
  } catch (error) {
    const { message, lineNumber } = error as { message: string; lineNumber?: number };
    const line = lineNumber ?? Number(/on line (\d+)/.exec(message)?.[1] ?? 1);
    // The parser's message repeats the source line with a caret: keep only what it expected.
    const expecting = /\n(Expecting .*)$/.exec(message)?.[1];
    const reason = expecting ? `parse error: ${expecting}` : message.split('\n')[0]!.replace(/ - \d+:\d+$/, '');
    issues.push({ kind: 'syntax', path, message: `line ${line}: ${reason}` });
    return { ast: null, issues };
  }

  function variable(node: PathExpression, frames: Frame[]): void {
    if (node.data) {
      const [head, next] = node.parts;
      if (head === 'root') {
        if (next === undefined || !(declared.has(next) || (BUILTIN_VARIABLES as readonly string[]).includes(next))) {
          issue('undeclared', node, `undeclared variable "${next ?? '@root'}"`);
        }
      } else if (!head || !LOOP_DATA.has(head)) {
        issue('undeclared', node, `unknown data variable "@${node.parts.join('.')}"`);
      } else if (frames.every((frame) => frame.root)) {
        issue('undeclared', node, `"@${head}" is only defined inside {{#each}}`);
      }
      return;
    }
    const first = node.parts[0];
    if (node.depth === 0 && first !== undefined && !/^(\.|this\b)/.test(node.original) && frames.some((frame) => frame.blockParams.includes(first))) return;
    const target = frames[frames.length - 1 - node.depth];
    if (!target) {
      issue('undeclared', node, `"${node.original}" goes above the template's data`);
      return;
    }
    // Inside #each/#with the context is an item: its fields cannot be declared.
    if (!target.root) return;
    if (first === undefined) {
      issue('undeclared', node, `undeclared variable "${node.original}"`);
      return;
    }
    if (!declared.has(first) && !(BUILTIN_VARIABLES as readonly string[]).includes(first)) issue('undeclared', node, `undeclared variable "${first}"`);
  }

  function expression(node: Node, frames: Frame[]): void {
    switch (node.type) {
      case 'PathExpression':
        variable(node as PathExpression, frames);
        return;
      case 'SubExpression':
        call(node as hbs.AST.SubExpression, frames, true);
        return;
      default:
        return; // literals
    }
  }

  function args(node: Call | hbs.AST.BlockStatement, frames: Frame[]): void {
    for (const param of node.params) expression(param, frames);
    for (const pair of node.hash?.pairs ?? []) expression(pair.value, frames);
  }

  function call(node: Call, frames: Frame[], subexpression: boolean): void {
    const hasArgs = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (node.path.type !== 'PathExpression') {
      issue('syntax', node, 'a mustache must name a variable or a helper');
      return;
    }
    const path = node.path as PathExpression;
    if (hasArgs || subexpression) {
      const name = simpleName(path);
      if (name === null || !inlineHelpers.has(name)) {
        issue('syntax', node, `unknown helper "${path.original}" (helpers: ${INLINE_HELPERS.join(', ')})`);
        return;
      }
      args(node, frames);
      return;
    }
    variable(path, frames);
    // `{{name}}` alone is always a variable, even when a helper has its name (`{{url}}`, `{{code}}`):
    // written `./name` for the compiler, which otherwise calls the helper.
    const name = simpleName(path);
    if (name !== null && (inlineHelpers.has(name) || blockHelpers.has(name)) && !frames.some((frame) => frame.blockParams.includes(name))) {
      path.original = `./${name}`;
    }
  }

  function program(node: Program | undefined, frames: Frame[]): void {
    for (const statement of node?.body ?? []) {
      switch (statement.type) {
        case 'ContentStatement':
        case 'CommentStatement':
          break;
        case 'MustacheStatement': {
          const mustache = statement as hbs.AST.MustacheStatement;
          if (!mustache.escaped && part === 'html') issue('syntax', statement, 'unescaped output ({{{…}}} or {{&…}}) is not allowed in html');
          call(mustache, frames, false);
          break;
        }
        case 'BlockStatement': {
          const block = statement as hbs.AST.BlockStatement;
          const name = block.path.type === 'PathExpression' ? simpleName(block.path) : null;
          if (name === null || !blockHelpers.has(name)) {
            issue('syntax', statement, `unknown block helper "${block.path.original ?? ''}" (block helpers: ${BLOCK_HELPERS.join(', ')})`);
            break;
          }
          if (block.params.length === 0) issue('syntax', statement, `{{#${name}}} needs an argument`);
          args(block, frames);
          const changesContext = name === 'each' || name === 'with';
          program(block.program, changesContext ? [...frames, { root: false, blockParams: block.program?.blockParams ?? [] }] : frames);
          // The {{else}} of #each and #with runs in the outer context.
          program(block.inverse, frames);
          break;
        }
        case 'PartialStatement':
        case 'PartialBlockStatement':
          issue('syntax', statement, 'partials ({{> …}}) are not available');
          break;
        case 'Decorator':
        case 'DecoratorBlock':
          issue('syntax', statement, 'decorators ({{* …}}) are not available');
          break;
        default:
          issue('syntax', statement, `${statement.type} is not available`);
      }
    }
  }

  program(ast, [{ root: true, blockParams: [] }]);
  return { ast, issues };
}

const COMPILE_OPTIONS = {
  knownHelpers: { ...Object.fromEntries([...INLINE_HELPERS, ...BLOCK_HELPERS].map((name) => [name, true])), log: false },
  knownHelpersOnly: true,
  data: true,
} as const;

/** Where a template's parts live for a channel, and which must be there. */
export function partsOf(channel: Channel): { subject: 'required' | 'optional' | 'forbidden'; html: 'optional' | 'forbidden' } {
  switch (channel) {
    case 'email':
      return { subject: 'required', html: 'optional' };
    case 'sms':
      return { subject: 'forbidden', html: 'forbidden' };
    default:
      return { subject: 'optional', html: 'forbidden' };
  }
}

/**
 * Every problem with a template's content, each with its part and line: parse errors, helpers,
 * partials and unescaped HTML output first (`invalid_template`), then undeclared variables.
 */
export function templateIssues(channel: Channel, content: TemplateContent): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  const parts = partsOf(channel);
  const declared = new Set(content.variables);
  content.variables.forEach((name, i) => {
    if ((BUILTIN_VARIABLES as readonly string[]).includes(name)) issues.push({ kind: 'syntax', path: `body.variables.${i}`, message: `"${name}" is built in: do not declare it` });
    if (content.variables.indexOf(name) !== i) issues.push({ kind: 'syntax', path: `body.variables.${i}`, message: `"${name}" is declared twice` });
  });
  if (parts.subject === 'required' && !content.subject?.trim()) issues.push({ kind: 'syntax', path: 'body.subject', message: `a ${channel} template needs a subject` });
  if (parts.subject === 'forbidden' && content.subject !== null) issues.push({ kind: 'syntax', path: 'body.subject', message: `a ${channel} template has no subject` });
  if (parts.html === 'forbidden' && content.html !== null) issues.push({ kind: 'syntax', path: 'body.html', message: `only email templates have an html part` });
  if (!content.text.trim()) issues.push({ kind: 'syntax', path: 'body.text', message: 'the text part is empty' });
  const sources: [TemplatePart, string | null][] = [['subject', content.subject], ['html', content.html], ['text', content.text]];
  for (const [part, source] of sources) {
    if (source === null) continue;
    const { ast, issues: found } = check(source, part, declared);
    issues.push(...found);
    if (ast && found.length === 0) {
      try {
        environments[part === 'html' ? 'html' : 'text'].precompile(ast, COMPILE_OPTIONS);
      } catch (error) {
        issues.push({ kind: 'syntax', path: `body.${part}`, message: `line ${(error as { lineNumber?: number }).lineNumber ?? 1}: ${(error as Error).message.split('\n')[0]}` });
      }
    }
  }
  return issues;
}

/** Throws 422 (`invalid_template`, else `undeclared_variable`) listing every issue. */
export function assertValidTemplate(channel: Channel, content: TemplateContent): void {
  const issues = templateIssues(channel, content);
  if (issues.length === 0) return;
  const errors = issues.map(({ path, message }) => ({ path, message }));
  const syntax = issues.find((found) => found.kind === 'syntax');
  if (syntax) throw templateErrors.invalid_template(`${syntax.path}: ${syntax.message}`, { errors });
  throw templateErrors.undeclared_variable(`${issues[0]!.path}: ${issues[0]!.message}`, { errors });
}

// ---------------------------------------------------------------------------------------------
// Helpers: two environments, so a helper's output is HTML-safe in the html part and plain elsewhere.

type HelperArgs = unknown[];
type Environment = ReturnType<typeof Handlebars.create>;

const str = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/** Drops the `options` Handlebars passes last. */
const argsOf = (all: HelperArgs): unknown[] => all.slice(0, -1);
/** The product's name and URL, passed to every render as `@house` (inherited by #each frames). */
const houseOf = (all: HelperArgs): TemplateContext => {
  const options = all[all.length - 1] as { data?: { house?: TemplateContext } } | undefined;
  const house = options?.data?.house;
  if (!house) throw new Error('template rendered without its context');
  return house;
};

function pageUrl(context: TemplateContext, path: unknown, token: unknown): string {
  const raw = str(path);
  const url = `${baseUrl(context)}${raw.startsWith('/') ? raw : `/${raw}`}`;
  return token === null || token === undefined || token === '' ? url : `${url}?token=${encodeURIComponent(str(token))}`;
}

/** A link from data: only http(s), anything else becomes `#` (no `javascript:` in a mail). */
function safeHref(value: unknown): string {
  const url = str(value).trim();
  return /^https?:\/\//i.test(url) ? url : '#';
}

function truncate(value: unknown, max: unknown): string {
  const limit = typeof max === 'number' && max > 0 ? Math.floor(max) : 200;
  return oneLine(str(value), limit) ?? '';
}

function article(value: unknown): string {
  return /^[aeiou]/i.test(str(value).trim()) ? 'an' : 'a';
}

function createEnvironment(kind: 'html' | 'text'): Environment {
  const env = Handlebars.create();
  env.unregisterHelper('log');
  const safe = (value: string): string | Handlebars.SafeString => (kind === 'html' ? new Handlebars.SafeString(escapeHtml(value)) : value);
  const helpers: Record<string, (...all: HelperArgs) => unknown> = {
    url: (...all) => {
      const [path, token] = argsOf(all);
      return safe(pageUrl(houseOf(all), path, token));
    },
    href: (...all) => safe(safeHref(argsOf(all)[0])),
    when: (...all) => {
      const value = argsOf(all)[0];
      return value === null || value === undefined || value === '' ? '' : when(str(value));
    },
    plural: (...all) => {
      const [count, word, pluralWord] = argsOf(all);
      const n = Number(count);
      if (!Number.isFinite(n)) return '';
      return pluralWord === undefined ? plural(n, str(word)) : `${n} ${n === 1 ? str(word) : str(pluralWord)}`;
    },
    truncate: (...all) => {
      const [value, max] = argsOf(all);
      return truncate(value, max);
    },
    article: (...all) => article(argsOf(all)[0]),
    or: (...all) => argsOf(all).find((value) => value !== null && value !== undefined && value !== '' && value !== false) ?? '',
    eq: (...all) => {
      const [a, b] = argsOf(all);
      return a === b;
    },
  };
  for (const [name, helper] of Object.entries(helpers)) env.registerHelper(name, helper);
  return env;
}

const environments = { html: createEnvironment('html'), text: createEnvironment('text') };

// ---------------------------------------------------------------------------------------------
// Compiling and rendering

type Compiled = (data: Record<string, unknown>, context: TemplateContext) => string;

export interface CompiledTemplate {
  channel: Channel;
  variables: string[];
  subject: Compiled | null;
  html: Compiled | null;
  text: Compiled;
}

function compilePart(source: string, part: TemplatePart, declared: ReadonlySet<string>): Compiled {
  const { ast, issues } = check(source, part, declared);
  if (!ast || issues.length > 0) throw new Error(`stored template does not check: ${issues.map((found) => found.message).join('; ')}`);
  const template = environments[part === 'html' ? 'html' : 'text'].compile(ast, { ...COMPILE_OPTIONS, noEscape: part !== 'html' });
  return (data, context) => template(data, { data: { house: context } });
}

/** Compiles a checked template (throws when it does not check: stored content is checked when saved). */
export function compileTemplate(channel: Channel, content: TemplateContent): CompiledTemplate {
  const declared = new Set(content.variables);
  return {
    channel,
    variables: [...content.variables],
    subject: content.subject === null ? null : compilePart(content.subject, 'subject', declared),
    html: content.html === null ? null : compilePart(content.html, 'html', declared),
    text: compilePart(content.text, 'text', declared),
  };
}

const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/gu;

/** A data value as templates see it: strings on one line (no control characters), at most 5 levels deep. */
function flatten(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= 5) return null;
  if (Array.isArray(value)) return value.slice(0, 1000).map((item) => flatten(item, depth + 1));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, flatten(item, depth + 1)]));
  }
  return null;
}

/** Trailing spaces off, at most one blank line in a row, no blank lines at the start. */
function tidyText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').replace(/^\n+/, '').trimEnd();
}

/** The HTML of a text-only mail: its paragraphs, escaped. */
function textToHtml(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((paragraph) => `<p style="${HOUSE_STYLES.p}">${escapeHtml(paragraph).replace(/\n/g, '<br>')}</p>`)
    .join('');
}

interface LayoutStrings {
  footer: (product: string, url: string) => string;
  unsubscribe: string;
}

const LAYOUT: Record<string, LayoutStrings> = {
  en: { footer: (product, url) => `This email was sent by ${product} (${url}).`, unsubscribe: 'Unsubscribe from these emails' },
  es: { footer: (product, url) => `Este correo lo envió ${product} (${url}).`, unsubscribe: 'Darte de baja de estos correos' },
};

const layoutFor = (locale: string | null): LayoutStrings => LAYOUT[(locale ?? 'en').slice(0, 2)] ?? LAYOUT.en!;

export interface RenderInput {
  /** The channel the message goes out on (an email template can stand in for another channel). */
  channel: Channel;
  /** The language of the house layout. */
  locale: string | null;
  category: MessageCategory;
  data: Record<string, unknown>;
  unsubscribeUrl: string | null;
  context: TemplateContext;
}

export function renderTemplate(template: CompiledTemplate, input: RenderInput): RenderedMessage {
  const { context } = input;
  const unsubscribeUrl = input.category === 'security' ? null : input.unsubscribeUrl;
  const data: Record<string, unknown> = {};
  // Only declared variables reach the template; a declared one missing from the data is null.
  for (const name of template.variables) data[name] = Object.hasOwn(input.data, name) ? flatten(input.data[name]) : null;
  Object.assign(data, { product_name: context.productName, public_url: baseUrl(context), unsubscribe_url: unsubscribeUrl });

  // The subject is a header line: whatever the values held, it is one line.
  const subject = template.subject ? (oneLine(template.subject(data, context), 998) ?? '') : null;
  const text = tidyText(template.text(data, context));
  if (input.channel === 'email' && template.channel === 'email') {
    const layout = layoutFor(input.locale);
    const mail = wrap(context, {
      subject: subject ?? '',
      html: template.html ? template.html(data, context) : textToHtml(text),
      text,
      footer: layout.footer(context.productName, baseUrl(context)),
      unsubscribe: unsubscribeUrl ? { label: layout.unsubscribe, url: unsubscribeUrl } : null,
    });
    return { subject: mail.subject, html: mail.html, text: mail.text };
  }
  if (input.channel === 'sms') return { subject: null, html: null, text: [...text].slice(0, SMS_MAX).join('') };
  return { subject, html: null, text };
}
