export {
  createOutboxTransport, createSmtpTransport, escapeHtml, listOutbox,
  MESSAGE_CATEGORIES, type Mail, type MessageCategory, type MailTemplate, type MailTransport, type OutboxEntry, type OutgoingMail, type RenderedMail, type SendMail, type TemplateContext,
} from './mail.js';
export { createResendTransport, type ResendOptions } from './resend.js';
