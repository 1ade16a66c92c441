export {
  createMail, createOutboxTransport, createSmtpTransport, escapeHtml, listOutbox, MAIL_QUEUE,
  type Mail, type MailTemplate, type MailTransport, type OutboxEntry, type RenderedMail, type SendMail, type TemplateContext,
} from './mail.js';
