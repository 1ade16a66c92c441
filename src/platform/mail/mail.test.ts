import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import type { AddressObject, ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.js';
import { startSmtpSink, type SmtpSink } from '../../../test/helpers/smtp.js';
import { DeliveryError } from '../delivery/index.js';
import { createOutboxTransport, createSmtpTransport, listOutbox, type MailTransport } from './index.js';

/*
 * The mail transports on their own against a real SMTP server (smtp-server) and the development
 * outbox. Mail through the whole app is tested in test/communications/mail.test.ts.
 */

const FROM = 'Tessera <no-reply@example.com>';

/** A port nothing listens on (just now). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return list.flatMap((entry) => entry.value.map((mailbox) => mailbox.address ?? ''));
}

const unique = (label: string): string => `${label}-${randomBytes(4).toString('hex')}@example.org`;

/** A header's value as it was on the wire (mailparser folds List-* headers into one `list` object). */
const rawHeader = (mail: ParsedMail, name: string): string | undefined =>
  mail.headerLines.find((line) => line.key === name.toLowerCase())?.line.replace(/^[^:]+:\s*/, '');

describe('SMTP transport against a real SMTP server', () => {
  /** Per recipient: the reply codes of its next DATA commands (then accepted). */
  const refusals = new Map<string, number[]>();
  let smtp: SmtpSink;
  let transport: MailTransport;
  beforeAll(async () => {
    smtp = await startSmtpSink({ reject: (_attempt, { rcptTo }) => refusals.get(rcptTo[0]!)?.shift() ?? false });
    transport = createSmtpTransport(smtp.url);
  });
  afterAll(async () => {
    await transport?.close();
    await smtp?.close();
  });

  it('delivers sender, recipient, subject, both parts and extra headers, and returns the Message-ID', async () => {
    expect(transport.kind).toBe('smtp');
    const to = unique('ada');
    const receipt = await transport.deliver({
      id: 'com_test', from: FROM, to, template: 'test.hello', subject: 'Hello Ada <Lovelace>', text: 'Hi Ada, plain part',
      html: '<p>Hi Ada, <b>html</b> part</p>',
      headers: { 'List-Unsubscribe': '<https://id.example.com/u/abc>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
    const message = await smtp.waitFor((m) => m.rcptTo.includes(to), 5_000, `mail to ${to}`);
    expect(message.envelopeFrom).toBe('no-reply@example.com');
    expect(addresses(message.mail.from)).toEqual(['no-reply@example.com']);
    expect(message.mail.from?.value[0]?.name).toBe('Tessera');
    expect(addresses(message.mail.to)).toEqual([to]);
    expect(message.subject).toBe('Hello Ada <Lovelace>');
    expect(message.text.trim()).toBe('Hi Ada, plain part');
    expect(message.html).toBe('<p>Hi Ada, <b>html</b> part</p>');
    expect(rawHeader(message.mail, 'List-Unsubscribe')).toBe('<https://id.example.com/u/abc>');
    expect(rawHeader(message.mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(receipt.providerMessageId).toMatch(/^<.+@.+>$/);
    expect(receipt.providerMessageId).toBe(message.mail.messageId);
  });

  it('a mail without html or headers goes as plain text', async () => {
    const to = unique('plain');
    await transport.deliver({ from: FROM, to, template: 'test.plain', subject: 'Plain', text: 'Only text' });
    const message = await smtp.waitFor((m) => m.rcptTo.includes(to), 5_000, `mail to ${to}`);
    expect(message.html).toBeNull();
    expect(message.text.trim()).toBe('Only text');
    expect(rawHeader(message.mail, 'List-Unsubscribe')).toBeUndefined();
  });

  it('a 5xx answer is a permanent DeliveryError with the reply code; nothing is accepted', async () => {
    const to = unique('gone');
    refusals.set(to, [550]);
    const error = await transport.deliver({ from: FROM, to, template: 'test.hello', subject: 'S', text: 'T' }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ permanent: true, status: 550 });
    expect((error as Error).message).toMatch(/550/);
    expect(smtp.messagesTo(to)).toEqual([]);
  });

  it('a 4xx answer (451) is a temporary DeliveryError: the same mail is accepted later', async () => {
    const to = unique('later');
    refusals.set(to, [451]);
    const error = await transport.deliver({ from: FROM, to, template: 'test.hello', subject: 'S', text: 'T' }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ permanent: false, status: 451 });
    expect(smtp.messagesTo(to)).toEqual([]);
    await transport.deliver({ from: FROM, to, template: 'test.hello', subject: 'S', text: 'T' });
    expect(smtp.messagesTo(to)).toHaveLength(1);
  });

  it('a refused login (535) is not the message\'s fault: a temporary DeliveryError, so mail waits for the credentials to be fixed', async () => {
    const strict = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'], allowInsecureAuth: true, disabledCommands: ['STARTTLS'], logger: false,
      onAuth: (_auth, _session, callback) => callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 })),
    });
    await new Promise<void>((resolve) => strict.listen(0, '127.0.0.1', () => resolve()));
    const { port } = strict.server.address() as AddressInfo;
    const locked = createSmtpTransport(`smtp://tessera:wrong@127.0.0.1:${port}`);
    try {
      const error = await locked.deliver({ from: FROM, to: unique('auth'), template: 'test.hello', subject: 'S', text: 'T' }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(DeliveryError);
      expect(error).toMatchObject({ permanent: false, status: 535 });
    } finally {
      await locked.close();
      await new Promise<void>((resolve) => strict.close(() => resolve()));
    }
  });

  it('a relay that does not answer is a temporary DeliveryError without a reply code; verify() says so too', async () => {
    const down = createSmtpTransport(`smtp://127.0.0.1:${await freePort()}`);
    try {
      const error = await down.deliver({ from: FROM, to: unique('nobody'), template: 'test.hello', subject: 'S', text: 'T' }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(DeliveryError);
      expect(error).toMatchObject({ permanent: false, status: undefined });
      await expect(down.verify()).rejects.toThrow();
    } finally {
      await down.close();
    }
    await expect(transport.verify()).resolves.toBeUndefined();
  });
});

describe('outbox transport', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('pglite');
  });
  afterAll(async () => t?.destroy());

  it('stores the mail in the development outbox and returns the entry id', async () => {
    const transport = createOutboxTransport(t.db);
    expect(transport.kind).toBe('outbox');
    const receipt = await transport.deliver({
      from: FROM, to: 'dev@example.org', template: 'test.hello', subject: 'Hello', text: 'Hi', html: '<p>Hi</p>', headers: { 'List-Unsubscribe': '<https://x/u>' },
    });
    const [entry] = await listOutbox(t.db, { limit: 10 });
    expect(entry).toMatchObject({
      id: receipt.providerMessageId, from: FROM, to: 'dev@example.org', template: 'test.hello', subject: 'Hello', text: 'Hi', html: '<p>Hi</p>', headers: { 'List-Unsubscribe': '<https://x/u>' },
    });
    await expect(transport.verify()).resolves.toBeUndefined();
  });
});
