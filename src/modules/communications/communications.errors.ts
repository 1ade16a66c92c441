import { defineErrors } from '../../platform/http/errors.js';

export const communicationErrors = defineErrors({
  invalid_settings: { status: 422, title: 'The communication settings are not consistent' },
  suppression_not_found: { status: 404, title: 'The recipient is not suppressed on this channel' },
  channel_disabled: { status: 422, title: 'An administrator has switched this channel off' },
});

/** Message templates (`/v1/admin/communications/templates`). */
export const templateErrors = defineErrors({
  invalid_template: { status: 422, title: 'The template does not parse or uses something templates may not use' },
  undeclared_variable: { status: 422, title: 'The template uses a variable it does not declare' },
  template_not_found: { status: 404, title: 'No such template' },
  template_version_not_found: { status: 404, title: 'The template has no such version' },
  template_exists: { status: 409, title: 'A template with this name, channel and locale exists already' },
});

/** Providers' delivery callbacks (`/v1/hooks/*`). */
export const hookErrors = defineErrors({
  invalid_signature: { status: 401, title: 'The callback is not signed by the provider' },
});

/** Test sends from the admin. */
export const testSendErrors = defineErrors({
  invalid_recipient: { status: 422, title: 'The recipient does not fit the channel' },
  user_not_found: { status: 404, title: 'No such user' },
});
