import { createECDH, createHmac, randomBytes, timingSafeEqual, type ECDH } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';
import { Webhook } from 'standardwebhooks';

/*
 * Local servers that speak the message providers' real wire formats, for contract and end-to-end
 * tests: Resend's email API and its Svix-signed webhooks, Twilio's Messages API and its signed
 * status callbacks, the generic HTTP SMS contract, and a Web Push service (HTTPS, VAPID, aes128gcm).
 * Each records what it received and can be told to fail.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A failure switch: answer `status` for the next `times` requests, or until `recover()`. */
interface Failure {
  status: number;
  remaining: number | null;
}

function failureControls(): { take(): number | null; fail(status: number, times?: number): void; recover(): void } {
  let failure: Failure | null = null;
  return {
    take() {
      if (!failure) return null;
      const { status } = failure;
      if (failure.remaining !== null) {
        failure.remaining -= 1;
        if (failure.remaining <= 0) failure = null;
      }
      return status;
    },
    fail(status, times) {
      failure = { status, remaining: times ?? null };
    },
    recover() {
      failure = null;
    },
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Resend

export interface ResendEmail {
  id: string;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  headers?: Record<string, string>;
  idempotencyKey: string | null;
}

export interface ResendEvent {
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

export interface SignedWebhook {
  headers: Record<string, string>;
  body: string;
}

export interface FakeResend {
  /** Base URL for RESEND_API_URL. */
  url: string;
  apiKey: string;
  /** `whsec_…`, for RESEND_WEBHOOK_SECRET. */
  webhookSecret: string;
  requests: RecordedRequest[];
  /** Emails accepted (one per idempotency key). */
  emails: ResendEmail[];
  fail(status: 500 | 429 | 422 | 401 | 403 | 503, times?: number): void;
  recover(): void;
  /** An event as Resend posts it (`email.delivered`, `email.bounced`…) about an email id. */
  event(type: string, emailId: string, data?: Record<string, unknown>): ResendEvent;
  /** Headers and body of a webhook delivery, signed like Svix does; `secret` forges with another one. */
  sign(event: ResendEvent | string, options?: { secret?: string; at?: Date; id?: string }): SignedWebhook;
  /** POSTs a signed webhook to `url` as Resend would; returns the answer's status. */
  postWebhook(url: string, event: ResendEvent | string, options?: { secret?: string; at?: Date; id?: string }): Promise<number>;
  close(): Promise<void>;
}

const resendProblem = (statusCode: number, name: string, message: string) => ({ statusCode, name, message });

export async function startFakeResend(options: { apiKey?: string; restrictedKey?: boolean } = {}): Promise<FakeResend> {
  const apiKey = options.apiKey ?? `re_${randomBytes(12).toString('hex')}`;
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const requests: RecordedRequest[] = [];
  const emails: ResendEmail[] = [];
  const byKey = new Map<string, ResendEmail>();
  const failures = failureControls();

  const server = createHttpServer(async (request, response) => {
    const body = (await readBody(request)).toString('utf8');
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push({ method: request.method ?? '', path, headers: request.headers, body });
    const authorization = request.headers.authorization;
    if (!authorization?.startsWith('Bearer ')) return sendJson(response, 401, resendProblem(401, 'missing_api_key', 'Missing API key in the authorization header.'));
    if (authorization !== `Bearer ${apiKey}`) return sendJson(response, 403, resendProblem(403, 'invalid_api_key', 'API key is invalid.'));
    if (request.method === 'GET' && path === '/domains') {
      if (options.restrictedKey) return sendJson(response, 401, resendProblem(401, 'restricted_api_key', 'This API key is restricted to only send emails.'));
      return sendJson(response, 200, { object: 'list', has_more: false, data: [] });
    }
    if (request.method !== 'POST' || path !== '/emails') return sendJson(response, 404, resendProblem(404, 'not_found', 'The requested endpoint does not exist.'));
    const failure = failures.take();
    if (failure === 500 || failure === 503) return sendJson(response, failure, resendProblem(failure, 'application_error', 'An unexpected error occurred.'));
    if (failure === 429) return sendJson(response, 429, resendProblem(429, 'rate_limit_exceeded', 'Too many requests. You can only make 2 requests per second.'), { 'retry-after': '1' });
    if (failure === 422) return sendJson(response, 422, resendProblem(422, 'validation_error', 'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.'));
    if (failure === 401) return sendJson(response, 401, resendProblem(401, 'missing_api_key', 'Missing API key in the authorization header.'));
    if (failure === 403) return sendJson(response, 403, resendProblem(403, 'invalid_api_key', 'API key is invalid.'));
    let payload: Partial<ResendEmail>;
    try {
      payload = JSON.parse(body) as Partial<ResendEmail>;
    } catch {
      return sendJson(response, 400, resendProblem(400, 'validation_error', 'We found an error with one or more fields in the request.'));
    }
    const missing = (['from', 'to', 'subject'] as const).filter((field) => !payload[field]);
    if (missing.length > 0) return sendJson(response, 422, resendProblem(422, 'missing_required_field', `Missing \`${missing.join('`, `')}\` field.`));
    if (!Array.isArray(payload.to) || payload.to.some((to) => typeof to !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(to))) {
      return sendJson(response, 422, resendProblem(422, 'validation_error', 'Invalid `to` field.'));
    }
    const idempotencyKey = typeof request.headers['idempotency-key'] === 'string' ? request.headers['idempotency-key'] : null;
    const seen = idempotencyKey ? byKey.get(idempotencyKey) : undefined;
    if (seen) return sendJson(response, 200, { id: seen.id });
    const email: ResendEmail = { ...(payload as ResendEmail), id: crypto.randomUUID(), idempotencyKey };
    emails.push(email);
    if (idempotencyKey) byKey.set(idempotencyKey, email);
    return sendJson(response, 200, { id: email.id });
  });
  const port = await listen(server);

  const sign = (event: ResendEvent | string, signOptions: { secret?: string; at?: Date; id?: string } = {}): SignedWebhook => {
    const body = typeof event === 'string' ? event : JSON.stringify(event);
    const id = signOptions.id ?? `msg_${randomBytes(12).toString('hex')}`;
    const at = signOptions.at ?? new Date();
    const signature = new Webhook(signOptions.secret ?? webhookSecret).sign(id, at, body);
    return {
      headers: { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(Math.floor(at.getTime() / 1000)), 'svix-signature': signature, 'user-agent': 'Svix-Webhooks/1.0' },
      body,
    };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    webhookSecret,
    requests,
    emails,
    fail: failures.fail,
    recover: failures.recover,
    event(type, emailId, data = {}) {
      const email = emails.find((e) => e.id === emailId);
      return {
        type,
        created_at: new Date().toISOString(),
        data: {
          created_at: new Date().toISOString(),
          email_id: emailId,
          from: email?.from ?? 'Tessera <no-reply@example.com>',
          to: email?.to ?? ['someone@example.com'],
          subject: email?.subject ?? 'A message',
          ...data,
        },
      };
    },
    sign,
    async postWebhook(url, event, signOptions) {
      const { headers, body } = sign(event, signOptions);
      const response = await fetch(url, { method: 'POST', headers, body });
      await response.text();
      return response.status;
    },
    close: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// Twilio

export interface TwilioMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  form: Record<string, string>;
}

export interface SignedCallback {
  /** The URL that was signed (the StatusCallback Twilio was given). */
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface FakeTwilio {
  /** Base URL for TWILIO_API_URL. */
  url: string;
  accountSid: string;
  authToken: string;
  requests: RecordedRequest[];
  messages: TwilioMessage[];
  /** Numbers that texted STOP: sending to them is refused with 21610. */
  unsubscribed: Set<string>;
  /** `price` in the answers (Twilio's negative amount, e.g. '-0.00750'); default null, as at creation. */
  price: string | null;
  fail(status: 500 | 503 | 429 | 401, times?: number): void;
  recover(): void;
  /** A status callback about a message as Twilio posts it, signed with the auth token (or `authToken`, to forge). */
  signCallback(sid: string, status: string, options?: { errorCode?: string; authToken?: string; url?: string }): SignedCallback;
  /** POSTs the status callback to `target` (default: the StatusCallback URL itself); returns the answer's status. */
  postCallback(sid: string, status: string, options?: { errorCode?: string; authToken?: string; target?: string }): Promise<number>;
  close(): Promise<void>;
}

/** Twilio's request signature (https://www.twilio.com/docs/usage/security#validating-requests), written out here independently of Tessera's. */
export function twilioSignatureOf(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params).sort().reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

const twilioError = (status: number, code: number, message: string) => ({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

export async function startFakeTwilio(options: { accountSid?: string; authToken?: string } = {}): Promise<FakeTwilio> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');
  const requests: RecordedRequest[] = [];
  const messages: TwilioMessage[] = [];
  const failures = failureControls();
  const state = { price: null as string | null, unsubscribed: new Set<string>() };
  const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

  const server = createHttpServer(async (request, response) => {
    const body = (await readBody(request)).toString('utf8');
    const url = (request.url ?? '/').split('?')[0]!;
    requests.push({ method: request.method ?? '', path: url, headers: request.headers, body });
    const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
    if (request.headers.authorization !== expected) return sendJson(response, 401, twilioError(401, 20003, 'Authenticate'));
    if (request.method !== 'POST' || url !== path) return sendJson(response, 404, twilioError(404, 20404, `The requested resource ${url} was not found`));
    const failure = failures.take();
    if (failure === 429) return sendJson(response, 429, twilioError(429, 20429, 'Too Many Requests'));
    if (failure === 401) return sendJson(response, 401, twilioError(401, 20003, 'Authenticate'));
    if (failure) return sendJson(response, failure, twilioError(failure, 20500, 'An internal server error has occurred'));
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return sendJson(response, 400, twilioError(400, 21604, "A 'To' phone number is required."));
    }
    const form = Object.fromEntries(new URLSearchParams(body));
    const to = form.To ?? '';
    if (!to) return sendJson(response, 400, twilioError(400, 21604, "A 'To' phone number is required."));
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return sendJson(response, 400, twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`));
    if (!form.From && !form.MessagingServiceSid) return sendJson(response, 400, twilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."));
    if (!form.Body) return sendJson(response, 400, twilioError(400, 21602, 'Message body is required.'));
    if (state.unsubscribed.has(to)) return sendJson(response, 400, twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'));
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const message: TwilioMessage = {
      sid, to, from: form.From ?? null, messagingServiceSid: form.MessagingServiceSid ?? null, body: form.Body, statusCallback: form.StatusCallback ?? null, form,
    };
    messages.push(message);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    return sendJson(response, 201, {
      account_sid: accountSid, api_version: '2010-04-01', body: form.Body, date_created: now, date_sent: null, date_updated: now, direction: 'outbound-api',
      error_code: null, error_message: null, from: form.From ?? null, messaging_service_sid: form.MessagingServiceSid ?? null, num_media: '0', num_segments: '1',
      price: state.price, price_unit: 'USD', sid, status: form.MessagingServiceSid ? 'accepted' : 'queued', subresource_uris: { media: `${path.replace('.json', '')}/${sid}/Media.json` },
      to, uri: `${path.replace('.json', '')}/${sid}.json`,
    });
  });
  const port = await listen(server);

  const signCallback = (sid: string, status: string, signOptions: { errorCode?: string; authToken?: string; url?: string } = {}): SignedCallback => {
    const message = messages.find((m) => m.sid === sid);
    const url = signOptions.url ?? message?.statusCallback;
    if (!url) throw new Error(`no StatusCallback for ${sid}`);
    const params: Record<string, string> = {
      AccountSid: accountSid, ApiVersion: '2010-04-01', From: message?.from ?? '+15005550006', MessageSid: sid, MessageStatus: status,
      SmsSid: sid, SmsStatus: status, To: message?.to ?? '+15555550100',
      ...(signOptions.errorCode ? { ErrorCode: signOptions.errorCode } : {}),
    };
    return {
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignatureOf(signOptions.authToken ?? authToken, url, params), 'user-agent': 'TwilioProxy/1.1' },
      body: new URLSearchParams(params).toString(),
    };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    messages,
    get unsubscribed() {
      return state.unsubscribed;
    },
    get price() {
      return state.price;
    },
    set price(value) {
      state.price = value;
    },
    fail: failures.fail,
    recover: failures.recover,
    signCallback,
    async postCallback(sid, status, postOptions = {}) {
      const { url, headers, body } = signCallback(sid, status, postOptions);
      const target = postOptions.target ? postOptions.target + new URL(url).pathname : url;
      const response = await fetch(target, { method: 'POST', headers, body });
      await response.text();
      return response.status;
    },
    close: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// The generic HTTP SMS gateway

export interface GatewayRequest extends RecordedRequest {
  /** Whether X-Tessera-Signature verified (HMAC-SHA256 over "<t>.<raw body>", t within 5 minutes). */
  signatureValid: boolean;
  json: { id?: string; to?: string; text?: string } | null;
}

export interface FakeSmsGateway {
  url: string;
  secret: string;
  requests: GatewayRequest[];
  fail(status: number, times?: number): void;
  recover(): void;
  close(): Promise<void>;
}

/** Verifies the signature the way an integrator would, from the documented contract alone. */
export function gatewaySignatureValid(secret: string, header: string | undefined, rawBody: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  const parts = header.split(',').map((part) => part.trim().split('=', 2) as [string, string | undefined]);
  const t = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return parts.some(([key, value]) => key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value) && timingSafeEqual(Buffer.from(value, 'hex'), expected));
}

export async function startFakeSmsGateway(options: { secret?: string } = {}): Promise<FakeSmsGateway> {
  const secret = options.secret ?? randomBytes(24).toString('hex');
  const requests: GatewayRequest[] = [];
  const failures = failureControls();
  const server = createHttpServer(async (request, response) => {
    const body = (await readBody(request)).toString('utf8');
    const signatureValid = gatewaySignatureValid(secret, request.headers['x-tessera-signature'] as string | undefined, body);
    let json: GatewayRequest['json'] = null;
    try {
      json = JSON.parse(body) as GatewayRequest['json'];
    } catch {
      json = null;
    }
    requests.push({ method: request.method ?? '', path: (request.url ?? '/').split('?')[0]!, headers: request.headers, body, signatureValid, json });
    if (!signatureValid) return sendJson(response, 401, { error: 'bad signature' });
    const failure = failures.take();
    if (failure) return sendJson(response, failure, { error: `failing with ${failure}` });
    if (!json?.to || !json.text || !json.id) return sendJson(response, 422, { error: 'id, to and text are required' });
    return sendJson(response, 202, { id: `gw_${randomBytes(8).toString('hex')}` });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/sms`, secret, requests, fail: failures.fail, recover: failures.recover, close: () => closeServer(server) };
}

// ---------------------------------------------------------------------------------------------
// A Web Push service

/** http_ece (web-push's encryption) has no types; only decrypt is needed. */
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

let certificate: { key: string; cert: string } | null = null;
/** A self-signed certificate for 127.0.0.1 (push services speak only HTTPS; web-push uses `https.request`). */
function selfSignedCertificate(): { key: string; cert: string } {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-push-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    certificate = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PushRequest extends Omit<RecordedRequest, 'body'> {
  body: Buffer;
}

export interface TestSubscription {
  target: { endpoint: string; keys: { p256dh: string; auth: string } };
  /** Decrypts an aes128gcm body sent to this subscription, as the browser would. */
  decrypt(body: Buffer): string;
}

export interface FakePushService {
  /** `https://127.0.0.1:<port>`: the audience of VAPID tokens for its endpoints. */
  origin: string;
  /** Trusts the service's self-signed certificate (pass to the web-push provider). */
  agent: Agent;
  requests: PushRequest[];
  /** A new subscription on this service with real P-256 keys and an auth secret. */
  subscribe(): TestSubscription;
  /** Endpoints the service no longer knows (answered 410 Gone). */
  gone: Set<string>;
  fail(status: number, times?: number): void;
  recover(): void;
  close(): Promise<void>;
}

export async function startFakePushService(): Promise<FakePushService> {
  const requests: PushRequest[] = [];
  const failures = failureControls();
  const gone = new Set<string>();
  const { key, cert } = selfSignedCertificate();
  const server = createHttpsServer({ key, cert }, async (request, response) => {
    const body = await readBody(request);
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push({ method: request.method ?? '', path, headers: request.headers, body });
    if (gone.has(path)) return sendJson(response, 410, { code: 410, errno: 106, error: 'Gone', message: 'Request did not validate subscription not found' });
    const failure = failures.take();
    if (failure) return sendJson(response, failure, { code: failure, error: 'failing' });
    if (!String(request.headers.authorization).startsWith('vapid t=')) return sendJson(response, 401, { code: 401, error: 'Unauthorized' });
    response.writeHead(201, { location: `https://127.0.0.1${path}/m/${randomBytes(8).toString('hex')}`, 'content-length': 0 });
    response.end();
  });
  const port = await listen(server as unknown as Server);
  const origin = `https://127.0.0.1:${port}`;
  return {
    origin,
    agent: new Agent({ ca: cert }),
    requests,
    gone,
    subscribe() {
      const receiver = createECDH('prime256v1');
      const publicKey = receiver.generateKeys();
      const auth = randomBytes(16).toString('base64url');
      return {
        target: { endpoint: `${origin}/wpush/v2/${randomBytes(12).toString('hex')}`, keys: { p256dh: publicKey.toString('base64url'), auth } },
        decrypt: (body) => ece.decrypt(body, { version: 'aes128gcm', privateKey: receiver, authSecret: auth }).toString('utf8'),
      };
    },
    fail: failures.fail,
    recover: failures.recover,
    close: () => closeServer(server as unknown as Server),
  };
}

/**
 * Checks a VAPID `Authorization: vapid t=<jwt>, k=<key>` header (RFC 8292): the key is the
 * expected application server key and the ES256 token verifies against it, for `audience`.
 */
export async function verifyVapid(header: string | undefined, expectedPublicKey: string, audience: string): Promise<JWTPayload> {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!match) throw new Error(`not a VAPID authorization: ${header}`);
  const [, token, key] = match as unknown as [string, string, string];
  if (key !== expectedPublicKey) throw new Error('the VAPID key is not the application server key');
  const point = Buffer.from(key, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw new Error('the VAPID key is not an uncompressed P-256 point');
  const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const { payload } = await jwtVerify(token, await importJWK(jwk, 'ES256'), { audience, algorithms: ['ES256'] });
  return payload;
}
