import { escapeHtml, type RenderedMail, type TemplateContext } from './mail.js';

/*
 * The house layout of every mail: a template is a list of blocks rendered to both a plain-text and
 * an HTML part, so a link or a code can never be in one part and missing from the other, and every
 * interpolated value goes through `escapeHtml` in exactly one place.
 */

// ---------------------------------------------------------------------------------------------
// Rendering

export type Block =
  | { kind: 'p'; text: string }
  | { kind: 'action'; label: string; url: string }
  | { kind: 'link'; text: string; label: string; url: string }
  | { kind: 'code'; code: string }
  | { kind: 'facts'; rows: [label: string, value: string][] }
  | { kind: 'note'; text: string };

export const p = (text: string): Block => ({ kind: 'p', text });
export const action = (label: string, url: string): Block => ({ kind: 'action', label, url });
/** A sentence followed by a link: "If this wasn't you, reset your password: <url>". */
export const link = (text: string, label: string, url: string): Block => ({ kind: 'link', text, label, url });
export const code = (value: string): Block => ({ kind: 'code', code: value });
export const note = (text: string): Block => ({ kind: 'note', text });
export function facts(rows: [string, string | null | undefined][]): Block {
  return { kind: 'facts', rows: rows.flatMap(([label, value]) => (value ? [[label, value] as [string, string]] : [])) };
}

const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";

function blockText(block: Block): string {
  switch (block.kind) {
    case 'p':
    case 'note':
      return block.text;
    case 'action':
      return `${block.label}:\n${block.url}`;
    case 'link':
      return `${block.text} ${block.label}:\n${block.url}`;
    case 'code':
      return `    ${block.code}`;
    case 'facts':
      return block.rows.map(([label, value]) => `${label}: ${value}`).join('\n');
  }
}

function blockHtml(block: Block): string {
  switch (block.kind) {
    case 'p':
      return `<p style="margin:0 0 16px">${escapeHtml(block.text)}</p>`;
    case 'note':
      return `<p style="margin:0 0 16px;color:#6b7280;font-size:13px">${escapeHtml(block.text)}</p>`;
    case 'action': {
      const url = escapeHtml(block.url);
      return (
        `<p style="margin:24px 0"><a href="${url}" style="display:inline-block;background:#2563eb;color:#ffffff;` +
        `text-decoration:none;padding:12px 20px;border-radius:6px;font-weight:600">${escapeHtml(block.label)}</a></p>` +
        `<p style="margin:0 0 16px;color:#6b7280;font-size:13px">If the button does not work, copy this link into your browser:<br>` +
        `<a href="${url}" style="color:#2563eb;word-break:break-all">${url}</a></p>`
      );
    }
    case 'link':
      return `<p style="margin:0 0 16px">${escapeHtml(block.text)} <a href="${escapeHtml(block.url)}" style="color:#2563eb">${escapeHtml(block.label)}</a>.</p>`;
    case 'code':
      return (
        `<p style="margin:24px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:32px;` +
        `font-weight:700;letter-spacing:8px;color:#111827">${escapeHtml(block.code)}</p>`
      );
    case 'facts':
      return (
        `<table role="presentation" style="margin:0 0 16px;border-collapse:collapse">` +
        block.rows
          .map(([label, value]) => `<tr><td style="padding:2px 16px 2px 0;color:#6b7280">${escapeHtml(label)}</td><td style="padding:2px 0">${escapeHtml(value)}</td></tr>`)
          .join('') +
        `</table>`
      );
  }
}

export function render(context: TemplateContext, subject: string, heading: string, blocks: Block[]): RenderedMail {
  return wrap(context, {
    subject,
    html: `<h1 style="${HOUSE_STYLES.h1}">${escapeHtml(heading)}</h1>` + blocks.filter(nonEmpty).map(blockHtml).join(''),
    text: [heading, ...blocks.filter(nonEmpty).map(blockText)].join('\n\n'),
    footer: `This email was sent by ${context.productName} (${baseUrl(context)}).`,
  });
}

/** The house styles, inlined (mail clients drop style sheets); templates written in HTML use them too. */
export const HOUSE_STYLES = {
  h1: 'margin:0 0 16px;font-size:20px',
  p: 'margin:0 0 16px',
  note: 'margin:0 0 16px;color:#6b7280;font-size:13px',
  a: 'color:#2563eb',
  button: 'display:inline-block;background:#2563eb;color:#ffffff;text-decoration:none;padding:12px 20px;border-radius:6px;font-weight:600',
  code: 'margin:24px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:32px;font-weight:700;letter-spacing:8px;color:#111827',
  table: 'margin:0 0 16px;border-collapse:collapse',
  label: 'padding:2px 16px 2px 0;color:#6b7280',
  value: 'padding:2px 0',
} as const;

export interface LayoutInput {
  subject: string;
  /** The body as HTML (already escaped where it must be): goes into the card. */
  html: string;
  /** The body as plain text. */
  text: string;
  /** One line under the card and at the end of the text: who sent the mail. */
  footer: string;
  /** A one-click unsubscribe link under the footer, in both parts (non-security mail). */
  unsubscribe?: { label: string; url: string } | null;
}

/**
 * The house layout around a body: the product's name above a white card, the footer (and the
 * unsubscribe link) under it; in the text part the body, a signature and the footer.
 */
export function wrap(context: TemplateContext, input: LayoutInput): RenderedMail & { html: string } {
  const product = context.productName;
  const unsubscribe = input.unsubscribe ?? null;
  const text =
    [input.text.trimEnd(), `— ${product}`, input.footer, ...(unsubscribe ? [`${unsubscribe.label}:\n${unsubscribe.url}`] : [])].join('\n\n') + '\n';
  const html =
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(input.subject)}</title></head>` +
    `<body style="margin:0;padding:0;background:#f3f4f6">` +
    `<div style="max-width:560px;margin:0 auto;padding:32px 24px;${FONT};font-size:15px;line-height:1.5;color:#111827">` +
    `<p style="margin:0 0 24px;font-size:18px;font-weight:700">${escapeHtml(product)}</p>` +
    `<div style="background:#ffffff;border-radius:8px;padding:32px 24px">` +
    input.html +
    `</div>` +
    `<p style="margin:24px 0 0;color:#6b7280;font-size:12px">${escapeHtml(input.footer)}</p>` +
    (unsubscribe
      ? `<p style="margin:8px 0 0;color:#6b7280;font-size:12px"><a href="${escapeHtml(unsubscribe.url)}" style="color:#6b7280">${escapeHtml(unsubscribe.label)}</a></p>`
      : '') +
    `</div></body></html>`;
  return { subject: input.subject, text, html };
}

function nonEmpty(block: Block): boolean {
  return block.kind !== 'facts' || block.rows.length > 0;
}

export function baseUrl(context: TemplateContext): string {
  return context.publicUrl.replace(/\/+$/, '');
}

export function pageUrl(context: TemplateContext, path: string, token?: string): string {
  const url = `${baseUrl(context)}${path}`;
  return token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`;
}

/** A user- or request-supplied value as one short line: no control characters, no line breaks. */
export function oneLine(value: string | null | undefined, max = 200): string | null {
  if (value === null || value === undefined) return null;
  const flat = value.replace(/[\p{Cc}\p{Zl}\p{Zp}\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/gu, ' ').replace(/\s+/g, ' ').trim();
  if (flat === '') return null;
  const chars = [...flat];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : flat;
}

/** "2025-03-01 14:05 UTC"; the value as given when it is not a date. */
export function when(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return oneLine(iso) ?? '';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

