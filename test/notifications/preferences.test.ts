import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { testClient } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { drainMail, uniqueEmail, waitForMail } from '../helpers/outbox.js';
import { expectProblem, PROBLEM } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { createSecretBox } from '../../src/platform/crypto/secret-box.js';
import { createUnsubscribeLinks } from '../../src/modules/notifications/index.js';

/*
 * Notification preferences (GET/PUT /v1/me/notification-preferences) and signed one-click
 * unsubscribe links (RFC 8058): the List-Unsubscribe headers of non-security mail, the GET page that
 * changes nothing, the POST that turns the category off (or suppresses an address with no user),
 * and the messenger honouring both (opted_out, suppressed) while security mail still goes out.
 */

const CATEGORIES = ['security', 'account', 'organization', 'product', 'marketing'] as const;
const ALL_ON = Object.fromEntries(CATEGORIES.map((category) => [category, { email: true, sms: true, push: true, in_app: true }]));
const SETTLED = ['sent', 'delivered', 'failed', 'bounced', 'complained', 'blocked_channel_disabled', 'suppressed', 'opted_out', 'rate_limited'];

type Categories = Record<string, Record<string, boolean>>;

const invitationData = () => ({ token: 'tok', org_name: 'Acme', role: 'member', expires_at: new Date(Date.now() + 86_400_000).toISOString() });

