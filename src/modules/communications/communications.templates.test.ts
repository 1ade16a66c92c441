import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/http/errors.js';
import { escapeHtml, type MessageCategory, type TemplateContext } from '../../platform/mail/index.js';
import type { Channel } from './communications.settings.js';
import { assertValidTemplate, compileTemplate, renderTemplate, templateIssues, type TemplateContent } from './communications.templates.js';
import { DEFAULT_TEMPLATES, SYSTEM_TEMPLATES, type SystemTemplateName } from './communications.templates.defaults.js';

const context: TemplateContext = { publicUrl: 'https://id.example.com', productName: 'Acme ID' };
const URL_ = context.publicUrl;
/** A token with characters that must be URL-encoded. */
const TOKEN = 'tok+en/with=odd&chars?';
const ENCODED = encodeURIComponent(TOKEN);
const HOSTILE = '<script>alert(1)</script>';
const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

const content = (parts: Partial<TemplateContent>): TemplateContent => ({ subject: 'Subject', html: null, text: 'Text', variables: [], ...parts });

/** The 422 a save would answer: code and `errors`. */
function refusal(channel: Channel, parts: Partial<TemplateContent>): { code: string; status: number; errors: { path: string; message: string }[] } {
  try {
    assertValidTemplate(channel, content(parts));
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const { code, status, data } = error as AppError;
    return { code, status, errors: (data as { errors: { path: string; message: string }[] }).errors };
  }
  throw new Error('the template was accepted');
}

function render(
  channel: Channel, parts: Partial<TemplateContent>, data: Record<string, unknown>,
  options: { as?: Channel; category?: MessageCategory; unsubscribeUrl?: string | null; locale?: string; ctx?: TemplateContext } = {},
) {
  const template = compileTemplate(channel, content(parts));
  return renderTemplate(template, {
    channel: options.as ?? channel, locale: options.locale ?? 'en', category: options.category ?? 'security', data,
    unsubscribeUrl: options.unsubscribeUrl ?? null, context: options.ctx ?? context,
  });
}

