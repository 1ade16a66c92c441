import { Type, type TSchema } from '@sinclair/typebox';

/*
 * The event types a webhook endpoint may subscribe to: each with the JSON Schema of its `data` and
 * an example, served at GET /v1/webhooks/event-types. The body of every delivery is
 * `{type, timestamp, data}`; `webhook-id` is the event's id (the same on every retry).
 *
 * Which organization hears what: org-scoped events (org.*, member.*, invitation.*, api_key.*,
 * role.*, application.* of an application that belongs to the organization) go to that
 * organization's endpoints; events about a person (user.*, session.*, mfa.*,
 * passkey.*) go to the endpoints of every organization the person is a member of when the event
 * is dispatched.
 */

const Id = (prefix: string) => Type.String({ pattern: `^${prefix}_[0-9a-z]{26}$` });
const UserId = Id('usr');
const OrgId = Id('org');
const open = <T extends Record<string, TSchema>>(properties: T) => Type.Object(properties, { additionalProperties: true });

interface EventType {
  description: string;
  /** Whom it concerns: an organization, or a person (delivered to their organizations). */
  scope: 'org' | 'user';
  schema: TSchema;
  example: Record<string, unknown>;
}

const USER = 'usr_01jd8x7k2m3n4p5q6r7s8t9v0w';
const ORG = 'org_01jd8x7k2m3n4p5q6r7s8t9v0w';
const APP = 'app_01jd8x7k2m3n4p5q6r7s8t9v0w';
const AppId = Id('app');

