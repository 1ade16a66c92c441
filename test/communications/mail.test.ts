import { randomBytes } from 'node:crypto';
import type { AddressObject, ParsedMail } from 'mailparser';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { drainMail, uniqueEmail } from '../helpers/outbox.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp.js';

/*
 * Mail through the whole app to a real SMTP server (smtp-server): `context.mail.send` → communication
 * log → queue → SMTP, with the log following the server's answers (accepted, a temporary 451, a
 * permanent 550).
 */

const FROM = 'Tessera <no-reply@example.com>';
const PUBLIC_URL = 'https://id.example.com';

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return list.flatMap((entry) => entry.value.map((mailbox) => mailbox.address ?? ''));
}

/** A header's value as it was on the wire (mailparser folds List-* headers into one `list` object). */
const rawHeader = (mail: ParsedMail, name: string): string | undefined =>
  mail.headerLines.find((line) => line.key === name.toLowerCase())?.line.replace(/^[^:]+:\s*/, '');

/** An app on `engine` (PostgreSQL with Redis under its own prefix) delivering by SMTP, with quick retries. */
async function smtpApp(engine: Engine, smtp: SmtpSink): Promise<TestApp> {
  const messengerQueue = { retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 };
  const env = { SMTP_URL: smtp.url, MAIL_FROM: FROM, PUBLIC_URL };
  if (engine === 'pglite') return createTestApp({ engine, env, build: { messengerQueue } });
  const cache = await createRedisCache(inject('services').redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` });
  return createTestApp({ engine, env, build: { messengerQueue, cache } });
}

describe.each(engineCases())('mail through the app to a real SMTP server on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    /** Per recipient: the reply codes of its next DATA commands (then accepted), and how many DATA it sent. */
    const refusals = new Map<string, number[]>();
    const dataCommands = new Map<string, number>();
    let smtp: SmtpSink;
    let app: TestApp;

    const api = testClient(() => app);
    const { logWhen } = api;

    beforeAll(async () => {
      smtp = await startSmtpSink({
        reject: (_attempt, { rcptTo }) => {
          const to = rcptTo[0]!;
          dataCommands.set(to, (dataCommands.get(to) ?? 0) + 1);
          return refusals.get(to)?.shift() ?? false;
        },
      });
      app = await smtpApp(engine, smtp);
    });
    afterAll(async () => {
      await app?.destroy();
      await smtp?.close();
    });

    it('a mail sent with context.mail.send arrives rendered, and its log entry is sent by smtp with the Message-ID', async () => {
      expect(app.context.mailTransport.kind).toBe('smtp');
      const to = uniqueEmail('changed');
      const at = new Date().toISOString();
      const id = await app.context.mail.send({ to, template: 'accounts.password_changed', data: { at, ip: '203.0.113.7' } });
      expect(id).toMatch(/^com_[0-9a-z]{26}$/);
      const message = await smtp.waitFor((m) => m.rcptTo.includes(to), 10_000, `mail to ${to}`);
      expect(addresses(message.mail.from)).toEqual(['no-reply@example.com']);
      expect(message.subject).toMatch(/password/i);
      expect(message.text).toContain('203.0.113.7');
      expect(message.html).toContain('203.0.113.7');
      // A security mail carries no unsubscribe link.
      expect(rawHeader(message.mail, 'List-Unsubscribe')).toBeUndefined();
      const log = await logWhen(id, ['sent']);
      expect(log).toMatchObject({
        channel: 'email', requested_channel: null, template: 'accounts.password_changed', category: 'security', recipient: to, user_id: null,
        status: 'sent', provider: 'smtp', attempts: 1, error: null, reason: null,
      });
      expect(log.provider_message_id).toBe(message.mail.messageId);
      expect(smtp.messagesTo(to)).toHaveLength(1);
    });

    it('a non-security mail carries the one-click unsubscribe headers', async () => {
      const to = uniqueEmail('invitee');
      const id = await app.context.mail.send({
        to, template: 'orgs.invitation', data: { token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date(Date.now() + 86_400_000).toISOString() },
      });
      const message = await smtp.waitFor((m) => m.rcptTo.includes(to), 10_000, `mail to ${to}`);
      expect(rawHeader(message.mail, 'List-Unsubscribe')).toMatch(/^<https:\/\/id\.example\.com\/[^>]+>$/);
      expect(rawHeader(message.mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
      expect(await logWhen(id, ['sent'])).toMatchObject({ category: 'organization', status: 'sent', provider: 'smtp' });
    });

    it('a mail to a registered address is linked to its user, found by the address when the flow names none', async () => {
      const { email, user } = await api.signedUp('owner');
      const id = await app.context.mail.send({ to: email.toUpperCase(), template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null } });
      expect(await logWhen(id, ['sent'])).toMatchObject({ user_id: user.id, status: 'sent' });
      const given = await app.context.mail.send({ to: uniqueEmail('other'), userId: user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null } });
      expect(await logWhen(given, ['sent'])).toMatchObject({ user_id: user.id });
    });

    it('a temporary 451 refusal: the log says retrying with the error, then sent on the next attempt (attempts 2)', async () => {
      const to = uniqueEmail('retry');
      refusals.set(to, [451, 451, 451, 451, 451, 451]);
      const id = await app.context.mail.send({ to, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null } });
      const retrying = await logWhen(id, ['retrying', 'sent', 'failed']);
      // The server accepts from now on.
      refusals.delete(to);
      expect(retrying).toMatchObject({ status: 'retrying', attempts: 1, provider: 'smtp' });
      expect(retrying.error).toMatch(/451|Try again later/);
      expect(smtp.messagesTo(to)).toEqual([]);
      const sent = await logWhen(id, ['sent', 'failed']);
      expect(sent).toMatchObject({ status: 'sent', provider: 'smtp', error: null });
      expect(sent.attempts).toBe(dataCommands.get(to));
      expect(sent.attempts).toBe(2);
      expect(smtp.messagesTo(to)).toHaveLength(1);
    });

    it('a permanent 550 refusal: failed after one attempt, never retried', async () => {
      const to = uniqueEmail('rejected');
      refusals.set(to, [550, 550, 550]);
      const id = await app.context.mail.send({ to, template: 'accounts.password_changed', data: { at: new Date().toISOString(), ip: null } });
      const failed = await logWhen(id, ['failed', 'sent']);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, provider: 'smtp', provider_message_id: null });
      expect(failed.error).toMatch(/550/);
      // Nothing is left to retry it: the queue drains and the server saw exactly one try.
      await drainMail(app);
      expect(dataCommands.get(to)).toBe(1);
      expect(await api.logEntry(id)).toMatchObject({ status: 'failed', attempts: 1 });
      expect(smtp.messagesTo(to)).toEqual([]);
    });
  });
});