describe('template checks (at save time)', () => {
  it('refuses an undeclared variable, naming it and its line', () => {
    const html = '<h1>Hello</h1>\n<p>Dear {{name}},</p>\n<p>your {{foo}} is ready</p>';
    expect(refusal('email', { html, variables: ['name'] })).toEqual({
      code: 'undeclared_variable', status: 422, errors: [{ path: 'body.html', message: 'line 3: undeclared variable "foo"' }],
    });
  });

  it('finds variables in helper arguments, sub-expressions, hashes, block parameters, the subject and the text', () => {
    const { errors } = refusal('email', {
      subject: 'Hi {{who}}',
      text: [
        '{{url "/verify" tok}}',
        '{{#if (eq purpose kind)}}x{{/if}}',
        '{{plural count "minute" extra=more}}',
        '{{#each items as |item|}}{{item.name}} {{../outer}} {{/each}}',
        '{{#each items}}{{@index}} {{anything}}{{else}}{{missing}}{{/each}}',
        '{{@root.rooted}} {{@index}}',
      ].join('\n'),
      variables: ['items', 'purpose'],
    });
    expect(errors).toEqual([
      { path: 'body.subject', message: 'line 1: undeclared variable "who"' },
      { path: 'body.text', message: 'line 1: undeclared variable "tok"' },
      { path: 'body.text', message: 'line 2: undeclared variable "kind"' },
      { path: 'body.text', message: 'line 3: undeclared variable "count"' },
      { path: 'body.text', message: 'line 3: undeclared variable "more"' },
      { path: 'body.text', message: 'line 4: undeclared variable "outer"' },
      { path: 'body.text', message: 'line 5: undeclared variable "missing"' },
      { path: 'body.text', message: 'line 6: undeclared variable "rooted"' },
      { path: 'body.text', message: 'line 6: "@index" is only defined inside {{#each}}' },
    ]);
  });

  it('lets the built-ins and the fields of #each items through undeclared', () => {
    expect(templateIssues('email', content({
      subject: '{{product_name}}',
      html: '<a href="{{public_url}}">x</a> <a href="{{unsubscribe_url}}">u</a>',
      text: '{{#each items}}{{this.name}} {{name}} {{@index}} {{@first}}{{/each}} {{#with user as |u|}}{{u.name}} {{email}}{{/with}}',
      variables: ['items', 'user'],
    }))).toEqual([]);
  });

  it('refuses a template that does not parse, with the line', () => {
    // A block closed by the wrong name: the line of the block it opens.
    expect(refusal('email', { text: 'Hello\nthere {{#if name}}\nyou\n{{/iff}}', variables: ['name'] })).toMatchObject({
      code: 'invalid_template', status: 422, errors: [{ path: 'body.text', message: "line 2: if doesn't match iff" }],
    });
    expect(refusal('email', { html: '<p>\n\n{{name</p>', variables: ['name'] })).toMatchObject({
      code: 'invalid_template', errors: [{ path: 'body.html', message: expect.stringMatching(/^line 3: parse error: Expecting /) }],
    });
  });

  it('refuses unescaped output in html ({{{…}}} and {{& …}}), and partials, decorators, unknown helpers', () => {
    expect(refusal('email', { html: '<p>{{{name}}}</p>\n<p>{{& name}}</p>', variables: ['name'] }).errors).toEqual([
      { path: 'body.html', message: 'line 1: unescaped output ({{{…}}} or {{&…}}) is not allowed in html' },
      { path: 'body.html', message: 'line 2: unescaped output ({{{…}}} or {{&…}}) is not allowed in html' },
    ]);
    const { code, errors } = refusal('email', { text: '{{> header}}\n{{log name}}\n{{#custom name}}x{{/custom}}\n{{lookup this "secret"}}', variables: ['name'] });
    expect(code).toBe('invalid_template');
    expect(errors.map((error) => error.message)).toEqual([
      'line 1: partials ({{> …}}) are not available',
      'line 2: unknown helper "log" (helpers: url, href, when, plural, truncate, article, or, eq, lookup)',
      'line 3: unknown block helper "custom" (block helpers: if, unless, each, with)',
      'line 4: undeclared variable "this"',
    ]);
  });

  it('checks the parts each channel has, and the declared names', () => {
    expect(refusal('email', { subject: ' ' }).errors).toEqual([{ path: 'body.subject', message: 'a email template needs a subject' }]);
    expect(refusal('sms', { subject: 'No' }).errors).toEqual([{ path: 'body.subject', message: 'a sms template has no subject' }]);
    expect(refusal('in_app', { html: '<p>x</p>' }).errors).toEqual([{ path: 'body.html', message: 'only email templates have an html part' }]);
    expect(refusal('email', { variables: ['a', 'product_name', 'a'] }).errors).toEqual([
      { path: 'body.variables.1', message: '"product_name" is built in: do not declare it' },
      { path: 'body.variables.2', message: '"a" is declared twice' },
    ]);
    expect(templateIssues('push', content({ subject: null, text: 'Hi' }))).toEqual([]);
  });
});

