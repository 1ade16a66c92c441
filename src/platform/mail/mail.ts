import nodemailer from 'nodemailer';
import { desc, lt } from 'drizzle-orm';
import type { Database, DbHandle } from '../db/database.js';
import { DeliveryError, type DeliveryReceipt } from '../delivery/index.js';
import { newId } from '../crypto/ids.js';
import { mailOutbox } from './mail.tables.js';

export interface RenderedMail {
  subject: string;
  text: string;
  html?: string;
}

export interface TemplateContext {
  publicUrl: string;
  productName: string;
}

export type MailTemplate<D> = (data: D, context: TemplateContext) => RenderedMail;

export interface OutgoingMail extends RenderedMail {
  /** Tessera's id of the message (the communication log entry). */
  id?: string;
  from: string;
  to: string;
  template: string;
  /** Extra headers (`List-Unsubscribe`…). */
  headers?: Record<string, string>;
}

/** Where rendered mail goes: SMTP, Resend's HTTP API, or the development outbox in the database. */
export interface MailTransport {
  readonly kind: 'smtp' | 'resend' | 'outbox';
  /** Throws DeliveryError (permanent when retrying cannot help) when the mail is not accepted. */
  deliver(mail: OutgoingMail): Promise<DeliveryReceipt>;
  /** Throws when the transport cannot currently deliver (health). */
  verify(): Promise<void>;
  close(): Promise<void>;
}

export interface SendMail {
  to: string;
  template: string;
  data?: Record<string, unknown>;
  /** The account the mail is about, when there is one (the communication log records it). */
  userId?: string;
}

/** What a message is about: users may opt out of all but `security`. */
export const MESSAGE_CATEGORIES = ['security', 'account', 'organization', 'product', 'marketing'] as const;
export type MessageCategory = (typeof MESSAGE_CATEGORIES)[number];

/**
 * What modules send mail through: the communications module's one path (log, channel switches,
 * suppression, preferences, rate limits, templates, queue, provider). Returns the log entry's id.
 * Inside a transaction pass `tx`: the mail exists only if it commits.
 */
export interface Mail {
  send(mail: SendMail, options?: { tx?: DbHandle }): Promise<string>;
}

/**
 * An SMTP reply code that will not change on retry (5xx): the message is refused for good. Except a
 * broken session (503) and a refused login (535 and friends): that is the relay's configuration, not the message, and it holds
 * for every message alike; they wait (and the circuit opens) until an operator fixes it.
 */
function smtpFailure(error: unknown): DeliveryError {
  const { responseCode: code, code: kind } = error as { responseCode?: number; code?: string };
  const message = error instanceof Error ? error.message : String(error);
  // 503 is "bad sequence of commands": the session went wrong, not the message.
  const permanent = code !== undefined && code >= 500 && code < 600 && code !== 503 && kind !== 'EAUTH';
  return new DeliveryError(message, { permanent, ...(code !== undefined ? { status: code } : {}), cause: error });
}

export function createSmtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport(url);
  let verifiedAt = 0;
  return {
    kind: 'smtp',
    async deliver(mail) {
      try {
        const info = (await transporter.sendMail({
          from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, ...(mail.headers ? { headers: mail.headers } : {}),
        })) as { messageId?: string };
        return { providerMessageId: info.messageId ?? null };
      } catch (error) {
        throw smtpFailure(error);
      }
    },
    async verify() {
      // An SMTP handshake per readiness probe would be rude to the relay: once every 30 s is enough.
      if (Date.now() - verifiedAt < 30_000) return;
      await transporter.verify();
      verifiedAt = Date.now();
    },
    async close() {
      transporter.close();
    },
  };
}

export function createOutboxTransport(db: Database): MailTransport {
  return {
    kind: 'outbox',
    async deliver(mail) {
      const id = newId('msg');
      await db.orm.insert(mailOutbox).values({
        id, template: mail.template, from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? null, headers: mail.headers ?? null,
      });
      return { providerMessageId: id };
    },
    async verify() {
      await db.ping();
    },
    async close() {},
  };
}

export interface OutboxEntry {
  id: string;
  template: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  headers: Record<string, string> | null;
  createdAt: Date;
}

/** Newest first; `before` is the id of the last entry of the previous page. */
export async function listOutbox(db: DbHandle, options: { limit: number; before?: string }): Promise<OutboxEntry[]> {
  const query = db.orm.select().from(mailOutbox);
  const filtered = options.before ? query.where(lt(mailOutbox.id, options.before)) : query;
  return filtered.orderBy(desc(mailOutbox.id)).limit(options.limit);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes a value for HTML text or a quoted attribute. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}
