import nodemailer from 'nodemailer';
import { desc, lt } from 'drizzle-orm';
import type { Database, DbHandle } from '../db/database.js';
import type { Jobs, QueueOptions } from '../jobs/jobs.js';
import type { SecretBox } from '../crypto/secret-box.js';
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
  from: string;
  to: string;
  template: string;
}

/** Where rendered mail goes: SMTP, or the development outbox in the database. */
export interface MailTransport {
  readonly kind: 'smtp' | 'outbox';
  deliver(mail: OutgoingMail): Promise<void>;
  /** Throws when the transport cannot currently deliver (health). */
  verify(): Promise<void>;
  close(): Promise<void>;
}

export interface SendMail {
  to: string;
  template: string;
  data?: Record<string, unknown>;
}

export interface Mail {
  readonly transport: MailTransport;
  /** Registers a template by name; modules register theirs when the app is built. */
  register<D>(name: string, template: MailTemplate<D>): void;
  /**
   * Enqueues the mail (inside `tx` when given); a job renders and delivers it, with retries on
   * transport failure. Returns the job id. The template data, which may hold one-time tokens, is
   * sealed with TESSERA_SECRET while it waits in the queue.
   */
  send(mail: SendMail, options?: { tx?: DbHandle }): Promise<string>;
}

export const MAIL_QUEUE = 'mail.send';
const PURPOSE = 'mail-job';

interface MailJob {
  to: string;
  template: string;
  sealed: string;
}

export function createSmtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport(url);
  let verifiedAt = 0;
  return {
    kind: 'smtp',
    async deliver(mail) {
      await transporter.sendMail({ from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
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
      await db.orm.insert(mailOutbox).values({ id: newId('msg'), ...mail, html: mail.html ?? null });
    },
    async verify() {
      await db.ping();
    },
    async close() {},
  };
}

export function createMail(deps: {
  jobs: Jobs;
  box: SecretBox;
  transport: MailTransport;
  from: string;
  context: TemplateContext;
  /** Overrides of the mail queue's retry and polling settings (tests that must not wait 15 s for a retry). */
  queue?: Pick<QueueOptions, 'retryDelaySeconds' | 'retryBackoff' | 'pollingIntervalSeconds'>;
}): Mail {
  const templates = new Map<string, MailTemplate<Record<string, unknown>>>();
  deps.jobs.define<MailJob>(
    MAIL_QUEUE,
    async (job) => {
      const template = templates.get(job.template);
      if (!template) throw new Error(`mail: unknown template ${job.template}`);
      const data = JSON.parse(deps.box.open(job.sealed, PURPOSE)) as Record<string, unknown>;
      const rendered = template(data, deps.context);
      await deps.transport.deliver({ ...rendered, from: deps.from, to: job.to, template: job.template });
    },
    { retryLimit: 8, retryDelaySeconds: 15, retryBackoff: true, concurrency: 4, ...deps.queue },
  );
  return {
    transport: deps.transport,
    register(name, template) {
      if (templates.has(name)) throw new Error(`mail: template ${name} registered twice`);
      templates.set(name, template as MailTemplate<Record<string, unknown>>);
    },
    async send(mail, options = {}) {
      if (!templates.has(mail.template)) throw new Error(`mail: unknown template ${mail.template}`);
      const job: MailJob = { to: mail.to, template: mail.template, sealed: deps.box.seal(JSON.stringify(mail.data ?? {}), PURPOSE) };
      return deps.jobs.enqueue(MAIL_QUEUE, job, options.tx ? { tx: options.tx } : {});
    },
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