describe('rendering', () => {
  it('escapes data in the html part and not in the text part; the subject is one line', () => {
    const mail = render('email', { subject: 'Hello {{name}}', html: '<p>Hello {{name}}</p>', text: 'Hello {{name}}', variables: ['name'] }, { name: `${HOSTILE}\r\nBcc: x@evil.example` });
    expect(mail.html).toContain(`<p>Hello ${ESCAPED} Bcc: x@evil.example</p>`);
    expect(mail.html).not.toContain('<script');
    expect(mail.text).toMatch(/^Hello <script>alert\(1\)<\/script> Bcc: x@evil\.example\n/);
    expect(mail.subject).toBe(`Hello ${HOSTILE} Bcc: x@evil.example`);
  });

  it('url: the public URL, the path and the token URL-encoded; HTML-escaped in the html part', () => {
    const parts = { html: '<a href="{{url "/verify-email" token}}">go</a> <a href="{{url "/login"}}">in</a>', text: '{{url "/verify-email" token}}', variables: ['token'] };
    const mail = render('email', parts, { token: TOKEN });
    expect(mail.text).toMatch(new RegExp(`^${URL_}/verify-email\\?token=${ENCODED.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
    expect(mail.html).toContain(`<a href="${URL_}/verify-email?token=${ENCODED}">go</a> <a href="${URL_}/login">in</a>`);
    const breakout = render('email', parts, { token: '"><img src=x onerror=alert(1)>' });
    expect(breakout.html).not.toContain('<img');
    const odd = render('email', parts, { token: 't' }, { ctx: { publicUrl: 'https://id.example.com/a"b/', productName: 'Acme' } });
    expect(odd.html).toContain('href="https://id.example.com/a&quot;b/verify-email?token=t"');
  });

  it('href: only http(s) links from data', () => {
    const parts = { html: '<a href="{{href link}}">x</a>', text: '{{href link}}', variables: ['link'] };
    expect(render('email', parts, { link: 'javascript:alert(1)' }).html).toContain('<a href="#">x</a>');
    expect(render('email', parts, { link: 'https://files.example.com/e?a=1&b=2' }).html).toContain('<a href="https://files.example.com/e?a=1&amp;b=2">x</a>');
  });

  it('when, plural, truncate, article, or: as the system templates use them', () => {
    const text = '{{when at}} | {{plural n "minute"}} | {{plural one "hora"}} | {{truncate long 5}} | {{article role}} {{role}} | {{or missing "fallback"}} | {{when bad}}';
    const out = render('sms', { subject: null, text, variables: ['at', 'n', 'one', 'long', 'role', 'missing', 'bad'] }, {
      at: '2025-03-01T14:05:09.123Z', n: 15, one: 1, long: 'abcdefgh', role: 'admin', bad: 'not a date',
    });
    expect(out.text).toBe('2025-03-01 14:05 UTC | 15 minutes | 1 hora | abcd… | an admin | fallback | not a date');
  });

  it('a bare {{name}} is the variable even when a helper has that name', () => {
    const out = render('sms', { subject: null, text: '{{code}} {{url}}', variables: ['code', 'url'] }, { code: '123456', url: 'https://x.example/e' });
    expect(out.text).toBe('123456 https://x.example/e');
  });

  it('ignores data that is not declared; a declared value that is missing renders empty', () => {
    const out = render('sms', { subject: null, text: 'a{{name}}b', variables: ['name'] }, { secret: 'do-not-show' });
    expect(out.text).toBe('ab');
  });

  it('wraps an email in the house layout, with an unsubscribe link in both parts for non-security categories', () => {
    const parts = { html: '<p>Body</p>', text: 'Body', variables: [] };
    const account = render('email', parts, {}, { category: 'account', unsubscribeUrl: 'https://id.example.com/v1/unsubscribe?token=a&b' });
    expect(account.html).toMatch(/^<!doctype html><html>.*<title>Subject<\/title>.*Acme ID.*<p>Body<\/p>.*This email was sent by Acme ID \(https:\/\/id\.example\.com\)\..*<\/html>$/s);
    expect(account.html).toContain('<a href="https://id.example.com/v1/unsubscribe?token=a&amp;b" style="color:#6b7280">Unsubscribe from these emails</a>');
    expect(account.text).toBe('Body\n\n— Acme ID\n\nThis email was sent by Acme ID (https://id.example.com).\n\nUnsubscribe from these emails:\nhttps://id.example.com/v1/unsubscribe?token=a&b\n');
    const security = render('email', parts, {}, { category: 'security', unsubscribeUrl: 'https://id.example.com/v1/unsubscribe?token=a' });
    expect(security.text).not.toContain('unsubscribe');
    expect(security.html).not.toContain('unsubscribe');
    const spanish = render('email', parts, {}, { category: 'account', locale: 'es', unsubscribeUrl: 'https://u.example/x' });
    expect(spanish.text).toContain('Este correo lo envió Acme ID (https://id.example.com).\n\nDarte de baja de estos correos:\nhttps://u.example/x\n');
  });

  it('makes the html of a text-only mail from its text, escaped', () => {
    const mail = render('email', { text: 'Hi {{name}}\nline two\n\nNext', variables: ['name'] }, { name: HOSTILE });
    expect(mail.html).toContain(`<p style="margin:0 0 16px">Hi ${ESCAPED}<br>line two</p><p style="margin:0 0 16px">Next</p>`);
  });

  it('carries an email as SMS (text, at most 1,600 characters) and as push or in-app (subject and text)', () => {
    const parts = { html: '<p>x</p>', text: '{{body}}', variables: ['body'] };
    const sms = render('email', parts, { body: 'y'.repeat(2_000) }, { as: 'sms' });
    expect(sms).toEqual({ subject: null, html: null, text: 'y'.repeat(1_600) });
    expect(render('email', parts, { body: 'Hi' }, { as: 'in_app' })).toEqual({ subject: 'Subject', html: null, text: 'Hi' });
  });
});

// ---------------------------------------------------------------------------------------------
// The system templates (the mails the modules send), English and Spanish.

function renderDefault(name: SystemTemplateName, locale: string, data: Record<string, unknown>, options: { channel?: Channel; ctx?: TemplateContext; unsubscribeUrl?: string } = {}) {
  const channel = options.channel ?? 'email';
  const found = DEFAULT_TEMPLATES.find((item) => item.name === name && item.locale === locale && item.channel === channel);
  if (!found) throw new Error(`no ${channel} default for ${name} in ${locale}`);
  const message = renderTemplate(compileTemplate(channel, found), {
    channel, locale, category: found.category, data, unsubscribeUrl: options.unsubscribeUrl ?? null, context: options.ctx ?? context,
  });
  return { ...message, html: message.html ?? '' };
}

interface Case {
  name: SystemTemplateName;
  data: Record<string, unknown>;
  /** Links that must be in both parts. */
  links: string[];
  code?: string;
  /** Words the English mail must say, in both parts. */
  says: RegExp[];
}

const cases: Case[] = [
  { name: 'accounts.verify_email', data: { token: TOKEN, code: '482913', expires_hours: 24, name: 'Alice' }, links: [`${URL_}/verify-email?token=${ENCODED}`], code: '482913', says: [/24 hours/, /Alice/] },
  { name: 'accounts.signup_existing', data: {}, links: [`${URL_}/sign-in`, `${URL_}/forgot-password`], says: [/maybe you/i, /already have an account/i] },
  { name: 'accounts.magic_link', data: { token: TOKEN, expires_minutes: 15 }, links: [`${URL_}/magic-link?token=${ENCODED}`], says: [/15 minutes/] },
  { name: 'accounts.password_reset', data: { token: TOKEN, expires_minutes: 30 }, links: [`${URL_}/reset-password?token=${ENCODED}`], says: [/30 minutes/, /did not request/i, /ignore/i] },
  {
    name: 'accounts.password_changed', data: { at: '2025-03-01T14:05:09.123Z', ip: '203.0.113.7', device: 'Firefox on Linux' }, links: [`${URL_}/forgot-password`],
    says: [/password .*was just changed/i, /2025-03-01 14:05 UTC/, /203\.0\.113\.7/, /Firefox on Linux/, /not you/i],
  },
  { name: 'accounts.account_locked', data: { minutes: 15, until: '2025-03-01T14:20:00Z' }, links: [`${URL_}/forgot-password`], says: [/too many failed/i, /15 minutes/, /2025-03-01 14:20 UTC/] },
  {
    name: 'accounts.new_sign_in', data: { at: '2025-03-01T14:05:00Z', ip: '198.51.100.4', device: 'Safari on iPhone' }, links: [`${URL_}/account/sessions`],
    says: [/not seen before/i, /198\.51\.100\.4/, /Safari on iPhone/, /2025-03-01 14:05 UTC/],
  },
  {
    name: 'accounts.email_change', data: { token: TOKEN, code: '090417', new_email: 'new@example.org', expires_hours: 1 }, links: [`${URL_}/verify-email?token=${ENCODED}`], code: '090417',
    says: [/new@example\.org/, /1 hour\b/],
  },
  { name: 'accounts.email_changed', data: { new_email: 'new@example.org', at: '2025-03-01T14:05:00Z' }, links: [], says: [/new@example\.org/, /was changed/i, /2025-03-01 14:05 UTC/] },
  { name: 'mfa.backup_code_used', data: { at: '2025-03-01T14:05:00Z', remaining: 9, ip: '203.0.113.9' }, links: [`${URL_}/forgot-password`], says: [/Codes left(: |<\/td><td[^>]*>)9\b/, /203\.0\.113\.9/] },
  { name: 'mfa.recovery', data: { token: TOKEN, expires_minutes: 30 }, links: [`${URL_}/mfa/recover?token=${ENCODED}`], says: [/30 minutes/, /second factor/] },
  { name: 'mfa.recovery_used', data: { at: '2025-03-01T14:05:00Z', ip: '203.0.113.9' }, links: [`${URL_}/forgot-password`], says: [/second factors were removed/, /2025-03-01 14:05 UTC/] },
  {
    name: 'orgs.invitation', data: { token: TOKEN, org_name: 'Globex', role: 'admin', inviter_name: 'Olive Owner', inviter_email: 'olive@example.org', expires_at: '2025-03-08T10:00:00Z' },
    links: [`${URL_}/invitations/accept?token=${ENCODED}`], says: [/Olive Owner \(olive@example\.org\) invited you to join Globex on Acme ID as an admin\./, /2025-03-08 10:00 UTC/],
  },
  { name: 'otp.code', data: { code: '551234', expires_minutes: 10, purpose: 'login' }, links: [], code: '551234', says: [/sign in to Acme ID/, /10 minutes/] },
  {
    name: 'privacy.export_ready', data: { url: 'https://files.example.com/export/abc?sig=1', expires_at: '2025-03-02T00:00:00Z' }, links: ['https://files.example.com/export/abc?sig=1'],
    says: [/ready to download/, /2025-03-02 00:00 UTC/],
  },
  { name: 'privacy.compliance_alert', data: { title: 'Retention overdue', detail: '12 accounts are past their retention date.' }, links: [], says: [/Retention overdue/, /12 accounts are past/] },
  { name: 'communications.test', data: {}, links: [], says: [/test/i, /the channel works/] },
  {
    name: 'webhooks.endpoint_disabled', data: { endpoint_id: 'whk_1', url: 'https://hooks.example.com/in', reason: '10 delivery attempts in a row failed' }, links: [],
    says: [/whk_1/, /https:\/\/hooks\.example\.com\/in/, /10 delivery attempts in a row failed/, /disabled/],
  },
];

describe('system templates', () => {
  it('covers every system template, each with an email version in English and Spanish that checks', () => {
    expect(cases.map((c) => c.name).sort()).toEqual(Object.keys(SYSTEM_TEMPLATES).sort());
    for (const name of Object.keys(SYSTEM_TEMPLATES)) {
      for (const locale of ['en', 'es']) expect(DEFAULT_TEMPLATES.some((item) => item.name === name && item.locale === locale && item.channel === 'email'), `${name} ${locale}`).toBe(true);
    }
    for (const item of DEFAULT_TEMPLATES) {
      expect(templateIssues(item.channel, item), `${item.name} ${item.channel} ${item.locale}`).toEqual([]);
      expect(item.variables).toEqual(SYSTEM_TEMPLATES[item.name].variables);
    }
    // Every message has the same versions in both languages.
    const shape = (locale: string) => DEFAULT_TEMPLATES.filter((item) => item.locale === locale).map((item) => `${item.name}:${item.channel}`).sort();
    expect(shape('es')).toEqual(shape('en'));
  });

  it('links only to the paths of the hosted pages, with a token where the page needs one, in every channel and language', () => {
    // The hosted pages (web/) serve these paths; a link elsewhere would land on a 404.
    const pages: Record<string, string[]> = {
      '/sign-in': [], '/forgot-password': [], '/account/sessions': [],
      '/verify-email': ['token'], '/magic-link': ['token'], '/reset-password': ['token'], '/mfa/recover': ['token'], '/invitations/accept': ['token'],
    };
    const byTemplate = new Map<string, Set<string>>();
    for (const item of DEFAULT_TEMPLATES) {
      for (const part of [item.subject, item.html, item.text]) {
        for (const [, path, token] of (part ?? '').matchAll(/\{\{url "([^"]*)"(?: (\w+))?\}\}/g)) {
          expect(Object.keys(pages), `${item.name} ${item.channel} ${item.locale}`).toContain(path);
          expect(token ? [token] : [], `${path} in ${item.name} ${item.channel} ${item.locale}`).toEqual(pages[path!]);
          byTemplate.set(item.name, new Set([...(byTemplate.get(item.name) ?? []), path!]));
        }
      }
    }
    // The one-time links each message carries.
    expect(byTemplate.get('accounts.verify_email')).toContain('/verify-email');
    expect(byTemplate.get('accounts.email_change')).toEqual(new Set(['/verify-email']));
    expect(byTemplate.get('accounts.magic_link')).toEqual(new Set(['/magic-link']));
    expect(byTemplate.get('accounts.password_reset')).toEqual(new Set(['/reset-password']));
    expect(byTemplate.get('mfa.recovery')).toEqual(new Set(['/mfa/recover']));
    expect(byTemplate.get('orgs.invitation')).toEqual(new Set(['/invitations/accept']));
    expect(byTemplate.get('accounts.signup_existing')).toEqual(new Set(['/sign-in', '/forgot-password']));
    expect(byTemplate.get('accounts.new_sign_in')).toContain('/account/sessions');
  });

  it('has the categories of the issue: invitations are organization, export account, the rest security', () => {
    expect(SYSTEM_TEMPLATES['orgs.invitation'].category).toBe('organization');
    expect(SYSTEM_TEMPLATES['privacy.export_ready'].category).toBe('account');
    expect(SYSTEM_TEMPLATES['communications.test'].category).toBe('security');
    expect(SYSTEM_TEMPLATES['otp.code'].category).toBe('security');
  });

  it('gives the security messages short SMS and in-app versions; in-app ones carry no token or code', () => {
    const security = ['accounts.verify_email', 'accounts.magic_link', 'accounts.password_reset', 'accounts.password_changed', 'accounts.account_locked', 'accounts.new_sign_in', 'mfa.recovery', 'mfa.backup_code_used', 'otp.code'];
    for (const name of security) {
      for (const locale of ['en', 'es']) {
        for (const channel of ['sms', 'in_app'] as const) expect(DEFAULT_TEMPLATES.some((item) => item.name === name && item.locale === locale && item.channel === channel), `${name} ${channel} ${locale}`).toBe(true);
      }
    }
    for (const item of DEFAULT_TEMPLATES.filter((found) => found.channel === 'in_app')) {
      const data = { token: TOKEN, code: '482913', expires_hours: 1, expires_minutes: 5, at: '2025-03-01T14:05:00Z', minutes: 5, remaining: 3, purpose: 'login', device: 'Firefox' };
      const message = renderDefault(item.name, item.locale, data, { channel: 'in_app' });
      expect(message.text).not.toContain(ENCODED);
      expect(message.text).not.toContain('482913');
      expect(message.subject).toBeTruthy();
    }
    const sms = renderDefault('accounts.magic_link', 'en', { token: TOKEN, expires_minutes: 15 }, { channel: 'sms' });
    expect(sms.text).toContain(`${URL_}/magic-link?token=${ENCODED}`);
    expect(sms.text.length).toBeLessThanOrEqual(320);
    expect(renderDefault('otp.code', 'es', { code: '551234', expires_minutes: 10 }, { channel: 'sms' }).text).toBe('551234 es tu código de verificación de Acme ID. Caduca en 10 minutos. No lo compartas nunca.');
  });

  describe.each(cases)('$name', ({ name, data, links, code, says }) => {
    it.each(['en', 'es'])('%s: names the product, writes each link in both parts, the code on a line of its own', (locale) => {
      const mail = renderDefault(name, locale, data);
      expect(mail.subject).toContain('Acme ID');
      expect(mail.subject).not.toMatch(/[\r\n]/);
      expect(mail.text).toContain('Acme ID');
      expect(mail.html).toContain('Acme ID');
      for (const url of links) {
        expect(mail.text).toContain(url);
        expect(mail.html).toContain(`<a href="${escapeHtml(url)}"`);
      }
      if ('token' in data) {
        expect(mail.text).not.toContain(TOKEN);
        expect(mail.html).not.toContain(escapeHtml(TOKEN));
      }
      if (code !== undefined) {
        expect(mail.text).toMatch(new RegExp(`^\\s+${code}$`, 'm'));
        expect(mail.html).toContain(`>${code}</p>`);
      }
      expect(mail.html).toMatch(/^<!doctype html><html>/);
      expect(mail.html).toMatch(/<\/html>$/);
      for (const part of [mail.text, mail.html]) expect(part).not.toMatch(/null|undefined|\{\{|\}\}/);
    });

    it('en: says what it is about in both parts', () => {
      const mail = renderDefault(name, 'en', data);
      for (const pattern of says) {
        expect(mail.text).toMatch(pattern);
        expect(mail.html).toMatch(pattern);
      }
    });
  });

  it('the Spanish versions are in Spanish', () => {
    expect(renderDefault('accounts.password_reset', 'es', { token: TOKEN, expires_minutes: 30 }).text).toMatch(/^Restablece tu contraseña\n\nRecibimos una solicitud .* caduca en 30 minutos\./);
    expect(renderDefault('accounts.verify_email', 'es', { token: TOKEN, code: '1', expires_hours: 1 }).text).toContain('El código y el enlace caducan en 1 hora.');
    expect(renderDefault('orgs.invitation', 'es', { token: TOKEN, org_name: 'Globex', role: 'member', expires_at: '2025-03-08T10:00:00Z' }).subject).toBe('Te invitaron a unirte a Globex en Acme ID');
  });

  describe('hostile data', () => {
    const hostileCases: [SystemTemplateName, Record<string, unknown>][] = [
      ['accounts.verify_email', { token: TOKEN, code: '123456', expires_hours: 24, name: HOSTILE }],
      ['accounts.password_changed', { at: '2025-03-01T14:05:00Z', ip: HOSTILE, device: HOSTILE }],
      ['accounts.new_sign_in', { at: '2025-03-01T14:05:00Z', ip: HOSTILE, device: HOSTILE }],
      ['accounts.email_change', { token: TOKEN, code: '123456', new_email: HOSTILE, expires_hours: 24 }],
      ['accounts.email_changed', { new_email: HOSTILE, at: HOSTILE }],
      ['accounts.account_locked', { minutes: 15, until: HOSTILE }],
      ['orgs.invitation', { token: TOKEN, org_name: HOSTILE, role: HOSTILE, inviter_name: HOSTILE, expires_at: HOSTILE }],
      ['privacy.compliance_alert', { title: HOSTILE, detail: HOSTILE }],
    ];

    it.each(hostileCases)('%s escapes it in the html and shows it as written in the text', (name, data) => {
      for (const locale of ['en', 'es']) {
        const mail = renderDefault(name, locale, data);
        expect(mail.html).toContain(ESCAPED);
        expect(mail.html).not.toContain('<script');
        expect(mail.text).toContain(HOSTILE); // plain text is not HTML: shown as written
      }
    });

    it('escapes a token that would break out of the href attribute', () => {
      const token = '"><img src=x onerror=alert(1)>';
      const mail = renderDefault('accounts.magic_link', 'en', { token, expires_minutes: 15 });
      expect(mail.html).not.toContain('<img');
      expect(mail.html).toContain(`href="${URL_}/magic-link?token=${encodeURIComponent(token)}"`);
    });

    it('never links a data URL that is not http(s)', () => {
      const mail = renderDefault('privacy.export_ready', 'en', { url: 'javascript:alert(1)', expires_at: '2025-03-02T00:00:00Z' });
      expect(mail.html).not.toContain('javascript:');
      expect(mail.html).toContain('href="#"');
    });

    it('escapes the product name and the public URL too', () => {
      const mail = renderDefault('accounts.password_reset', 'en', { token: TOKEN, expires_minutes: 30 }, { ctx: { publicUrl: 'https://id.example.com/a"b', productName: 'Acme <b>&</b> Co' } });
      expect(mail.html).toContain('Acme &lt;b&gt;&amp;&lt;/b&gt; Co');
      expect(mail.html).not.toContain('<b>');
      expect(mail.html).toContain('href="https://id.example.com/a&quot;b/reset-password?token=');
      expect(mail.subject).toContain('Acme <b>&</b> Co');
    });

    it('flattens a device or name carrying line breaks to one line in the text part', () => {
      const device = 'Chrome\r\n\r\nURGENT: confirm your account at https://evil.example\u2028now';
      const mail = renderDefault('accounts.new_sign_in', 'en', { at: '2025-03-01T14:05:00Z', device });
      expect(mail.text).toContain('Device: Chrome URGENT: confirm your account at https://evil.example now\n');
      expect(mail.text).not.toMatch(/^URGENT/m);
      const named = renderDefault('accounts.verify_email', 'en', { token: TOKEN, code: '123456', expires_hours: 24, name: 'Al\nice' });
      expect(named.text).toMatch(/^Hi Al ice,/);
    });

    it('cuts an overlong device description short', () => {
      const mail = renderDefault('accounts.new_sign_in', 'en', { at: '2025-03-01T14:05:00Z', device: 'x'.repeat(5_000) });
      expect(mail.text).not.toContain('x'.repeat(201));
      expect(mail.text).toContain(`${'x'.repeat(199)}…`);
    });
  });

  describe('optional values', () => {
    it('leaves out missing device and IP instead of printing null', () => {
      for (const locale of ['en', 'es']) {
        const mail = renderDefault('accounts.password_changed', locale, { at: '2025-03-01T14:05:00Z', ip: null });
        for (const part of [mail.text, mail.html]) {
          expect(part).not.toMatch(/null|undefined/);
          expect(part).not.toMatch(/Device|Dispositivo/);
          expect(part).not.toMatch(/IP address|Dirección IP/);
        }
      }
      const full = renderDefault('accounts.password_changed', 'en', { at: '2025-03-01T14:05:00Z', ip: '203.0.113.7', device: 'Firefox' });
      expect(full.text).toContain('When: 2025-03-01 14:05 UTC\nIP address: 203.0.113.7\nDevice: Firefox\n\nIf this was you');
    });

    it('greets without a name when there is none', () => {
      const mail = renderDefault('accounts.verify_email', 'en', { token: TOKEN, code: '123456', expires_hours: 1, name: null });
      expect(mail.text).toMatch(/^Please verify your email address/);
      expect(mail.text).toContain('1 hour.');
      expect(mail.text).not.toMatch(/null|undefined/);
    });

    it('names the inviter by address alone, or as someone, when that is all there is', () => {
      const base = { token: TOKEN, org_name: 'Globex', role: 'member', expires_at: '2025-03-08T10:00:00Z' };
      expect(renderDefault('orgs.invitation', 'en', { ...base, inviter_email: 'olive@example.org' }).text).toContain('olive@example.org invited you to join Globex on Acme ID as a member.');
      expect(renderDefault('orgs.invitation', 'en', base).text).toContain('Someone invited you to join Globex');
      expect(renderDefault('orgs.invitation', 'en', { ...base, org_name: '' }).subject).toBe('You are invited to join an organization on Acme ID');
    });

    it('does not double the slash when the public URL ends with one, and keeps a sub-path', () => {
      expect(renderDefault('accounts.magic_link', 'en', { token: TOKEN, expires_minutes: 15 }, { ctx: { ...context, publicUrl: `${URL_}/` } }).text).toContain(`${URL_}/magic-link?token=${ENCODED}`);
      expect(renderDefault('accounts.password_reset', 'en', { token: TOKEN, expires_minutes: 30 }, { ctx: { ...context, publicUrl: `${URL_}/id` } }).text).toContain(`${URL_}/id/reset-password?token=${ENCODED}`);
    });

    it('the invitation (organization category) carries the unsubscribe link; security mail never does', () => {
      const unsubscribeUrl = `${URL_}/v1/unsubscribe?token=u`;
      const invitation = renderDefault('orgs.invitation', 'en', { token: TOKEN, org_name: 'Globex', role: 'member', expires_at: '2025-03-08T10:00:00Z' }, { unsubscribeUrl });
      expect(invitation.text).toContain(`Unsubscribe from these emails:\n${unsubscribeUrl}`);
      expect(invitation.html).toContain(`href="${unsubscribeUrl}"`);
      const reset = renderDefault('accounts.password_reset', 'en', { token: TOKEN, expires_minutes: 30 }, { unsubscribeUrl });
      expect(reset.text).not.toContain(unsubscribeUrl);
    });
  });
});