describe.each(engineCases())('notification preferences and unsubscribe on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let admin: { id: string; token: string };
    const api = testClient(() => app);
    const { call, query } = api;
    const preferenceRows = (userId: string) =>
      query<{ category: string; channel: string; enabled: boolean }>('SELECT category, channel, enabled FROM notification_preferences WHERE user_id = $1 ORDER BY category, channel', [userId]);
    const preferenceAudit = (userId: string) =>
      query<{ actor_id: string; reason: string | null; changes: Record<string, unknown> }>(
        "SELECT actor_id, reason, changes FROM audit_events WHERE action = 'notifications.preferences_changed' AND target_id = $1 ORDER BY id",
        [userId],
      );
    const logsTo = (recipient: string) =>
      query<{ id: string; template: string; category: string; channel: string; status: string; reason: string | null }>(
        'SELECT id, template, category, channel, status, reason FROM communication_logs WHERE lower(recipient) = lower($1) ORDER BY id',
        [recipient],
      );
    const settled = (recipient: string, count: number) =>
      waitFor(async () => {
        const rows = await logsTo(recipient);
        return rows.length === count && rows.every((row) => SETTLED.includes(row.status)) && rows;
      }, 10_000, `${count} settled log entries for ${recipient}`);
    const getPrefs = (token: string | null) => call('GET', '/v1/me/notification-preferences', token);
    const putPrefs = (token: string | null, payload: unknown) => call('PUT', '/v1/me/notification-preferences', token, payload);
    /** The path and query of an absolute link, for inject. */
    const pathOf = (url: string): string => {
      const parsed = new URL(url);
      return parsed.pathname + parsed.search;
    };
    const oneClick = (path: string, headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }, payload = 'List-Unsubscribe=One-Click') =>
      app.server.inject({ method: 'POST', url: path, headers, payload });
    /** Sends an organization-category mail (an invitation) and returns its unsubscribe link from the List-Unsubscribe header. */
    async function invitationLink(to: string): Promise<string> {
      const after = new Date();
      await app.context.messenger.notify({ channel: 'email', to, template: 'orgs.invitation', data: invitationData(), category: 'organization' });
      const mail = await waitForMail(app, { to, template: 'orgs.invitation', after });
      expect(mail.headers).toEqual({ 'List-Unsubscribe': expect.stringMatching(/^<https?:\/\/[^>]+\/v1\/unsubscribe\?token=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/), 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' });
      return /^<(.+)>$/.exec(mail.headers!['List-Unsubscribe']!)![1]!;
    }

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = await api.platformAdmin();
    });
    afterAll(async () => app?.destroy());

    it('GET: every category and channel on by default; 401 without a token', async () => {
      const user = await api.signedIn('defaults');
      const res = await getPrefs(user.token);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ categories: ALL_ON });
      expect(await preferenceRows(user.user.id)).toEqual([]);
      expectProblem(await getPrefs(null), 401, 'unauthorized');
      expectProblem(await putPrefs(null, { categories: { marketing: { email: false } } }), 401, 'unauthorized');
      expectProblem(await getPrefs('not-a-token'), 401, 'invalid_token');
    });

    it('documents the routes in OpenAPI (the unsubscribe pages as text/html)', async () => {
      const res = await call('GET', '/openapi.json', null);
      expect(res.statusCode, res.body).toBe(200);
      type Operation = { responses: Record<string, { content?: Record<string, unknown> }> };
      const paths = res.json<{ paths: Record<string, Record<string, Operation>> }>().paths;
      expect(Object.keys(paths['/v1/me/notification-preferences']!).sort()).toEqual(['get', 'put']);
      expect(Object.keys(paths['/v1/unsubscribe']!).sort()).toEqual(['get', 'post']);
      expect(Object.keys(paths['/v1/unsubscribe']!.get!.responses['200']!.content!)).toEqual(['text/html']);
      expect(Object.keys(paths['/v1/unsubscribe']!.post!.responses['200']!.content!).sort()).toEqual(['application/json', 'text/html']);
    });

    it('PUT merges a partial change, answers and stores the whole state, audits what changed; the messenger honours it (opted_out)', async () => {
      const user = await api.signedIn('put');
      const res = await putPrefs(user.token, { categories: { marketing: { email: false, sms: false }, product: { push: false } } });
      expect(res.statusCode, res.body).toBe(200);
      const expected: Categories = structuredClone(ALL_ON);
      expected.marketing!.email = false;
      expected.marketing!.sms = false;
      expected.product!.push = false;
      expect(res.json()).toEqual({ categories: expected });
      expect((await getPrefs(user.token)).json()).toEqual({ categories: expected });
      expect(await preferenceRows(user.user.id)).toEqual([
        { category: 'marketing', channel: 'email', enabled: false },
        { category: 'marketing', channel: 'sms', enabled: false },
        { category: 'product', channel: 'push', enabled: false },
      ]);
      expect(await preferenceAudit(user.user.id)).toEqual([
        {
          actor_id: user.user.id, reason: null,
          changes: { 'product.push': { before: true, after: false }, 'marketing.email': { before: true, after: false }, 'marketing.sms': { before: true, after: false } },
        },
      ]);

      // Merged, not replaced: what the body does not name stays; the same values again change nothing (no new audit entry).
      const second = await putPrefs(user.token, { categories: { marketing: { email: true }, organization: { in_app: false } } });
      expect(second.statusCode, second.body).toBe(200);
      expected.marketing!.email = true;
      expected.organization!.in_app = false;
      expect(second.json()).toEqual({ categories: expected });
      expect((await putPrefs(user.token, { categories: { organization: { in_app: false } } })).json()).toEqual({ categories: expected });
      // The whole document as GET returns it is accepted too (security all true).
      expect((await putPrefs(user.token, { categories: expected })).json()).toEqual({ categories: expected });
      const audit = await preferenceAudit(user.user.id);
      expect(audit).toHaveLength(2);
      expect(audit[1]!.changes).toEqual({ 'organization.in_app': { before: true, after: false }, 'marketing.email': { before: false, after: true } });

      // What the messenger reads (Recipients.allows): organization in-app is off, email is on.
      await app.context.messenger.notify({ channel: 'in_app', userId: user.user.id, template: 'orgs.invitation', data: invitationData() });
      const [stopped] = await settled(user.user.id, 1);
      expect(stopped).toMatchObject({ channel: 'in_app', category: 'organization', status: 'opted_out', reason: 'the user turned off organization messages on in_app' });
      await app.context.messenger.notify({ channel: 'email', userId: user.user.id, template: 'orgs.invitation', data: invitationData() });
      await waitForMail(app, { to: user.email, template: 'orgs.invitation' });
      // Another user's preferences are untouched.
      const other = await api.signedIn('other');
      expect((await getPrefs(other.token)).json()).toEqual({ categories: ALL_ON });
    });

    it('PUT refuses turning any security channel off as a whole (422 with the path, nothing written) and malformed bodies (400)', async () => {
      const user = await api.signedIn('security');
      const refused = expectProblem(await putPrefs(user.token, { categories: { marketing: { email: false }, security: { sms: false, email: true, push: false } } }), 422, 'security_required');
      expect(refused.errors).toEqual([
        { path: 'body.categories.security.sms', message: 'must stay true' },
        { path: 'body.categories.security.push', message: 'must stay true' },
      ]);
      expect(await preferenceRows(user.user.id)).toEqual([]);
      expect(await preferenceAudit(user.user.id)).toEqual([]);
      expect((await getPrefs(user.token)).json()).toEqual({ categories: ALL_ON });

      // Security on is accepted (and stores nothing: it cannot be anything else).
      const on = await putPrefs(user.token, { categories: { security: { email: true, sms: true, push: true, in_app: true } } });
      expect(on.statusCode, on.body).toBe(200);
      expect(on.json()).toEqual({ categories: ALL_ON });
      expect(await preferenceRows(user.user.id)).toEqual([]);

      const malformed: unknown[] = [
        {},
        { categories: {} },
        { categories: { marketing: {} } },
        { categories: { newsletters: { email: false } } },
        { categories: { marketing: { fax: false } } },
        { categories: { marketing: { email: 'nope' } } },
        { categories: { marketing: { email: { on: false } } } },
        { categories: { marketing: { email: [false, true] } } },
        { categories: { marketing: { email: false } }, extra: true },
        { categories: [] },
      ];
      for (const body of malformed) expectProblem(await putPrefs(user.token, body), 400, 'validation_failed');
      expect(await preferenceRows(user.user.id)).toEqual([]);
    });

    it('non-security mail carries List-Unsubscribe + List-Unsubscribe-Post; security mail does not', async () => {
      const user = await api.signedIn('headers');
      const link = await invitationLink(user.email);
      expect(link.startsWith(`${app.config.publicUrl}/v1/unsubscribe?token=`)).toBe(true);
      // The link is the signed token of the user and the category (no address when there is a user).
      const token = new URL(link).searchParams.get('token')!;
      const payload = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      expect(payload).toEqual({ u: user.user.id, c: 'organization', iat: expect.any(Number) });
      const mail = await waitForMail(app, { to: user.email, template: 'orgs.invitation' });
      // The same link in the body of both parts (the templates' layout renders `unsubscribe_url`).
      expect(mail.text).toContain(link);
      expect(mail.html).toContain(`href="${link}"`);

      const after = new Date();
      await app.context.messenger.notify({ channel: 'email', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString() } });
      const security = await waitForMail(app, { to: user.email, template: 'accounts.password_changed', after });
      expect(security.headers).toBeNull();
      expect(security.text).not.toContain('/v1/unsubscribe');
      expect(security.html ?? '').not.toContain('/v1/unsubscribe');
    });

    it('GET shows a confirmation page with a POST form and changes nothing; forged, altered or security tokens are 400', async () => {
      const user = await api.signedIn('page');
      const link = await invitationLink(user.email);
      const page = await app.server.inject({ method: 'GET', url: pathOf(link) });
      expect(page.statusCode, page.body).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      const token = new URL(link).searchParams.get('token')!;
      expect(page.body).toContain(`<form method="post" action="?token=${token}">`);
      expect(page.body).toContain('<input type="hidden" name="List-Unsubscribe" value="One-Click">');
      expect(page.body).toContain('organization emails');
      // GET again (a link scanner): nothing written.
      expect((await app.server.inject({ method: 'GET', url: pathOf(link) })).statusCode).toBe(200);
      expect(await preferenceRows(user.user.id)).toEqual([]);
      expect(await preferenceAudit(user.user.id)).toEqual([]);

      const [body, signature] = token.split('.') as [string, string];
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
      const key = createSecretBox(TEST_SECRET).deriveKey('unsubscribe-link v1');
      const signWith = (secretKey: Buffer, claims: Record<string, unknown>): string => {
        const encoded = Buffer.from(JSON.stringify(claims)).toString('base64url');
        return `${encoded}.${createHmac('sha256', secretKey).update(encoded).digest('base64url')}`;
      };
      // Our own key signs what the tests forge below: proof that only the checks listed refuse them.
      expect(signWith(key, payload)).toBe(token);
      const otherKey = createSecretBox('another-secret-0123456789-abcdefghijklmnopqrstuvwxyz').deriveKey('unsubscribe-link v1');
      const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1);
      const forged = [
        'garbage',
        `${body}.`,
        `.${signature}`,
        `${body}.${signature}.extra`,
        `${body}.${flipped}`,
        // Payload changed (another user), signature kept.
        `${Buffer.from(JSON.stringify({ ...payload, u: admin.id })).toString('base64url')}.${signature}`,
        // Signed with another TESSERA_SECRET.
        signWith(otherKey, payload),
        // Genuinely signed, but for the security category, or malformed claims.
        signWith(key, { ...payload, c: 'security' }),
        signWith(key, { ...payload, c: 'newsletters' }),
        signWith(key, { c: 'organization', iat: 1 }),
        signWith(key, { u: 'not-a-user-id', c: 'organization', iat: 1 }),
        signWith(key, { u: null, c: 'organization', iat: 1 }),
        `${Buffer.from('not json').toString('base64url')}.${createHmac('sha256', key).update(Buffer.from('not json').toString('base64url')).digest('base64url')}`,
      ];
      for (const bad of forged) {
        const url = `/v1/unsubscribe?token=${encodeURIComponent(bad)}`;
        expectProblem(await app.server.inject({ method: 'GET', url }), 400, 'invalid_unsubscribe_token');
        expectProblem(await oneClick(url), 400, 'invalid_unsubscribe_token');
      }
      expectProblem(await app.server.inject({ method: 'GET', url: '/v1/unsubscribe' }), 400, 'validation_failed');
      expectProblem(await oneClick('/v1/unsubscribe'), 400, 'validation_failed');
      expect(await preferenceRows(user.user.id)).toEqual([]);
      expect(await preferenceRows(admin.id)).toEqual([]);
      // The signer itself refuses to make a security link.
      expect(() => createUnsubscribeLinks({ key, publicUrl: 'http://x' }).sign({ userId: user.user.id, recipient: user.email, category: 'security' })).toThrow();
    });

    it('POST one-click turns the category off on email (audited, idempotent); the next such mail is opted_out, security mail still goes out', async () => {
      const user = await api.signedIn('oneclick');
      const link = await invitationLink(user.email);
      const res = await oneClick(pathOf(link));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toContain('application/json');
      expect(res.json()).toEqual({ unsubscribed: true, scope: 'preferences', category: 'organization' });
      const expected: Categories = structuredClone(ALL_ON);
      expected.organization!.email = false;
      expect((await getPrefs(user.token)).json()).toEqual({ categories: expected });
      expect(await preferenceRows(user.user.id)).toEqual([{ category: 'organization', channel: 'email', enabled: false }]);
      expect(await preferenceAudit(user.user.id)).toEqual([{ actor_id: user.user.id, reason: 'one-click unsubscribe link', changes: { 'organization.email': { before: true, after: false } } }]);

      // Again, as multipart (how some providers post it), with no body, and from the page's form (HTML answer): same state, no new audit entry.
      const boundary = 'xYzBoundary';
      const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
      expect((await oneClick(pathOf(link), { 'content-type': `multipart/form-data; boundary=${boundary}` }, multipart)).statusCode).toBe(200);
      expect((await app.server.inject({ method: 'POST', url: pathOf(link) })).statusCode).toBe(200);
      const browser = await oneClick(pathOf(link), { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' });
      expect(browser.statusCode).toBe(200);
      expect(browser.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(browser.body).toContain('You are unsubscribed');
      expect(await preferenceAudit(user.user.id)).toHaveLength(1);
      // A body larger than any one-click post is refused, not read.
      const huge = await oneClick(pathOf(link), { 'content-type': 'application/x-www-form-urlencoded' }, `List-Unsubscribe=One-Click&pad=${'x'.repeat(10_000)}`);
      expect(huge.statusCode).toBe(413);
      expect(huge.headers['content-type']).toContain(PROBLEM);

      // The next organization mail is stopped and logged; a security mail still goes out.
      const before = (await logsTo(user.email)).length;
      await app.context.messenger.notify({ channel: 'email', to: user.email, template: 'orgs.invitation', data: invitationData(), category: 'organization' });
      await app.context.messenger.notify({ channel: 'email', userId: user.user.id, template: 'accounts.password_changed', data: { at: new Date().toISOString() } });
      const rows = await settled(user.email, before + 2);
      expect(rows.slice(-2).map((row) => [row.template, row.status])).toEqual([
        ['orgs.invitation', 'opted_out'],
        ['accounts.password_changed', 'sent'],
      ]);
      await waitForMail(app, { to: user.email, template: 'accounts.password_changed' });
      // As the admin log shows it.
      const listed = await call('GET', `/v1/admin/communications/logs?recipient=${encodeURIComponent(user.email)}&status=opted_out`, admin.token);
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json<{ data: { template: string; reason: string }[] }>().data).toEqual([
        expect.objectContaining({ template: 'orgs.invitation', status: 'opted_out', reason: 'the user turned off organization messages on email' }),
      ]);
      // Only email was turned off: organization in-app still reaches the user.
      await app.context.messenger.notify({ channel: 'in_app', userId: user.user.id, template: 'orgs.invitation', data: invitationData() });
      expect((await settled(user.user.id, 1))[0]).toMatchObject({ channel: 'in_app', status: 'sent' });
    });

    it('an address that is no user is put on the email suppression list (reason unsubscribed); the next mail to it is suppressed', async () => {
      const address = uniqueEmail('invitee');
      const link = await invitationLink(address);
      const token = new URL(link).searchParams.get('token')!;
      expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'))).toEqual({ u: null, r: address, c: 'organization', iat: expect.any(Number) });
      const page = await app.server.inject({ method: 'GET', url: pathOf(link) });
      expect(page.body).toContain('This address will receive no more email from us.');
      expect(await query('SELECT recipient FROM communication_suppressions WHERE recipient = $1', [address])).toEqual([]);

      const res = await oneClick(pathOf(link));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ unsubscribed: true, scope: 'suppression', category: 'organization' });
      expect((await oneClick(pathOf(link))).statusCode).toBe(200);
      const list = await call('GET', '/v1/admin/communications/suppressions?channel=email', admin.token);
      expect(list.json<{ data: unknown[] }>().data).toContainEqual({ channel: 'email', recipient: address, reason: 'unsubscribed', created_at: expect.any(String) });

      await app.context.messenger.notify({ channel: 'email', to: address, template: 'orgs.invitation', data: invitationData(), category: 'organization' });
      const rows = await settled(address, 2);
      expect(rows[1]).toMatchObject({ template: 'orgs.invitation', status: 'suppressed' });
      expect(rows[1]!.reason).toContain('unsubscribed');
      await drainMail(app);
    });
  });
});
