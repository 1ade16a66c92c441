import { describe, expect, it } from 'vitest';
import { escapeHtml, type MailTemplate, type RenderedMail, type TemplateContext } from '../../platform/mail/index.js';
import { accountMailTemplates, registerAccountMails, type AccountMailData, type AccountMailName } from './accounts.mails.js';

const context: TemplateContext = { publicUrl: 'https://id.example.com', productName: 'Acme ID' };
const URL_ = context.publicUrl;
/** A token with characters that must be URL-encoded. */
const TOKEN = 'tok+en/with=odd&chars?';
const ENCODED = encodeURIComponent(TOKEN);
const HOSTILE = '<script>alert(1)</script>';
const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

function render<K extends AccountMailName>(name: K, data: AccountMailData[K], ctx: TemplateContext = context): RenderedMail & { html: string } {
  const template = accountMailTemplates[name] as MailTemplate<AccountMailData[K]>;
  const mail = template(data, ctx);
  if (typeof mail.html !== 'string') throw new Error(`${name} has no html part`);
  return { ...mail, html: mail.html };
}

interface Case {
  name: AccountMailName;
  data: AccountMailData[AccountMailName];
  /** Links that must be in both parts. */
  links: string[];
  code?: string;
  /** Words the mail must say, in both parts. */
  says: RegExp[];
}

const cases: Case[] = [
  {
    name: 'accounts.verify_email',
    data: { token: TOKEN, code: '482913', expires_hours: 24, name: 'Alice' },
    links: [`${URL_}/verify-email?token=${ENCODED}`],
    code: '482913',
    says: [/24 hours/, /Alice/],
  },
  {
    name: 'accounts.signup_existing',
    data: {},
    links: [`${URL_}/login`, `${URL_}/forgot-password`],
    says: [/maybe you/i, /already have an account/i],
  },
  {
    name: 'accounts.magic_link',
    data: { token: TOKEN, expires_minutes: 15 },
    links: [`${URL_}/magic-link?token=${ENCODED}`],
    says: [/15 minutes/],
  },
  {
    name: 'accounts.password_reset',
    data: { token: TOKEN, expires_minutes: 30 },
    links: [`${URL_}/reset-password?token=${ENCODED}`],
    says: [/30 minutes/, /did not request/i, /ignore/i],
  },
  {
    name: 'accounts.password_changed',
    data: { at: '2025-03-01T14:05:09.123Z', ip: '203.0.113.7', device: 'Firefox on Linux' },
    links: [`${URL_}/forgot-password`],
    says: [/password .*was just changed/i, /2025-03-01 14:05 UTC/, /203\.0\.113\.7/, /Firefox on Linux/, /not you/i],
  },
  {
    name: 'accounts.account_locked',
    data: { minutes: 15, until: '2025-03-01T14:20:00Z' },
    links: [`${URL_}/forgot-password`],
    says: [/too many failed/i, /15 minutes/, /2025-03-01 14:20 UTC/],
  },
  {
    name: 'accounts.new_sign_in',
    data: { at: '2025-03-01T14:05:00Z', ip: '198.51.100.4', device: 'Safari on iPhone' },
    links: [`${URL_}/account/sessions`],
    says: [/not seen before/i, /198\.51\.100\.4/, /Safari on iPhone/, /2025-03-01 14:05 UTC/],
  },
  {
    name: 'accounts.email_change',
    data: { token: TOKEN, code: '090417', new_email: 'new@example.org', expires_hours: 1 },
    links: [`${URL_}/verify-email?token=${ENCODED}`],
    code: '090417',
    says: [/new@example\.org/, /1 hour\b/],
  },
  {
    name: 'accounts.email_changed',
    data: { new_email: 'new@example.org', at: '2025-03-01T14:05:00Z' },
    links: [],
    says: [/new@example\.org/, /was changed/i, /2025-03-01 14:05 UTC/],
  },
];

