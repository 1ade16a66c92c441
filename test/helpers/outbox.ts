import { randomBytes } from 'node:crypto';
import type { App } from '../../src/app/app.js';
import { listOutbox, type OutboxEntry } from '../../src/platform/mail/index.js';
import { DELIVER_QUEUE } from '../../src/modules/communications/index.js';
import { RECOVERY_QUEUE } from '../../src/modules/mfa/index.js';

/** Queues whose jobs end in a mail: the delivery queue, and the jobs that decide whether to mail at all (MFA recovery). */
const MAIL_QUEUES = new Set([DELIVER_QUEUE, RECOVERY_QUEUE]);

/*
 * Mail in tests. Without SMTP_URL the app's job workers deliver mail to the development outbox
 * table, asynchronously (the queue polls every second): tests wait for a mail with a deadline,
 * and, to show that a mail was NOT sent, wait for the mail queue to drain before looking.
 */

export interface MailQuery {
  /** The recipient, compared case-insensitively. */
  to: string;
  /** Template name, e.g. `accounts.verify_email`. */
  template?: string;
  /** Only mail delivered after this moment, or with an outbox id greater than this one. */
  after?: Date | string;
}

/** A unique address for one test: `<label>-<random>@example.test`. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(5).toString('hex')}@example.test`;
}

function matches(entry: OutboxEntry, query: MailQuery): boolean {
  if (entry.to.toLowerCase() !== query.to.toLowerCase()) return false;
  if (query.template !== undefined && entry.template !== query.template) return false;
  if (query.after instanceof Date) return entry.createdAt.getTime() >= query.after.getTime();
  if (typeof query.after === 'string') return entry.id > query.after;
  return true;
}

/** Every delivered mail matching the query, newest first. */
export async function findMails(app: App, query: MailQuery): Promise<OutboxEntry[]> {
  const found: OutboxEntry[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await listOutbox(app.context.db, { limit: 200, ...(before ? { before } : {}) });
    found.push(...page.filter((entry) => matches(entry, query)));
    if (page.length < 200) return found;
    before = page[page.length - 1]!.id;
  }
}

/** Waits for a mail matching the query and returns the newest; throws after timeoutMs, naming what did arrive. */
export async function waitForMail(app: App, query: MailQuery, timeoutMs = 10_000): Promise<OutboxEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [newest] = await findMails(app, query);
    if (newest) return newest;
    if (Date.now() > deadline) {
      const arrived = (await findMails(app, { to: query.to })).map((entry) => `${entry.id} ${entry.template}`);
      throw new Error(`No ${query.template ?? 'mail'} to ${query.to} within ${timeoutMs} ms; the outbox holds for it: [${arrived.join(', ')}]`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits until no mail job (nor a job that may send one, like an MFA recovery request) is queued,
 * running or waiting for a retry: every mail asked for so far has been delivered (or has failed for
 * good). Use before asserting that a mail was not sent.
 */
export async function drainMail(app: App, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await app.context.jobs.counts();
    const pending = counts.filter((c) => MAIL_QUEUES.has(c.queue) && ['created', 'retry', 'active'].includes(c.state) && c.count > 0);
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`The mail queue did not drain within ${timeoutMs} ms: ${JSON.stringify(pending)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export type LinkPage = 'verify-email' | 'magic-link' | 'reset-password' | 'invitations/accept';

/** The token of the `/<page>?token=…` link in a mail's text part. */
export function linkToken(mail: Pick<OutboxEntry, 'text' | 'template'>, page: LinkPage): string {
  const match = new RegExp(`/${page}\\?token=([^\\s"'<>&]+)`).exec(mail.text);
  if (!match) throw new Error(`No /${page}?token= link in the ${mail.template} mail:\n${mail.text}`);
  return decodeURIComponent(match[1]!);
}

/** The 6-digit code of a mail's text part (a line of its own, indented). */
export function mailCode(mail: Pick<OutboxEntry, 'text' | 'template'>): string {
  const match = /^\s+(\d{6})\s*$/m.exec(mail.text);
  if (!match) throw new Error(`No 6-digit code in the ${mail.template} mail:\n${mail.text}`);
  return match[1]!;
}

export interface UserBody {
  id: string;
  email: string;
  email_verified: boolean;
  name: string | null;
  locale: string | null;
  timezone: string | null;
  created_at: string;
  updated_at: string;
}

export interface TokenBody {
  token_type: 'Bearer';
  access_token: string;
  refresh_token: string;
  expires_in: number;
  session_id: string;
  user: UserBody;
}

/**
 * Signs up (201 expected) without waiting for the verification mail. The account comes back
 * verified (its `email_verified` set straight in the database, as if the mail's link had been
 * followed by its owner), since sign-in needs a verified address by default; pass
 * `{ verified: false }` to keep it unverified. A taken address is left as it is.
 */
export async function signUp(app: App, email: string, password: string, name?: string, options: { verified?: boolean } = {}): Promise<UserBody> {
  const res = await app.server.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email, password, ...(name ? { name } : {}) } });
  if (res.statusCode !== 201) throw new Error(`signup of ${email} answered ${res.statusCode}: ${res.body}`);
  const user = res.json<{ user: UserBody }>().user;
  if (options.verified === false) return user;
  const { rows } = await app.context.db.sql.query<{ updated_at: Date }>(
    'UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1 RETURNING updated_at',
    [user.id],
  );
  return rows[0] ? { ...user, email_verified: true, updated_at: rows[0].updated_at.toISOString() } : user;
}

/**
 * Signs up, then verifies the address with the link of the verification mail, sending the password
 * with it (which keeps the password: see POST /v1/auth/verify-email); returns the verified user.
 */
export async function signUpAndVerify(app: App, email: string, password: string, name?: string): Promise<UserBody> {
  await signUp(app, email, password, name, { verified: false });
  const mail = await waitForMail(app, { to: email, template: 'accounts.verify_email' });
  const res = await app.server.inject({ method: 'POST', url: '/v1/auth/verify-email', payload: { token: linkToken(mail, 'verify-email'), password } });
  if (res.statusCode !== 200) throw new Error(`verify-email of ${email} answered ${res.statusCode}: ${res.body}`);
  return res.json<{ user: UserBody }>().user;
}

/** Signs in with a password (200 expected) and returns the token body. */
export async function login(app: App, email: string, password: string, headers: Record<string, string> = {}): Promise<TokenBody> {
  const res = await app.server.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password }, headers });
  if (res.statusCode !== 200) throw new Error(`login of ${email} answered ${res.statusCode}: ${res.body}`);
  return res.json<TokenBody>();
}
