export { createCommunicationsService, maskRecipient, type CommunicationsService } from './communications.service.js';
export { createSettingsService, DEFAULT_COMMUNICATION_SETTINGS, CHANNELS, type SettingsService, type Channel, type CommunicationSettings } from './communications.settings.js';
export { communicationRoutes } from './communications.routes.js';
export { communicationErrors } from './communications.errors.js';
export { createMessenger, DELIVER_QUEUE, type Messenger, type NotifyInput, type Renderer, type RenderedMessage, type Recipients, type BlockedStatus } from './communications.messenger.js';
export { createCodeTemplates, type CodeTemplates } from './communications.code-templates.js';
