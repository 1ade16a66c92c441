import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineApp, type TestApp } from '../helpers/app.js';
import { testClient, type Method, type Signed } from '../helpers/client.js';
import { engineCases } from '../helpers/db.js';
import { linkToken, waitForMail } from '../helpers/outbox.js';
import { expectProblem } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { createPostgresDatabase, type Database } from '../../src/platform/db/database.js';
import { createAudit } from '../../src/platform/events/index.js';
import { createTemplateService } from '../../src/modules/communications/index.js';
import { DEFAULT_TEMPLATES } from '../../src/modules/communications/communications.templates.defaults.js';

/*
 * Message templates in the database, through the admin API and the real delivery path: the seeded
 * system templates (idempotent, never over an admin's versions), versions (PUT), preview, activation
 * and rollback with the mail that goes out following the active version (dev outbox), locale
 * fallback, another instance following an activation within a second, every refusal (401, 403,
 * 404, 409, 422 with the line, 400), and the audit trail.
 */

const BASE = '/v1/admin/communications/templates';

interface Summary {
  id: string;
  name: string;
  channel: string;
  locale: string;
  category: string;
  description: string | null;
  active_version: number;
  system: boolean;
  created_at: string;
  updated_at: string;
}
interface Detail extends Summary {
  content: { version: number; active: boolean; subject: string | null; html: string | null; text: string; variables: string[]; created_by: string | null; created_at: string };
  versions: { version: number; active: boolean; created_by: string | null; created_at: string }[];
}
interface Rendered {
  version: number;
  locale: string;
  subject: string | null;
  html: string | null;
  text: string;
  sms: string;
}