describe('account mail templates', () => {
  it('covers every template name', () => {
    expect(cases.map((c) => c.name).sort()).toEqual(Object.keys(accountMailTemplates).sort());
  });

  describe.each(cases)('$name', ({ name, data, links, code, says }) => {
    const mail = render(name, data);

    it('names the product in subject, text and html', () => {
      expect(mail.subject).toContain('Acme ID');
      expect(mail.text).toContain('Acme ID');
      expect(mail.html).toContain('Acme ID');
      expect(mail.subject).not.toMatch(/[\r\n]/);
    });

    it('writes each link out in the text part and as an <a href> in the html part', () => {
      for (const url of links) {
        expect(mail.text).toContain(url);
        expect(mail.html).toContain(`<a href="${escapeHtml(url)}"`);
      }
    });

    it('never puts the raw token in a link', () => {
      if (!('token' in data)) return;
      expect(mail.text).not.toContain(TOKEN);
      expect(mail.html).not.toContain(escapeHtml(TOKEN));
    });

    it('shows the code, if any, in both parts', () => {
      if (code === undefined) return;
      expect(mail.text).toMatch(new RegExp(`^\\s*${code}$`, 'm')); // on a line of its own
      expect(mail.html).toContain(`>${code}</p>`);
    });

    it('says what it is about in both parts', () => {
      for (const pattern of says) {
        expect(mail.text).toMatch(pattern);
        expect(mail.html).toMatch(pattern);
      }
    });

    it('is a complete HTML document', () => {
      expect(mail.html).toMatch(/^<!doctype html><html>/);
      expect(mail.html).toMatch(/<\/html>$/);
    });
  });

  describe('hostile data', () => {
    const hostileCases: [AccountMailName, AccountMailData[AccountMailName]][] = [
      ['accounts.verify_email', { token: TOKEN, code: '123456', expires_hours: 24, name: HOSTILE }],
      ['accounts.password_changed', { at: '2025-03-01T14:05:00Z', ip: HOSTILE, device: HOSTILE }],
      ['accounts.new_sign_in', { at: '2025-03-01T14:05:00Z', ip: HOSTILE, device: HOSTILE }],
      ['accounts.email_change', { token: TOKEN, code: '123456', new_email: HOSTILE, expires_hours: 24 }],
      ['accounts.email_changed', { new_email: HOSTILE, at: HOSTILE }],
      ['accounts.account_locked', { minutes: 15, until: HOSTILE }],
    ];

    it.each(hostileCases)('%s escapes it in the html and never lets it through raw', (name, data) => {
      const mail = render(name, data);
      expect(mail.html).toContain(ESCAPED);
      expect(mail.html).not.toContain('<script');
      expect(mail.text).toContain(HOSTILE); // plain text is not HTML: shown as written
    });

    it('escapes a token that would break out of the href attribute', () => {
      const token = '"><img src=x onerror=alert(1)>';
      const mail = render('accounts.magic_link', { token, expires_minutes: 15 });
      expect(mail.html).not.toContain('<img');
      expect(mail.html).toContain(`href="${URL_}/magic-link?token=${encodeURIComponent(token)}"`);
    });

    it('escapes the product name and the public URL too', () => {
      const mail = render('accounts.password_reset', { token: TOKEN, expires_minutes: 30 }, { publicUrl: 'https://id.example.com/a"b', productName: 'Acme <b>&</b> Co' });
      expect(mail.html).toContain('Acme &lt;b&gt;&amp;&lt;/b&gt; Co');
      expect(mail.html).not.toContain('<b>');
      expect(mail.html).toContain('href="https://id.example.com/a&quot;b/reset-password?token=');
      expect(mail.subject).toContain('Acme <b>&</b> Co');
    });

    it('flattens a device or name carrying line breaks to one line in the text part', () => {
      const device = 'Chrome\r\n\r\nURGENT: confirm your account at https://evil.example\u2028now';
      const mail = render('accounts.new_sign_in', { at: '2025-03-01T14:05:00Z', device });
      expect(mail.text).toContain('Device: Chrome URGENT: confirm your account at https://evil.example now\n');
      expect(mail.text).not.toMatch(/^URGENT/m);
      const named = render('accounts.verify_email', { token: TOKEN, code: '123456', expires_hours: 24, name: 'Al\nice' });
      expect(named.text).toMatch(/^Hi Al ice,/);
    });

    it('cuts an overlong device description short', () => {
      const mail = render('accounts.new_sign_in', { at: '2025-03-01T14:05:00Z', device: 'x'.repeat(5_000) });
      expect(mail.text).not.toContain('x'.repeat(201));
      expect(mail.text).toContain(`${'x'.repeat(199)}…`);
    });
  });

  describe('optional values', () => {
    it('leaves out missing device and IP instead of printing null', () => {
      const mail = render('accounts.password_changed', { at: '2025-03-01T14:05:00Z', ip: null });
      for (const part of [mail.text, mail.html]) {
        expect(part).not.toMatch(/null|undefined/);
        expect(part).not.toContain('Device');
        expect(part).not.toContain('IP address');
      }
    });

    it('greets without a name when there is none', () => {
      const mail = render('accounts.verify_email', { token: TOKEN, code: '123456', expires_hours: 1, name: null });
      expect(mail.text).toMatch(/^Please verify your email address/);
      expect(mail.text).toContain('1 hour.');
      expect(mail.text).not.toMatch(/null|undefined/);
    });

    it('does not double the slash when the public URL ends with one', () => {
      const mail = render('accounts.magic_link', { token: TOKEN, expires_minutes: 15 }, { ...context, publicUrl: `${URL_}/` });
      expect(mail.text).toContain(`${URL_}/magic-link?token=${ENCODED}`);
    });

    it('keeps a sub-path of the public URL', () => {
      const mail = render('accounts.password_reset', { token: TOKEN, expires_minutes: 30 }, { ...context, publicUrl: `${URL_}/id` });
      expect(mail.text).toContain(`${URL_}/id/reset-password?token=${ENCODED}`);
    });
  });
});

describe('registerAccountMails', () => {
  it('registers every template once, under its name', () => {
    const registered = new Map<string, unknown>();
    registerAccountMails({
      register(name, template) {
        expect(registered.has(name)).toBe(false);
        registered.set(name, template);
      },
    });
    expect([...registered.keys()].sort()).toEqual([
      'accounts.account_locked',
      'accounts.email_change',
      'accounts.email_changed',
      'accounts.magic_link',
      'accounts.new_sign_in',
      'accounts.password_changed',
      'accounts.password_reset',
      'accounts.signup_existing',
      'accounts.verify_email',
    ]);
    for (const [name, template] of registered) expect(template).toBe(accountMailTemplates[name as AccountMailName]);
  });
});
