import type { MailTemplate, MessageCategory, TemplateContext } from '../../platform/mail/index.js';
import type { Renderer } from './communications.messenger.js';

/**
 * Templates written in code (the modules' `*.mails.ts`), as a Renderer: email renders the template,
 * other channels get its subject and text.
 */
export interface CodeTemplates extends Renderer {
  register<D>(name: string, template: MailTemplate<D>, options?: { category?: MessageCategory }): void;
}

export function createCodeTemplates(context: TemplateContext): CodeTemplates {
  const templates = new Map<string, { render: MailTemplate<Record<string, unknown>>; category: MessageCategory }>();
  return {
    register(name, template, options = {}) {
      if (templates.has(name)) throw new Error(`template ${name} registered twice`);
      templates.set(name, { render: template as MailTemplate<Record<string, unknown>>, category: options.category ?? 'security' });
    },
    categoryOf: (name) => templates.get(name)?.category,
    async render({ template, channel, data }) {
      const found = templates.get(template);
      if (!found) return null;
      const mail = found.render(data, context);
      if (channel === 'email') return { subject: mail.subject, html: mail.html ?? null, text: mail.text };
      return { subject: mail.subject, html: null, text: channel === 'sms' ? `${mail.subject}\n${mail.text}`.slice(0, 1600) : mail.text };
    },
  };
}
