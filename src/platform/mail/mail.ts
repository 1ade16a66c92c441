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
  /** The account the mail is about, when there is one (the communication log records it). */
  userId?: string;
}

/** What a message is about: users may opt out of all but `security`. */
export const MESSAGE_CATEGORIES = ['security', 'account', 'organization', 'product', 'marketing'] as const;
export type MessageCategory = (typeof MESSAGE_CATEGORIES)[number];

export interface QueuedMessage {
  to: string;
  template: string;
  category: MessageCategory;
  userId?: string;
}

/**
 * The stations of a message beside delivery (the communications module: log, channel switches,
 * suppression list, rate limits). Without one, mail is rendered and delivered, nothing more.
 */
export interface MailPipeline {
  /** When the mail is queued, in the caller's transaction: writes its log entry, returns its id. */
  queued(tx: DbHandle | undefined, message: QueuedMessage): Promise<string>;
  /** In the job, before the first attempt: whether to deliver (when not, the log says why). */
  admit(logId: string, message: QueuedMessage): Promise<boolean>;
  sent(logId: string, info: { provider: string; attempts: number }): Promise<void>;
  failed(logId: string, info: { error: string; attempts: number; final: boolean }): Promise<void>;
}

export interface Mail {
  readonly transport: MailTransport;
  /** Registers a template by name (its category: `security` unless said); modules register theirs when the app is built. */
  register<D>(name: string, template: MailTemplate<D>, options?: { category?: MessageCategory }): void;
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
  /** The communication log entry (with a pipeline). */
  logId?: string;
  userId?: string;
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
  pipeline?: MailPipeline;
}): Mail {
  const templates = new Map<string, { render: MailTemplate<Record<string, unknown>>; category: MessageCategory }>();
  const { pipeline } = deps;
  const options = { retryLimit: 8, retryDelaySeconds: 15, retryBackoff: true, concurrency: 4, ...deps.queue };
  const messageOf = (job: MailJob): QueuedMessage => ({
    to: job.to, template: job.template, category: templates.get(job.template)?.category ?? 'security', ...(job.userId ? { userId: job.userId } : {}),
  });
  deps.jobs.define<MailJob>(
    MAIL_QUEUE,
    async (job, { retryCount }) => {
      const template = templates.get(job.template);
      if (!template) throw new Error(`mail: unknown template ${job.template}`);
      const logId = pipeline && job.logId;
      // Admission is decided once: a retry is the same message, already counted.
      if (logId && retryCount === 0 && !(await pipeline.admit(logId, messageOf(job)))) return;
      const data = JSON.parse(deps.box.open(job.sealed, PURPOSE)) as Record<string, unknown>;
      const rendered = template.render(data, deps.context);
      try {
        await deps.transport.deliver({ ...rendered, from: deps.from, to: job.to, template: job.template });
      } catch (error) {
        if (logId) await pipeline.failed(logId, { error: (error as Error).message, attempts: retryCount + 1, final: retryCount >= options.retryLimit });
        throw error;
      }
      if (logId) await pipeline.sent(logId, { provider: deps.transport.kind, attempts: retryCount + 1 });
    },
    options,
  );
  return {
    transport: deps.transport,
    register(name, template, registration = {}) {
      if (templates.has(name)) throw new Error(`mail: template ${name} registered twice`);
      templates.set(name, { render: template as MailTemplate<Record<string, unknown>>, category: registration.category ?? 'security' });
    },
    async send(mail, sendOptions = {}) {
      if (!templates.has(mail.template)) throw new Error(`mail: unknown template ${mail.template}`);
      const job: MailJob = {
        to: mail.to, template: mail.template, sealed: deps.box.seal(JSON.stringify(mail.data ?? {}), PURPOSE), ...(mail.userId ? { userId: mail.userId } : {}),
      };
      if (pipeline) job.logId = await pipeline.queued(sendOptions.tx, messageOf(job));
      return deps.jobs.enqueue(MAIL_QUEUE, job, sendOptions.tx ? { tx: sendOptions.tx } : {});
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