describe.each(engineCases())('message templates on $engine', ({ engine, available }) => {
  describe.skipIf(!available)(engine, () => {
    let app: TestApp;
    let admin: { id: string; token: string };
    let member: Signed;
    const api = testClient(() => app);
    const { call, query } = api;
    async function ok<T>(method: Method, url: string, payload?: unknown, status = 200): Promise<T> {
      const res = await call(method, url, admin.token, payload);
      expect(res.statusCode, res.body).toBe(status);
      return res.json<T>();
    }
    async function find(name: string, channel: string, locale: string): Promise<Summary> {
      const page = await ok<{ data: Summary[] }>('GET', `${BASE}?name=${name}&channel=${channel}&locale=${locale}`);
      expect(page.data).toHaveLength(1);
      return page.data[0]!;
    }
    const counts = async () =>
      (await query<{ templates: number; versions: number }>('SELECT (SELECT count(*)::int FROM communication_templates) AS templates, (SELECT count(*)::int FROM communication_template_versions) AS versions'))[0]!;
    const auditOf = (templateId: string) =>
      query<{ action: string; actor_type: string; actor_id: string | null; changes: Record<string, { before?: unknown; after?: unknown }> }>(
        "SELECT action, actor_type, actor_id, changes FROM audit_events WHERE target_type = 'communication_template' AND target_id = $1 ORDER BY created_at, id",
        [templateId],
      );

    beforeAll(async () => {
      app = await createEngineApp(engine);
      admin = await api.platformAdmin();
      member = await api.signedIn('member');
    });
    afterAll(async () => app?.destroy());

    it('seeds every system template (English and Spanish, version 1) at start; seeding again, even twice at once, adds nothing', async () => {
      const before = await counts();
      expect(before.templates).toBeGreaterThanOrEqual(DEFAULT_TEMPLATES.length);
      const seeded = await query<{ n: number }>('SELECT count(*)::int AS n FROM communication_templates t JOIN communication_template_versions v ON v.template_id = t.id WHERE v.created_by IS NULL AND v.version = 1');
      expect(seeded[0]!.n).toBe(DEFAULT_TEMPLATES.length);

      const page = await ok<{ data: Summary[]; next_cursor: string | null }>('GET', `${BASE}?name=accounts.verify_email`);
      expect(page.next_cursor).toBeNull();
      expect(page.data.map((t) => `${t.channel}/${t.locale}`)).toEqual(['email/en', 'email/es', 'in_app/en', 'in_app/es', 'sms/en', 'sms/es']);
      expect(page.data[0]).toMatchObject({ id: expect.stringMatching(/^tpl_[0-9a-z]{26}$/), category: 'security', active_version: 1, system: true, description: expect.any(String) });
      expect((await find('orgs.invitation', 'email', 'es')).category).toBe('organization');

      // A second instance starting (here: the same seeding, twice at once on the same database).
      await Promise.all([app.context.templates.seed(), app.context.templates.seed()]);
      expect(await counts()).toEqual(before);
    });

    it('lists with filters and pages through with the cursor', async () => {
      const all: Summary[] = [];
      let cursor: string | null = null;
      do {
        const page: { data: Summary[]; next_cursor: string | null } = await ok('GET', `${BASE}?locale=es&channel=email&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.data.length).toBeLessThanOrEqual(5);
        all.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
      const expected = DEFAULT_TEMPLATES.filter((t) => t.locale === 'es' && t.channel === 'email').map((t) => t.name).sort();
      expect(all.map((t) => t.name)).toEqual(expected);
      expect(all.every((t) => t.locale === 'es' && t.channel === 'email')).toBe(true);
    });

    it('a PUT adds version 2 (not active); preview shows it; activating it changes the mail sent; activating 1 rolls back; all audited', async () => {
      const template = await find('accounts.password_reset', 'email', 'en');
      const v1 = await ok<Detail>('GET', `${BASE}/${template.id}`);
      expect(v1.content).toMatchObject({ version: 1, active: true, created_by: null, variables: ['token', 'expires_minutes'] });
      expect(v1.versions.map((v) => v.version)).toEqual([1]);

      const v2 = await ok<Detail>('PUT', `${BASE}/${template.id}`, {
        subject: 'New: reset your {{product_name}} password',
        html: '<p>Version two for {{product_name}}.</p>\n<p><a href="{{url "/reset-password" token}}">Reset</a> within {{plural expires_minutes "minute"}}</p>',
        text: 'Version two for {{product_name}}.\n\n{{url "/reset-password" token}}',
        variables: ['token', 'expires_minutes'],
      });
      expect(v2).toMatchObject({ id: template.id, active_version: 1, content: { version: 2, active: false, created_by: admin.id } });
      expect(v2.versions.map((v) => [v.version, v.active])).toEqual([[2, false], [1, true]]);

      // Preview of the new version, with hostile data: escaped in html, as written in text.
      const preview = await ok<Rendered>('POST', `${BASE}/${template.id}/preview`, { version: 2, data: { token: '<b>tok</b>', expires_minutes: 5, ignored: 'x' } });
      expect(preview).toMatchObject({ version: 2, locale: 'en', subject: 'New: reset your Tessera password' });
      expect(preview.html).toContain(`href="${app.config.publicUrl}/reset-password?token=%3Cb%3Etok%3C%2Fb%3E"`);
      expect(preview.html).toContain('within 5 minutes');
      expect(preview.text).toMatch(/^Version two for Tessera\./);
      // SMS carries the body without the mail's signature and footer.
      expect(preview.sms).toBe(`Version two for Tessera.\n\n${app.config.publicUrl}/reset-password?token=%3Cb%3Etok%3C%2Fb%3E`);
      const active = await ok<Rendered>('POST', `${BASE}/${template.id}/preview`, { data: { token: 't', expires_minutes: 5 } });
      expect(active.version).toBe(1);
      expect(active.subject).toBe('Reset your Tessera password');

      // The first through the real flow (an account gets one reset link a minute), the next ones
      // through the mail port the accounts module sends with.
      let viaHttp = true;
      const resetMail = async (): Promise<{ subject: string; text: string }> => {
        const since = new Date();
        if (viaHttp) {
          const res = await call('POST', '/v1/auth/password/forgot', null, { email: member.email });
          expect(res.statusCode).toBe(202);
          viaHttp = false;
        } else {
          await app.context.mail.send({ to: member.email, template: 'accounts.password_reset', data: { token: 'a-reset-token-of-some-length', expires_minutes: 60 }, userId: member.user.id });
        }
        const mail = await waitForMail(app, { to: member.email, template: 'accounts.password_reset', after: since });
        expect(linkToken(mail, 'reset-password')).toMatch(/.{20,}/);
        return mail;
      };
      // Not active yet: the mail still says version 1.
      expect((await resetMail()).subject).toBe('Reset your Tessera password');

      const activated = await ok<Detail>('POST', `${BASE}/${template.id}/activate`, { version: 2 });
      expect(activated).toMatchObject({ active_version: 2, content: { version: 2, active: true } });
      const sentV2 = await resetMail();
      expect(sentV2.subject).toBe('New: reset your Tessera password');
      expect(sentV2.text).toMatch(/^Version two for Tessera\./);

      // Rollback.
      expect((await ok<Detail>('POST', `${BASE}/${template.id}/activate`, { version: 1 })).active_version).toBe(1);
      expect((await resetMail()).subject).toBe('Reset your Tessera password');

      expect(await auditOf(template.id)).toEqual([
        { action: 'communications.template_updated', actor_type: 'user', actor_id: admin.id, changes: { version: { after: 2 } } },
        { action: 'communications.template_activated', actor_type: 'user', actor_id: admin.id, changes: { active_version: { before: 1, after: 2 } } },
        { action: 'communications.template_activated', actor_type: 'user', actor_id: admin.id, changes: { active_version: { before: 2, after: 1 } } },
      ]);

      // GET ?version= shows an older version's content.
      const shown = await ok<Detail>('GET', `${BASE}/${template.id}?version=2`);
      expect(shown.content).toMatchObject({ version: 2, active: false, subject: 'New: reset your {{product_name}} password' });

      // 404 for a version that does not exist, nothing changed.
      expectProblem(await call('POST', `${BASE}/${template.id}/activate`, admin.token, { version: 9 }), 404, 'template_version_not_found');
      expectProblem(await call('POST', `${BASE}/${template.id}/preview`, admin.token, { version: 9, data: {} }), 404, 'template_version_not_found');
      expectProblem(await call('GET', `${BASE}/${template.id}?version=9`, admin.token), 404, 'template_version_not_found');
      expect((await auditOf(template.id)).length).toBe(3);

      // A PUT with activate: true is in force at once.
      const v3 = await ok<Detail>('PUT', `${BASE}/${template.id}`, { subject: 'Third {{product_name}}', text: 'Third {{url "/reset-password" token}}', variables: ['token'], activate: true });
      expect(v3).toMatchObject({ active_version: 3, content: { version: 3, active: true, html: null } });
      const third = await resetMail();
      expect(third.subject).toBe('Third Tessera');
      const stored = await query<{ html: string }>('SELECT html FROM mail_outbox WHERE "to" = $1 AND subject = $2', [member.email, 'Third Tessera']);
      expect(stored[0]!.html).toContain('<p style="margin:0 0 16px">Third '); // html made from the text
      expect((await auditOf(template.id)).at(-1)).toMatchObject({ action: 'communications.template_updated', changes: { version: { after: 3 }, active_version: { before: 1, after: 3 } } });
      await ok('POST', `${BASE}/${template.id}/activate`, { version: 1 });
    });

    it('another instance follows an activation within a second', async () => {
      const template = await find('accounts.magic_link', 'email', 'en');
      // A second instance's renderer, on its own connection when the engine has several.
      const other: Database = engine === 'postgres' ? createPostgresDatabase({ url: app.database.url!, max: 2 }) : app.context.db;
      try {
        const second = createTemplateService({ db: other, audit: createAudit(), context: { publicUrl: app.config.publicUrl, productName: 'Tessera' } });
        const render = () => second.render({ template: 'accounts.magic_link', channel: 'email', locale: null, data: { token: 't', expires_minutes: 5 }, unsubscribeUrl: null });
        expect((await render())!.subject).toBe('Your sign-in link for Tessera');
        await ok('PUT', `${BASE}/${template.id}`, { subject: 'Magic v2 {{product_name}}', text: 'v2 {{url "/magic-link" token}}', variables: ['token'], activate: true });
        await waitFor(async () => (await render())!.subject === 'Magic v2 Tessera', 5_000, 'the other instance to use version 2');
        await ok('POST', `${BASE}/${template.id}/activate`, { version: 1 });
        await waitFor(async () => (await render())!.subject === 'Your sign-in link for Tessera', 5_000, 'the other instance to roll back');
      } finally {
        if (other !== app.context.db) await other.close();
      }
    });

    it('renders in the user\'s language, falls back to English, and lets SMS and in-app use the email text when they have no version', async () => {
      const renderer = app.context.templates;
      const data = { token: 'tok', code: '123456', expires_hours: 2, name: 'Ana' };
      const es = await renderer.render({ template: 'accounts.verify_email', channel: 'email', locale: 'es-MX', data, unsubscribeUrl: null });
      expect(es!.subject).toBe('Verifica tu dirección de correo para Tessera');
      expect(es!.text).toContain('Este correo lo envió Tessera');
      const fr = await renderer.render({ template: 'accounts.verify_email', channel: 'email', locale: 'fr', data, unsubscribeUrl: null });
      expect(fr!.subject).toBe('Verify your email address for Tessera');
      const sms = await renderer.render({ template: 'accounts.verify_email', channel: 'sms', locale: 'es', data, unsubscribeUrl: null });
      expect(sms).toEqual({ subject: null, html: null, text: expect.stringMatching(/^Tu código de verificación de Tessera es 123456/) });
      // No SMS version of the sign-up notice: the email's text stands in.
      const fallback = await renderer.render({ template: 'accounts.signup_existing', channel: 'sms', locale: 'en', data: {}, unsubscribeUrl: null });
      expect(fallback!.text).toMatch(/^You already have an account\n\nSomeone \(maybe you\)/);
      expect(await renderer.render({ template: 'no.such_template', channel: 'email', locale: 'en', data: {}, unsubscribeUrl: null })).toBeNull();
      expect(renderer.categoryOf('orgs.invitation')).toBe('organization');
      expect(renderer.categoryOf('no.such_template')).toBeUndefined();

      // Through the pipeline: a Spanish-speaking user gets the Spanish mail.
      await query('UPDATE users SET locale = $1 WHERE id = $2', ['es', member.user.id]);
      try {
        const since = new Date();
        await app.context.mail.send({ to: member.email, template: 'accounts.new_sign_in', data: { at: '2025-03-01T14:05:00Z', ip: '203.0.113.7', device: 'Firefox' }, userId: member.user.id });
        const mail = await waitForMail(app, { to: member.email, template: 'accounts.new_sign_in', after: since });
        expect(mail.subject).toBe('Nuevo inicio de sesión en tu cuenta de Tessera');
        expect(mail.text).toContain('Dispositivo: Firefox');
      } finally {
        await query('UPDATE users SET locale = NULL WHERE id = $1', [member.user.id]);
      }
    });

    it('POST creates a custom template (version 1, active, audited) that the pipeline sends, with an unsubscribe link for its category', async () => {
      const created = await ok<Detail>('POST', BASE, {
        name: 'acme.welcome', channel: 'email', locale: 'en', category: 'product', description: 'Welcome to the product',
        subject: 'Welcome, {{name}}', html: '<p>Hello {{name}}, welcome to {{product_name}}.</p>', text: 'Hello {{name}}, welcome to {{product_name}}.', variables: ['name'],
      }, 201);
      expect(created).toMatchObject({
        id: expect.stringMatching(/^tpl_/), name: 'acme.welcome', category: 'product', active_version: 1, system: false,
        content: { version: 1, active: true, created_by: admin.id, variables: ['name'] }, versions: [{ version: 1, active: true, created_by: admin.id }],
      });
      expect(await auditOf(created.id)).toEqual([
        {
          action: 'communications.template_created', actor_type: 'user', actor_id: admin.id,
          changes: { name: { after: 'acme.welcome' }, channel: { after: 'email' }, locale: { after: 'en' }, category: { after: 'product' }, active_version: { after: 1 } },
        },
      ]);
      expect(app.context.templates.categoryOf('acme.welcome')).toBe('product');

      const since = new Date();
      await app.context.messenger.notify({ channel: 'email', template: 'acme.welcome', userId: member.user.id, data: { name: '<i>Mia</i>', secret: 'not declared' } });
      const mail = await waitForMail(app, { to: member.email, template: 'acme.welcome', after: since });
      expect(mail.subject).toBe('Welcome, <i>Mia</i>');
      expect(mail.html).toContain('<p>Hello &lt;i&gt;Mia&lt;/i&gt;, welcome to Tessera.</p>');
      expect(mail.text).toMatch(/^Hello <i>Mia<\/i>, welcome to Tessera\.\n/);
      expect(mail.text).toMatch(/Unsubscribe from these emails:\n\S+/);
      expect(`${mail.text}${mail.html}`).not.toContain('not declared');

      // Same name in Spanish: inherits the category; another category is refused.
      const es = await ok<Detail>('POST', BASE, { name: 'acme.welcome', channel: 'email', locale: 'es', subject: 'Hola', text: 'Hola', variables: [] }, 201);
      expect(es.category).toBe('product');
      const mismatch = expectProblem(await call('POST', BASE, admin.token, { name: 'acme.welcome', channel: 'sms', locale: 'en', category: 'marketing', text: 'x', variables: [] }), 422, 'invalid_template');
      expect(mismatch.errors).toEqual([{ path: 'body.category', message: 'must be product, the category of the other acme.welcome templates' }]);
      const noCategory = expectProblem(await call('POST', BASE, admin.token, { name: 'acme.other', channel: 'sms', locale: 'en', text: 'x', variables: [] }), 422, 'invalid_template');
      expect(noCategory.errors).toEqual([{ path: 'body.category', message: 'required for a new template name' }]);
      // A system name keeps its category.
      expectProblem(await call('POST', BASE, admin.token, { name: 'orgs.invitation', channel: 'sms', locale: 'en', category: 'security', text: 'x', variables: [] }), 422, 'invalid_template');
    });

    it('409 for a (name, channel, locale) that exists, nothing written', async () => {
      const before = await counts();
      const res = await call('POST', BASE, admin.token, { name: 'accounts.verify_email', channel: 'email', locale: 'en', subject: 'x', text: 'x', variables: [] });
      expectProblem(res, 409, 'template_exists');
      expect(await counts()).toEqual(before);
    });

    it('422 undeclared_variable with the part and the line, on POST and PUT; nothing written', async () => {
      const template = await find('accounts.account_locked', 'email', 'en');
      const before = await counts();
      const auditBefore = (await auditOf(template.id)).length;
      const put = expectProblem(
        await call('PUT', `${BASE}/${template.id}`, admin.token, { subject: 'Locked', html: '<p>Locked</p>\n<p>for {{minutes}}</p>\n<p>until {{foo}}</p>', text: 'Locked', variables: ['minutes'] }),
        422, 'undeclared_variable',
      );
      expect(put.errors).toEqual([{ path: 'body.html', message: 'line 3: undeclared variable "foo"' }]);
      const post = expectProblem(
        await call('POST', BASE, admin.token, { name: 'acme.notice', channel: 'sms', locale: 'en', category: 'product', text: 'Hi\n{{#each items}}{{name}}{{/each}}\n{{url "/x" tok}}', variables: ['items'] }),
        422, 'undeclared_variable',
      );
      expect(post.errors).toEqual([{ path: 'body.text', message: 'line 3: undeclared variable "tok"' }]);
      // A system template may declare only what its messages carry.
      const extra = expectProblem(await call('PUT', `${BASE}/${template.id}`, admin.token, { subject: 'x', text: '{{secret}}', variables: ['secret'] }), 422, 'invalid_template');
      expect(extra.errors).toEqual([{ path: 'body.variables.0', message: '"secret" is not sent with accounts.account_locked messages (they carry: minutes, until)' }]);
      expect(await counts()).toEqual(before);
      expect((await auditOf(template.id)).length).toBe(auditBefore);
    });

    it('422 invalid_template for a template that does not parse (with its line), unescaped html output, partials, unknown helpers, wrong parts', async () => {
      const template = await find('accounts.account_locked', 'email', 'en');
      const put = (body: Record<string, unknown>) => call('PUT', `${BASE}/${template.id}`, admin.token, { subject: 'x', text: 'x', variables: ['minutes'], ...body });
      expect(expectProblem(await put({ text: 'one\ntwo {{minutes' }), 422, 'invalid_template').errors).toEqual([
        { path: 'body.text', message: expect.stringMatching(/^line 2: parse error: Expecting /) },
      ]);
      expect(expectProblem(await put({ html: '<p>{{{minutes}}}</p>' }), 422, 'invalid_template').errors).toEqual([
        { path: 'body.html', message: 'line 1: unescaped output ({{{…}}} or {{&…}}) is not allowed in html' },
      ]);
      expect(expectProblem(await put({ text: '{{> layout}}' }), 422, 'invalid_template').errors).toEqual([{ path: 'body.text', message: 'line 1: partials ({{> …}}) are not available' }]);
      expect(expectProblem(await put({ text: '{{shout minutes}}' }), 422, 'invalid_template').errors).toEqual([{ path: 'body.text', message: expect.stringMatching(/^line 1: unknown helper "shout"/) }]);
      expect(expectProblem(await put({ subject: null }), 422, 'invalid_template').errors).toEqual([{ path: 'body.subject', message: 'a email template needs a subject' }]);
      const sms = await find('accounts.account_locked', 'sms', 'en');
      expect(expectProblem(await call('PUT', `${BASE}/${sms.id}`, admin.token, { subject: 'x', html: '<p>x</p>', text: 'x', variables: [] }), 422, 'invalid_template').errors).toEqual([
        { path: 'body.subject', message: 'a sms template has no subject' },
        { path: 'body.html', message: 'only email templates have an html part' },
      ]);
      expect((await ok<Detail>('GET', `${BASE}/${template.id}`)).versions).toHaveLength(1);
    });

    it('400 for a bad name, locale, channel, oversized part, unknown field or bad query', async () => {
      const valid = { name: 'acme.sized', channel: 'email', locale: 'en', category: 'product', subject: 'x', text: 'x', variables: [] };
      for (const body of [
        { ...valid, name: 'Acme.Bad' }, { ...valid, name: 'a' }, { ...valid, locale: 'english' }, { ...valid, locale: 'es-mx' }, { ...valid, channel: 'fax' },
        { ...valid, html: 'x'.repeat(100_001) }, { ...valid, text: '' }, { ...valid, variables: ['Bad-Name'] }, { ...valid, category: 'spam' }, { ...valid, extra: 1 },
      ]) {
        expectProblem(await call('POST', BASE, admin.token, body), 400, 'validation_failed');
      }
      for (const search of ['?limit=0', '?limit=201', '?channel=fax', '?locale=xx_YY', '?other=1']) expectProblem(await call('GET', `${BASE}${search}`, admin.token), 400, 'validation_failed');
      const template = await find('accounts.account_locked', 'email', 'en');
      expectProblem(await call('POST', `${BASE}/${template.id}/activate`, admin.token, { version: 0 }), 400, 'validation_failed');
      expectProblem(await call('POST', `${BASE}/${template.id}/preview`, admin.token, { locale: 'spanish' }), 400, 'validation_failed');
      expect((await query('SELECT 1 FROM communication_templates WHERE name = $1', ['acme.sized'])).length).toBe(0);
    });

    it('404 for an unknown template on every route', async () => {
      const id = 'tpl_00000000000000000000000000';
      expectProblem(await call('GET', `${BASE}/${id}`, admin.token), 404, 'template_not_found');
      expectProblem(await call('PUT', `${BASE}/${id}`, admin.token, { subject: 'x', text: 'x', variables: [] }), 404, 'template_not_found');
      expectProblem(await call('POST', `${BASE}/${id}/preview`, admin.token, { data: {} }), 404, 'template_not_found');
      expectProblem(await call('POST', `${BASE}/${id}/activate`, admin.token, { version: 1 }), 404, 'template_not_found');
    });

    it('401 without a token and 403 for a user who is not a platform admin, on every route', async () => {
      const template = await find('accounts.account_locked', 'email', 'en');
      const routes: [Method, string, unknown?][] = [
        ['GET', BASE], ['POST', BASE, { name: 'acme.x', channel: 'sms', locale: 'en', category: 'product', text: 'x', variables: [] }], ['GET', `${BASE}/${template.id}`],
        ['PUT', `${BASE}/${template.id}`, { subject: 'x', text: 'x', variables: [] }], ['POST', `${BASE}/${template.id}/preview`, { data: {} }], ['POST', `${BASE}/${template.id}/activate`, { version: 1 }],
      ];
      const before = await counts();
      for (const [method, url, body] of routes) {
        expectProblem(await call(method, url, null, body), 401, 'unauthorized');
        expectProblem(await call(method, url, member.token, body), 403, 'forbidden');
      }
      expect(await counts()).toEqual(before);
    });

    it('seeding never replaces an admin\'s versions, and brings untouched system templates up to this release\'s defaults', async () => {
      // An untouched system template whose stored default is out of date (as after an upgrade).
      const stale = await find('mfa.recovery_used', 'email', 'en');
      await query('UPDATE communication_template_versions SET text = $1 WHERE template_id = $2 AND version = 1', ['An older wording', stale.id]);
      // A system template an admin changed (version 2, theirs, active).
      const touched = await find('mfa.backup_code_used', 'email', 'en');
      await ok('PUT', `${BASE}/${touched.id}`, { subject: 'Admin wording', text: 'Admin wording {{remaining}}', variables: ['remaining'], activate: true });
      await query('UPDATE communication_template_versions SET text = $1 WHERE template_id = $2 AND version = 1', ['An older wording', touched.id]);

      await app.context.templates.seed();
      const upgraded = await ok<Detail>('GET', `${BASE}/${stale.id}`);
      const current = DEFAULT_TEMPLATES.find((t) => t.name === 'mfa.recovery_used' && t.channel === 'email' && t.locale === 'en')!;
      expect(upgraded).toMatchObject({ active_version: 2, content: { version: 2, created_by: null, text: current.text } });
      const kept = await ok<Detail>('GET', `${BASE}/${touched.id}`);
      expect(kept).toMatchObject({ active_version: 2, content: { version: 2, created_by: admin.id, subject: 'Admin wording' } });
      expect(kept.versions).toHaveLength(2);
      // Idempotent.
      const before = await counts();
      await app.context.templates.seed();
      expect(await counts()).toEqual(before);
    });
  });
});
