export {
  createMail, createOutboxTransport, createSmtpTransport, escapeHtml, listOutbox, MAIL_QUEUE,
  MESSAGE_CATEGORIES, type Mail, type MailPipeline, type MessageCategory, type QueuedMessage, type MailTemplate, type MailTransport, type OutboxEntry, type RenderedMail, type SendMail, type TemplateContext,
} from './mail.js';
