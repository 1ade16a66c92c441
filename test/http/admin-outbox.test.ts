import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenFor, createTestApp, type TestApp } from '../helpers/app.js';
import { ACCESS_TOKEN_TYPE } from '../../src/platform/http/auth.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { testClient } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

const PROBLEM = 'application/problem+json';
const URL = '/v1/admin/outbox';

interface OutboxMessage {
  id: string;
  template: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
  created_at: string;
}
interface OutboxPage {
  data: OutboxMessage[];
  next_cursor: string | null;
}

describe('GET /v1/admin/outbox (development outbox, no SMTP_URL)', () => {
  let app: TestApp;
  let adminToken: string;
  let adminId: string;

  const api = testClient(() => app);
  const get = (url: string, token?: string) => api.call('GET', url, token ?? null);

  beforeAll(async () => {
    app = await createTestApp();
    const { user } = await app.context.admins.createPlatformAdmin({ email: 'admin@example.com', password: 'correct horse battery staple' });
    adminId = user.id;
    // A template of its own, through the templates service (as the admin API saves one).
    await app.context.templates.create(
      {
        name: 'test.hello', channel: 'email', locale: 'en', category: 'security', variables: ['name', 'token'],
        subject: 'Hello {{name}}', text: 'Hi {{name}}: {{url "/verify" token}}', html: '<p>Hi {{name}}</p>',
      },
      { id: adminId },
    );
    adminToken = await accessTokenFor(app, adminId);
  });
  afterAll(async () => app?.destroy());

  it('lists delivered mail newest first, and pages with limit and cursor', async () => {
    expect(app.context.mailTransport.kind).toBe('outbox');
    const page = async (query = ''): Promise<OutboxPage> => {
      const res = await get(`${URL}${query}`, adminToken);
      expect(res.statusCode).toBe(200);
      return res.json() as OutboxPage;
    };
    // One after the other, so "newest" is well defined: each is delivered before the next is sent.
    await app.context.mail.send({ to: 'first@example.org', template: 'test.hello', data: { name: 'First', token: 't1' } });
    await waitFor(async () => (await page()).data.length === 1, 10_000, 'the first mail in the outbox');
    await app.context.mail.send({ to: 'second@example.org', template: 'test.hello', data: { name: 'Second', token: 't2' } });
    const all = await waitFor(async () => {
      const body = await page();
      return body.data.length === 2 && body;
    }, 10_000, 'both mails in the outbox');

    expect(all.next_cursor).toBeNull();
    expect(all.data.map((m) => m.to)).toEqual(['second@example.org', 'first@example.org']);
    // The template's body in the house layout (signature and footer in the text part, the card in the html).
    expect(all.data[0]).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-z]{26}$/),
      template: 'test.hello',
      from: app.config.mailFrom,
      to: 'second@example.org',
      subject: 'Hello Second',
      text: `Hi Second: ${app.config.publicUrl}/verify?token=t2\n\n— Tessera\n\nThis email was sent by Tessera (${app.config.publicUrl}).\n`,
      html: expect.stringContaining('<p>Hi Second</p>'),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(all.data[0]!.html).toMatch(/^<!doctype html>.*<title>Hello Second<\/title>.*<\/html>$/s);
    expect(all.data[1]).toMatchObject({ subject: 'Hello First' });
    expect(all.data[1]!.text.startsWith(`Hi First: ${app.config.publicUrl}/verify?token=t1\n`)).toBe(true);
    expect(Date.parse(all.data[0]!.created_at)).toBeGreaterThanOrEqual(Date.parse(all.data[1]!.created_at));

    const first = await page('?limit=1');
    expect(first.data.map((m) => m.id)).toEqual([all.data[0]!.id]);
    expect(first.next_cursor).toBe(all.data[0]!.id);
    const second = await page(`?limit=1&cursor=${first.next_cursor}`);
    expect(second.data.map((m) => m.id)).toEqual([all.data[1]!.id]);
    expect(second.next_cursor).toBeNull();
  });

  it('answers 401 unauthorized without a token', async () => {
    const res = await get(URL);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    // A header that is not a bearer token counts as none.
    const basic = await api.call('GET', URL, null, undefined, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().code).toBe('unauthorized');
  });

  it('answers 401 invalid_token for a garbage or expired token', async () => {
    const expired = await app.context.keys.sign({}, { subject: adminId, expiresInSeconds: -60, type: ACCESS_TOKEN_TYPE });
    for (const token of ['garbage', 'a.b.c', expired]) {
      const res = await get(URL, token);
      expect(res.statusCode, token).toBe(401);
      expect(res.headers['content-type']).toContain(PROBLEM);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(res.json()).toMatchObject({ status: 401, code: 'invalid_token' });
    }
  });

  it('answers 401 for a token signed by another key, even under the real key id', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const { kid } = decodeProtectedHeader(adminToken);
    expect(kid).toEqual(expect.any(String));
    const forge = (header: { kid?: string }) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', typ: ACCESS_TOKEN_TYPE, ...header })
        .setIssuer(app.config.publicUrl)
        .setSubject(adminId)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    for (const token of [await forge({}), await forge({ kid: kid! }), await forge({ kid: 'jwk_someone_else' })]) {
      const res = await get(URL, token);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_token');
    }
  });

  it('answers 401 for a token of the right key but another type', async () => {
    const idToken = await app.context.keys.sign({}, { subject: adminId, expiresInSeconds: 300, type: 'JWT' });
    const res = await get(URL, idToken);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('invalid_token');
  });

  it('answers 403 forbidden for a signed-in user who is not a platform admin', async () => {
    const { user } = await api.seeded('plain');
    for (const subject of [user.id, newId('usr')]) {
      const res = await get(URL, await accessTokenFor(app, subject));
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toContain(PROBLEM);
      expect(res.json()).toMatchObject({ status: 403, code: 'forbidden' });
    }
  });

  it('answers 400 validation_failed for a bad limit or cursor', async () => {
    for (const query of ['?limit=0', '?limit=abc', '?limit=201', '?limit=1.5', '?cursor=not-a-cursor', '?unknown=1']) {
      const res = await get(`${URL}${query}`, adminToken);
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toContain(PROBLEM);
      const body = res.json();
      expect(body).toMatchObject({ status: 400, code: 'validation_failed' });
      expect(body.errors.length, query).toBeGreaterThan(0);
    }
  });
});
