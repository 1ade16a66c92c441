import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressObject } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TEST_SECRET, type TestApp } from '../../../test/helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/db.js';
import { createSecretBox } from '../crypto/secret-box.js';
import { createJobs, type JobInfo, type Jobs } from '../jobs/jobs.js';
import { createMail, createSmtpTransport, escapeHtml, MAIL_QUEUE, type Mail, type MailTemplate, type MailTransport } from './index.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../../../test/helpers/smtp.js';

const FROM = 'Tessera <no-reply@example.com>';
const PUBLIC_URL = 'https://id.example.com';

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

function messagesTo(smtp: SmtpSink, to: string): SinkMessage[] {
  return smtp.messagesTo(to);
}

interface HelloData {
  name: string;
  token: string;
}

const hello: MailTemplate<HelloData> = (data, ctx) => {
  const link = `${ctx.publicUrl}/verify?token=${encodeURIComponent(data.token)}`;
  return {
    subject: `Hello ${data.name} from ${ctx.productName}`,
    text: `Hi ${data.name}, confirm here: ${link}`,
    html: `<p>Hi ${escapeHtml(data.name)}, <a href="${escapeHtml(link)}">confirm</a></p>`,
  };
};

describe('mail through the app to a real SMTP server', () => {
  let smtp: SmtpSink;
  let app: TestApp;
  beforeAll(async () => {
    smtp = await startSmtpSink();
    app = await createTestApp({
      env: { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, MAIL_FROM: FROM, PUBLIC_URL },
      build: {
        // Runs before the job workers start, so the worker never sees a job without its template.
        extraRoutes: (_server, context) => context.mail.register('test.hello', hello),
      },
    });
  });
  afterAll(async () => {
    await app?.destroy();
    await smtp?.close();
  });

  it('renders the template and delivers it with the configured sender and a link on PUBLIC_URL', async () => {
    expect(app.context.mail.transport.kind).toBe('smtp');
    const to = 'ada@example.org';
    await app.context.mail.send({ to, template: 'test.hello', data: { name: 'Ada <Lovelace>', token: 'tok-a/1' } });
    const [message] = await waitFor(() => messagesTo(smtp, to).length > 0 && messagesTo(smtp, to), 10_000, `mail to ${to}`);
    const { mail } = message!;
    expect(addresses(mail.from)).toEqual(['no-reply@example.com']);
    expect(mail.from?.value[0]?.name).toBe('Tessera');
    expect(addresses(mail.to)).toEqual([to]);
    expect(mail.subject).toBe('Hello Ada <Lovelace> from Tessera');
    expect(mail.text?.trim()).toBe(`Hi Ada <Lovelace>, confirm here: ${PUBLIC_URL}/verify?token=tok-a%2F1`);
    expect(mail.html).toBe(`<p>Hi Ada &lt;Lovelace&gt;, <a href="${PUBLIC_URL}/verify?token=tok-a%2F1">confirm</a></p>`);
    expect(messagesTo(smtp, to)).toHaveLength(1);
  });

  it('keeps the template data sealed while the job waits in the queue', async () => {
    const to = 'sealed@example.org';
    const secret = 'tok-secret-XYZ';
    const id = await app.context.mail.send({ to, template: 'test.hello', data: { name: 'Sealed', token: secret } });
    const { rows } = await app.context.db.sql.query<{ id: string; data: string }>(`SELECT id, data::text AS data FROM pgboss.job WHERE name = $1`, [MAIL_QUEUE]);
    const row = rows.find((candidate) => candidate.id === id);
    expect(row).toBeDefined();
    expect(row!.data).toContain('"sealed": "v1.');
    for (const { data } of rows) {
      expect(data).not.toContain(secret);
      expect(data).not.toContain('Sealed');
    }
    // It still arrives, opened and rendered.
    const [message] = await waitFor(() => messagesTo(smtp, to).length > 0 && messagesTo(smtp, to), 10_000, `mail to ${to}`);
    expect(message!.mail.text).toContain(`token=${secret}`);
    expect(app.logs.text()).not.toContain(secret);
  });

  it('refuses an unknown template at once and enqueues nothing', async () => {
    const count = async () => (await app.context.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1`, [MAIL_QUEUE])).rows[0]!.n;
    const before = await count();
    await expect(app.context.mail.send({ to: 'nobody@example.org', template: 'test.nope', data: {} })).rejects.toThrow(/unknown template test\.nope/);
    expect(await count()).toBe(before);
  });

  it('sends nothing when the enqueuing transaction rolls back, and sends when it commits', async () => {
    const rolledBack = 'rolled-back@example.org';
    const committed = 'committed@example.org';
    await expect(
      app.context.db.transaction(async (tx) => {
        await app.context.mail.send({ to: rolledBack, template: 'test.hello', data: { name: 'Gone', token: 't' } }, { tx });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    const id = await app.context.db.transaction((tx) => app.context.mail.send({ to: committed, template: 'test.hello', data: { name: 'Kept', token: 't' } }, { tx }));
    expect(id).toEqual(expect.any(String));
    await waitFor(() => messagesTo(smtp, committed).length > 0, 10_000, `mail to ${committed}`);
    // Longer than two polls of the queue (1 s): a job from the rolled-back transaction would have run by now.
    await sleep(2_500);
    expect(messagesTo(smtp, rolledBack)).toHaveLength(0);
    expect(messagesTo(smtp, committed)).toHaveLength(1);
  });
});

describe('mail retries on transport failure', () => {
  let t: TestDatabase;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    t = await createTestDatabase('pglite');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => t?.destroy());

  /** The mail port on its own job queue, with 1 s retries and the shortest poll so a retry takes seconds. */
  async function startMail(transport: MailTransport): Promise<{ mail: Mail; jobs: Jobs; errors: Error[] }> {
    const jobs = createJobs(t.db);
    const errors: Error[] = [];
    jobs.onError((error) => errors.push(error));
    const mail = createMail({
      jobs,
      box: createSecretBox(TEST_SECRET),
      transport,
      from: FROM,
      context: { publicUrl: PUBLIC_URL, productName: 'Tessera' },
      queue: { retryDelaySeconds: 1, retryBackoff: false, pollingIntervalSeconds: 0.5 },
    });
    mail.register('test.hello', hello);
    await jobs.start();
    cleanups.push(async () => {
      await jobs.stop(2_000);
      await transport.close();
    });
    return { mail, jobs, errors };
  }

  async function jobState(jobs: Jobs, id: string): Promise<JobInfo | null> {
    return jobs.get(MAIL_QUEUE, id);
  }

  it('retries after a 451 temporary failure and delivers exactly once', async () => {
    const smtp = await startSmtpSink({ reject: (attempt) => attempt === 1 });
    cleanups.push(() => smtp.close());
    const { mail, jobs, errors } = await startMail(createSmtpTransport(`smtp://127.0.0.1:${smtp.port}`));
    const to = 'retry@example.org';
    const id = await mail.send({ to, template: 'test.hello', data: { name: 'Retry', token: 'r1' } });
    const [message] = await waitFor(() => messagesTo(smtp, to).length > 0 && messagesTo(smtp, to), 15_000, `mail to ${to}`);
    expect(message!.mail.subject).toBe('Hello Retry from Tessera');
    const job = await waitFor(async () => {
      const info = await jobState(jobs, id);
      return info?.state === 'completed' && info;
    }, 5_000, 'the mail job to complete');
    expect(job.retryCount).toBe(1);
    expect(smtp.attempts).toBe(2);
    expect(messagesTo(smtp, to)).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('keeps the mail while the relay is down and delivers once it is back', async () => {
    const port = await freePort();
    const { mail, jobs } = await startMail(createSmtpTransport(`smtp://127.0.0.1:${port}`));
    const to = 'later@example.org';
    const id = await mail.send({ to, template: 'test.hello', data: { name: 'Later', token: 'l1' } });
    // The first attempt fails (connection refused) and the job waits for its retry instead of failing.
    await waitFor(async () => ((await jobState(jobs, id))?.retryCount ?? 0) >= 1, 10_000, 'a failed first attempt');
    expect((await jobState(jobs, id))?.state).not.toBe('failed');
    const smtp = await startSmtpSink({ port });
    cleanups.push(() => smtp.close());
    await waitFor(() => messagesTo(smtp, to).length > 0, 15_000, `mail to ${to}`);
    await waitFor(async () => (await jobState(jobs, id))?.state === 'completed', 5_000, 'the mail job to complete');
    expect(messagesTo(smtp, to)).toHaveLength(1);
  });
});