export const EVENT_TYPES: Readonly<Record<string, EventType>> = {
  'user.created': { description: 'A person signed up (or an admin was created).', scope: 'user', schema: open({ id: UserId, email: Type.String(), name: Type.Optional(Type.Union([Type.String(), Type.Null()])) }), example: { id: USER, email: 'ada@example.com', name: 'Ada' } },
  'user.updated': { description: 'A person changed their profile or email address.', scope: 'user', schema: open({ id: UserId, changes: Type.Array(Type.String()) }), example: { id: USER, changes: ['name'] } },
  'user.deleted': { description: 'An account was deleted.', scope: 'user', schema: open({ id: UserId }), example: { id: USER } },
  'user.email_verified': { description: 'A person proved their email address.', scope: 'user', schema: open({ id: UserId, email: Type.String() }), example: { id: USER, email: 'ada@example.com' } },
  'session.created': { description: 'A person signed in.', scope: 'user', schema: open({ id: Id('ses'), user_id: UserId, device: Type.Union([Type.String(), Type.Null()]) }), example: { id: 'ses_01jd8x7k2m3n4p5q6r7s8t9v0w', user_id: USER, device: 'Firefox on Linux' } },
  'session.revoked': { description: 'A session ended early (sign-out, revocation, refresh-token reuse).', scope: 'user', schema: open({ id: Id('ses'), user_id: UserId, reason: Type.String() }), example: { id: 'ses_01jd8x7k2m3n4p5q6r7s8t9v0w', user_id: USER, reason: 'logout' } },
  'mfa.enabled': { description: 'A person enrolled a second factor.', scope: 'user', schema: open({ user_id: UserId, factor: Type.String() }), example: { user_id: USER, factor: 'totp' } },
  'mfa.disabled': { description: 'A person removed a second factor.', scope: 'user', schema: open({ user_id: UserId, factor: Type.String() }), example: { user_id: USER, factor: 'totp' } },
  'passkey.added': { description: 'A person registered a passkey.', scope: 'user', schema: open({ id: Type.String(), user_id: UserId, name: Type.String() }), example: { id: 'pky_01jd8x7k2m3n4p5q6r7s8t9v0w', user_id: USER, name: 'MacBook', device_type: 'multiDevice', backed_up: true } },
  'passkey.removed': { description: 'A person removed a passkey.', scope: 'user', schema: open({ id: Type.String(), user_id: UserId, name: Type.String() }), example: { id: 'pky_01jd8x7k2m3n4p5q6r7s8t9v0w', user_id: USER, name: 'MacBook' } },
  'org.created': { description: 'An organization was created.', scope: 'org', schema: open({ org_id: OrgId, name: Type.String(), slug: Type.String() }), example: { org_id: ORG, name: 'Acme', slug: 'acme' } },
  'org.updated': { description: 'An organization changed (name, slug, tier…).', scope: 'org', schema: open({ org_id: OrgId, changes: Type.Array(Type.String()) }), example: { org_id: ORG, changes: ['name'] } },
  'org.deleted': { description: 'An organization was deleted (its own endpoints go with it: this event reaches none of them).', scope: 'org', schema: open({ org_id: OrgId }), example: { org_id: ORG } },
  'member.added': { description: 'A person joined the organization.', scope: 'org', schema: open({ org_id: OrgId, user_id: UserId, role: Type.String() }), example: { org_id: ORG, user_id: USER, role: 'member' } },
  'member.removed': { description: 'A person left or was removed.', scope: 'org', schema: open({ org_id: OrgId, user_id: UserId }), example: { org_id: ORG, user_id: USER } },
  'member.role_changed': { description: "A member's role changed.", scope: 'org', schema: open({ org_id: OrgId, user_id: UserId, role: Type.String(), previous_role: Type.String() }), example: { org_id: ORG, user_id: USER, role: 'admin', previous_role: 'member' } },
  'invitation.created': { description: 'Someone was invited.', scope: 'org', schema: open({ org_id: OrgId, invitation_id: Id('inv'), email: Type.String(), role: Type.String() }), example: { org_id: ORG, invitation_id: 'inv_01jd8x7k2m3n4p5q6r7s8t9v0w', email: 'bob@example.com', role: 'member' } },
  'invitation.accepted': { description: 'An invitation was accepted.', scope: 'org', schema: open({ org_id: OrgId, invitation_id: Id('inv'), user_id: UserId, role: Type.String() }), example: { org_id: ORG, invitation_id: 'inv_01jd8x7k2m3n4p5q6r7s8t9v0w', user_id: USER, role: 'member' } },
  'invitation.revoked': { description: 'An invitation was revoked.', scope: 'org', schema: open({ org_id: OrgId, invitation_id: Id('inv') }), example: { org_id: ORG, invitation_id: 'inv_01jd8x7k2m3n4p5q6r7s8t9v0w', email: 'bob@example.com', role: 'member' } },
  'api_key.created': { description: 'An API key was created (never its secret).', scope: 'org', schema: open({ org_id: OrgId, api_key_id: Id('key'), name: Type.String(), prefix: Type.String(), scopes: Type.Array(Type.String()) }), example: { org_id: ORG, api_key_id: 'key_01jd8x7k2m3n4p5q6r7s8t9v0w', name: 'CI', prefix: 'tsk_live_ab12', scopes: ['members:read'] } },
  'api_key.revoked': { description: 'An API key was revoked.', scope: 'org', schema: open({ org_id: OrgId, api_key_id: Id('key') }), example: { org_id: ORG, api_key_id: 'key_01jd8x7k2m3n4p5q6r7s8t9v0w', name: 'CI', prefix: 'tsk_live_ab12', scopes: ['members:read'] } },
  'role.created': { description: 'A custom role was created.', scope: 'org', schema: open({ org_id: OrgId, role_id: Id('rol'), name: Type.String(), permissions: Type.Array(Type.String()) }), example: { org_id: ORG, role_id: 'rol_01jd8x7k2m3n4p5q6r7s8t9v0w', name: 'Billing', permissions: ['org:read'] } },
  'role.updated': { description: 'A custom role changed.', scope: 'org', schema: open({ org_id: OrgId, role_id: Id('rol') }), example: { org_id: ORG, role_id: 'rol_01jd8x7k2m3n4p5q6r7s8t9v0w', name: 'Billing', permissions: ['org:read', 'members:read'] } },
  'role.deleted': { description: 'A custom role was deleted.', scope: 'org', schema: open({ org_id: OrgId, role_id: Id('rol') }), example: { org_id: ORG, role_id: 'rol_01jd8x7k2m3n4p5q6r7s8t9v0w', name: 'Billing', permissions: [] } },
  'application.created': { description: "An OIDC application of the organization was registered (platform admins register applications; never its secret). Platform-wide applications, with no organization, reach no endpoint.", scope: 'org', schema: open({ org_id: OrgId, application_id: AppId, client_id: AppId, name: Type.String(), type: Type.String() }), example: { org_id: ORG, application_id: APP, client_id: APP, name: 'Reports', type: 'web', first_party: false } },
  'application.updated': { description: "An OIDC application of the organization changed (settings, or its granted resource scopes: changes lists the fields).", scope: 'org', schema: open({ org_id: OrgId, application_id: AppId, changes: Type.Array(Type.String()) }), example: { org_id: ORG, application_id: APP, client_id: APP, changes: ['redirect_uris'] } },
  'application.deleted': { description: 'An OIDC application of the organization was deleted.', scope: 'org', schema: open({ org_id: OrgId, application_id: AppId }), example: { org_id: ORG, application_id: APP, client_id: APP, name: 'Reports' } },
  'application.secret_rotated': { description: "An OIDC application's client secret was rotated (never the secret): the previous one works until previous_secret_expires_at.", scope: 'org', schema: open({ org_id: OrgId, application_id: AppId, previous_secret_expires_at: Type.String() }), example: { org_id: ORG, application_id: APP, client_id: APP, previous_secret_expires_at: '2026-01-02T12:00:00.000Z' } },
  'webhook.test': { description: 'Sent on request (POST …/webhooks/{id}/test) to check an endpoint; no endpoint subscribes to it.', scope: 'org', schema: open({ org_id: OrgId, endpoint_id: Id('whk') }), example: { org_id: ORG, endpoint_id: 'whk_01jd8x7k2m3n4p5q6r7s8t9v0w' } },
};

/** Types an endpoint may subscribe to (`*`: all of them). */
export const SUBSCRIBABLE_TYPES: readonly string[] = Object.keys(EVENT_TYPES).filter((type) => type !== 'webhook.test');

export const isUserScoped = (type: string): boolean => EVENT_TYPES[type]?.scope === 'user';
