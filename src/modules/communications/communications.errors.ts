import { defineErrors } from '../../platform/http/errors.js';

export const communicationErrors = defineErrors({
  invalid_settings: { status: 422, title: 'The communication settings are not consistent' },
  suppression_not_found: { status: 404, title: 'The recipient is not suppressed on this channel' },
  channel_unavailable: { status: 422, title: 'No provider is configured for this channel' },
});
