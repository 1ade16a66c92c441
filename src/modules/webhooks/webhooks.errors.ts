import { defineErrors } from '../../platform/http/errors.js';

export const webhookErrors = defineErrors({
  endpoint_not_found: { status: 404, title: 'No such webhook endpoint in this organization' },
  delivery_not_found: { status: 404, title: 'No such delivery for this endpoint' },
  delivery_in_progress: { status: 409, title: 'The delivery is still being attempted' },
  unsafe_url: { status: 422, title: 'The URL cannot be a webhook endpoint' },
  unknown_event_type: { status: 422, title: 'Unknown event type' },
});
