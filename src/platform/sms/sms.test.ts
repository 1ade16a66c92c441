import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewaySignatureValid, startFakeSmsGateway, startFakeTwilio, type FakeSmsGateway, type FakeTwilio } from '../../../test/helpers/providers.js';
import { DeliveryError } from '../delivery/index.js';
import { createHttpSmsProvider, createTwilioSmsProvider, smsHttpSignature } from './index.js';

/*
 * The SMS providers against local servers speaking their formats: Twilio's Messages API (Basic
 * auth, form fields, its JSON errors), and the generic HTTP contract (JSON body signed with
 * HMAC-SHA256, verified by the fake gateway from the documented format alone).
 */

const CALLBACK = 'https://id.example.com/v1/hooks/twilio';
let counter = 0;
const message = (to = '+15555550123', text = 'Your code is 123456') => ({ id: `com_test${(counter += 1)}`, to, text });

async function failureOf(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe('Twilio SMS provider', () => {
  let twilio: FakeTwilio;
  const provider = (overrides: Partial<Parameters<typeof createTwilioSmsProvider>[0]> = {}) =>
    createTwilioSmsProvider({ accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006', apiUrl: twilio.url, statusCallbackUrl: CALLBACK, ...overrides });
  beforeAll(async () => {
    twilio = await startFakeTwilio();
  });
  afterAll(async () => twilio?.close());

  it('POSTs To, From, Body and StatusCallback form-encoded with HTTP Basic sid:token; the SM sid is the provider message id', async () => {
    const sms = provider();
    expect(sms.kind).toBe('twilio');
    const receipt = await sms.send(message('+15555550123', 'Código: 123456 & more'));
    const sent = twilio.messages.at(-1)!;
    expect(receipt).toEqual({ providerMessageId: sent.sid, cost: null });
    expect(sent.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(sent.form).toEqual({ To: '+15555550123', From: '+15005550006', Body: 'Código: 123456 & more', StatusCallback: CALLBACK });
    const request = twilio.requests.at(-1)!;
    expect(request.path).toBe(`/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`);
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`);
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('an MG… sender goes as MessagingServiceSid; no callback URL, no StatusCallback', async () => {
    const service = `MG${'a1'.repeat(16)}`;
    await provider({ from: service, statusCallbackUrl: null }).send(message());
    expect(twilio.messages.at(-1)!.form).toEqual({ To: '+15555550123', MessagingServiceSid: service, Body: 'Your code is 123456' });
  });

  it('the price, when Twilio gives one, is the cost (a positive amount in its currency)', async () => {
    twilio.price = '-0.00750';
    try {
      expect((await provider().send(message())).cost).toEqual({ amount: '0.00750', currency: 'USD' });
    } finally {
      twilio.price = null;
    }
  });

  it('an invalid or unsubscribed number (400 21211, 21610) is permanent; 429 and 5xx are transient; Twilio\'s code is in the message', async () => {
    const invalid = await failureOf(provider().send(message('555-0123')));
    expect(invalid).toMatchObject({ status: 400, permanent: true });
    expect(invalid.message).toContain('(400, error 21211)');

    twilio.unsubscribed.add('+15555550199');
    const stopped = await failureOf(provider().send(message('+15555550199')));
    expect(stopped).toMatchObject({ status: 400, permanent: true });
    expect(stopped.message).toContain('error 21610');

    for (const status of [429, 500, 503] as const) {
      twilio.fail(status, 1);
      const error = await failureOf(provider().send(message()));
      expect({ status: error.status, permanent: error.permanent }).toEqual({ status, permanent: false });
    }
    const count = twilio.messages.length;
    await provider().send(message());
    expect(twilio.messages.length).toBe(count + 1);
  });

  it('wrong credentials (401 20003) are transient: the account is at fault, not the message; the token is not in the error', async () => {
    const error = await failureOf(provider({ authToken: 'not-the-token-0000' }).send(message()));
    expect(error).toMatchObject({ status: 401, permanent: false });
    expect(error.message).toContain('error 20003');
    expect(error.message).not.toContain('not-the-token-0000');
  });

  it('no answer is transient', async () => {
    const closed = await startFakeTwilio();
    await closed.close();
    const error = await failureOf(createTwilioSmsProvider({ accountSid: closed.accountSid, authToken: closed.authToken, from: '+15005550006', apiUrl: closed.url }).send(message()));
    expect(error).toMatchObject({ permanent: false, message: 'could not reach Twilio (ECONNREFUSED)' });
  });
});

describe('generic HTTP SMS provider', () => {
  let gateway: FakeSmsGateway;
  beforeAll(async () => {
    gateway = await startFakeSmsGateway();
  });
  afterAll(async () => gateway?.close());

  it('POSTs {id, to, text} signed with X-Tessera-Signature that the gateway verifies from the contract; the gateway\'s id is the provider message id', async () => {
    const sms = createHttpSmsProvider({ url: gateway.url, secret: gateway.secret });
    expect(sms.kind).toBe('http');
    const sent = message('+15555550123', 'Tu código: 654321');
    const receipt = await sms.send(sent);
    const request = gateway.requests.at(-1)!;
    expect(request.signatureValid).toBe(true);
    expect(request.json).toEqual({ id: sent.id, to: sent.to, text: sent.text });
    expect(request.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': sent.id });
    expect(request.headers['x-tessera-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(receipt.providerMessageId).toMatch(/^gw_[0-9a-f]{16}$/);
  });

  it('the signature covers the timestamp and the exact body: another secret, another body or an old timestamp does not verify', async () => {
    const body = JSON.stringify({ id: 'com_x', to: '+15555550123', text: 'hi' });
    const t = Math.floor(Date.now() / 1000);
    const header = smsHttpSignature(gateway.secret, body, t);
    expect(gatewaySignatureValid(gateway.secret, header, body)).toBe(true);
    expect(gatewaySignatureValid('another-secret-0123456789', header, body)).toBe(false);
    expect(gatewaySignatureValid(gateway.secret, header, body.replace('hi', 'ho'))).toBe(false);
    expect(gatewaySignatureValid(gateway.secret, header.replace(`t=${t}`, `t=${t + 1}`), body)).toBe(false);
    expect(gatewaySignatureValid(gateway.secret, smsHttpSignature(gateway.secret, body, t - 600), body)).toBe(false);

    // Signed with the wrong secret, the gateway refuses (401): a configuration fault, transient.
    const wrong = await failureOf(createHttpSmsProvider({ url: gateway.url, secret: 'not-the-gateway-secret-0000' }).send(message()));
    expect(wrong).toMatchObject({ status: 401, permanent: false });
    expect(gateway.requests.at(-1)!.signatureValid).toBe(false);
  });

  it('4xx refusals are permanent except 408/409/429; 5xx and no answer are transient', async () => {
    const sms = createHttpSmsProvider({ url: gateway.url, secret: gateway.secret });
    const cases: [number, boolean][] = [[400, true], [404, true], [422, true], [408, false], [409, false], [429, false], [500, false], [502, false]];
    for (const [status, permanent] of cases) {
      gateway.fail(status, 1);
      const error = await failureOf(sms.send(message()));
      expect({ status: error.status, permanent: error.permanent }, `${status}`).toEqual({ status, permanent });
    }
    const closed = await startFakeSmsGateway();
    await closed.close();
    expect(await failureOf(createHttpSmsProvider({ url: closed.url, secret: closed.secret }).send(message()))).toMatchObject({ permanent: false, message: 'could not reach the SMS gateway (ECONNREFUSED)' });
  });
});
