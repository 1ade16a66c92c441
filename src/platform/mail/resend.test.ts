import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeResend, type FakeResend } from '../../../test/helpers/providers.js';
import { DeliveryError } from '../delivery/index.js';
import { createResendTransport } from './resend.js';
import type { OutgoingMail } from './mail.js';

/*
 * The Resend transport against a local server speaking Resend's API: what it sends, what it keeps
 * from the answer, and which refusals are permanent (the message is bad) or transient (the
 * provider or our account with it is: the messages wait).
 */

const mail = (overrides: Partial<OutgoingMail> = {}): OutgoingMail => ({
  id: `com_${Math.random().toString(36).slice(2, 12)}`,
  from: 'Tessera <no-reply@example.com>',
  to: 'ada@example.com',
  template: 'test.hello',
  subject: 'Hello Ada',
  text: 'Hi Ada',
  html: '<p>Hi Ada</p>',
  ...overrides,
});

async function failureOf(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

/** A TCP server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Resend transport', () => {
  let resend: FakeResend;
  beforeAll(async () => {
    resend = await startFakeResend();
  });
  afterAll(async () => resend?.close());

  it('POSTs {from, to: [to], subject, html, text, headers} with the bearer key and our id as Idempotency-Key; the answer id is the provider message id', async () => {
    const transport = createResendTransport({ apiKey: resend.apiKey, apiUrl: `${resend.url}/` });
    expect(transport.kind).toBe('resend');
    const outgoing = mail({ headers: { 'List-Unsubscribe': '<https://id.example.com/u/x>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } });
    const receipt = await transport.deliver(outgoing);
    const sent = resend.emails.find((e) => e.idempotencyKey === outgoing.id)!;
    expect(receipt).toEqual({ providerMessageId: sent.id });
    expect(sent.id).toMatch(/^[0-9a-f-]{36}$/);
    const request = resend.requests.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', path: '/emails' });
    expect(request.headers).toMatchObject({ authorization: `Bearer ${resend.apiKey}`, 'content-type': 'application/json', 'idempotency-key': outgoing.id });
    expect(JSON.parse(request.body)).toEqual({
      from: outgoing.from, to: ['ada@example.com'], subject: 'Hello Ada', text: 'Hi Ada', html: '<p>Hi Ada</p>',
      headers: { 'List-Unsubscribe': '<https://id.example.com/u/x>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });

    // Text only, no headers: neither key is sent.
    await transport.deliver(mail({ html: undefined, headers: undefined }));
    expect(Object.keys(JSON.parse(resend.requests.at(-1)!.body) as object).sort()).toEqual(['from', 'subject', 'text', 'to']);
  });

  it('a retry of the same message (same id) is one email at Resend, with the same provider message id', async () => {
    const transport = createResendTransport({ apiKey: resend.apiKey, apiUrl: resend.url });
    const outgoing = mail();
    const first = await transport.deliver(outgoing);
    const second = await transport.deliver(outgoing);
    expect(second).toEqual(first);
    expect(resend.emails.filter((e) => e.idempotencyKey === outgoing.id)).toHaveLength(1);
  });

  it('429 and 5xx are transient; 422 and other refusals of the message are permanent, with the status and Resend\'s name in the message', async () => {
    const transport = createResendTransport({ apiKey: resend.apiKey, apiUrl: resend.url });
    const before = resend.emails.length;
    const cases: [500 | 503 | 429 | 422, boolean, string][] = [
      [500, false, 'application_error'],
      [503, false, 'application_error'],
      [429, false, 'rate_limit_exceeded'],
      [422, true, 'validation_error'],
    ];
    for (const [status, permanent, name] of cases) {
      resend.fail(status, 1);
      const error = await failureOf(transport.deliver(mail()));
      expect({ status: error.status, permanent: error.permanent }, `${status}`).toEqual({ status, permanent });
      expect(error.message).toContain(`(${status} ${name})`);
    }
    expect(resend.emails.length).toBe(before);
    // The switch was for one request each: the next one goes through.
    expect((await transport.deliver(mail())).providerMessageId).toEqual(expect.any(String));
  });

  it('a refused key (401/403) is transient, not a permanent failure of every message; the key never appears in the error', async () => {
    const wrong = createResendTransport({ apiKey: 're_wrong_key_123456', apiUrl: resend.url });
    const error = await failureOf(wrong.deliver(mail()));
    expect(error).toMatchObject({ status: 403, permanent: false });
    expect(error.message).toContain('invalid_api_key');
    expect(error.message).not.toContain('re_wrong_key_123456');
    resend.fail(401, 1);
    const right = createResendTransport({ apiKey: resend.apiKey, apiUrl: resend.url });
    expect(await failureOf(right.deliver(mail()))).toMatchObject({ status: 401, permanent: false });
  });

  it('no answer (connection refused, timeout) is transient', async () => {
    const closed = await startFakeResend();
    await closed.close();
    const refused = await failureOf(createResendTransport({ apiKey: 're_x_12345678', apiUrl: closed.url }).deliver(mail()));
    expect(refused).toMatchObject({ permanent: false, status: undefined });
    expect(refused.message).toBe('could not reach Resend (ECONNREFUSED)');

    const silent = await silentServer();
    try {
      const timedOut = await failureOf(createResendTransport({ apiKey: 're_x_12345678', apiUrl: silent.url, timeoutMs: 300 }).deliver(mail()));
      expect(timedOut).toMatchObject({ permanent: false, message: 'could not reach Resend (timed out)' });
    } finally {
      await silent.close();
    }
  });

  it('verify(): passes when Resend takes the key (also a sending-only key), fails otherwise, and asks Resend at most once per 30 s', async () => {
    const domainChecks = () => resend.requests.filter((r) => r.path === '/domains').length;
    const before = domainChecks();
    const good = createResendTransport({ apiKey: resend.apiKey, apiUrl: resend.url });
    await good.verify();
    await good.verify();
    expect(domainChecks()).toBe(before + 1);
    expect(resend.requests.at(-1)!.headers.authorization).toBe(`Bearer ${resend.apiKey}`);

    const bad = createResendTransport({ apiKey: 're_wrong_key_123456', apiUrl: resend.url });
    await expect(bad.verify()).rejects.toThrow('Resend answered 403 invalid_api_key');
    // The failure is kept too: a readiness probe does not turn into an API call per probe.
    await expect(bad.verify()).rejects.toThrow('Resend answered 403 invalid_api_key');
    expect(domainChecks()).toBe(before + 2);

    const restricted = await startFakeResend({ restrictedKey: true });
    try {
      await createResendTransport({ apiKey: restricted.apiKey, apiUrl: restricted.url }).verify();
      expect(restricted.requests.map((r) => r.path)).toEqual(['/domains']);
    } finally {
      await restricted.close();
    }
  });
});
