import { defineErrors } from '../../platform/http/errors.js';
import { orgErrors } from '../orgs/index.js';

/**
 * The errors of the OIDC registry's admin API. `invalid_redirect_uri` and `invalid_client_metadata`
 * are the codes of RFC 7591 (dynamic client registration) for the same refusals.
 */
export const oidcErrors = {
  ...defineErrors({
    application_not_found: { status: 404, title: 'No such application' },
    resource_not_found: { status: 404, title: 'No such API resource' },
    invalid_redirect_uri: { status: 422, title: 'One or more redirect URIs are not valid for this application' },
    invalid_client_metadata: { status: 422, title: "The application's settings are not valid for its type" },
    public_client: { status: 409, title: 'A public application has no client secret' },
    resource_indicator_taken: { status: 409, title: 'Another API resource has this indicator' },
    invalid_resource_indicator: { status: 422, title: 'A resource indicator is an absolute URI without fragment' },
    duplicate_scope: { status: 422, title: 'A scope is named twice' },
    reserved_scope: { status: 422, title: 'The scope name is reserved for OpenID Connect' },
    unknown_resource: { status: 422, title: 'Unknown API resource' },
    unknown_scope: { status: 422, title: 'The API resource has no such scope' },
    interaction_not_found: { status: 404, title: 'This sign-in request has ended or belongs to another browser' },
    interaction_prompt_mismatch: { status: 409, title: 'This sign-in request is at another step' },
    fresh_sign_in_required: { status: 403, title: 'The application asks you to sign in again' },
    account_mismatch: { status: 409, title: 'This sign-in request was made for another account' },
    not_a_member: { status: 403, title: 'You are not a member of this organization' },
  }),
  /** An org_id that names no organization. */
  org_not_found: orgErrors.org_not_found,
};
