import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import type { passkeys } from './passkeys.tables.js';

export type PasskeyRow = typeof passkeys.$inferSelect;

/** A WebAuthn JSON value (options or a credential response) passed through as the spec shapes it. */
const WebAuthnJson = (description: string) => Type.Object({}, { additionalProperties: true, description });

const UseCookie = Type.Optional(
  Type.Boolean({ description: 'Browser clients: set HttpOnly session cookies instead of returning the tokens; state-changing requests then need the CSRF token' }),
);

export const PasskeyName = Type.String({ minLength: 1, maxLength: 100, description: 'A label for the user (trimmed)' });

export const Passkey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Timestamp,
  last_used_at: Nullable(Timestamp),
  device_type: Nullable(Type.String({ description: 'singleDevice or multiDevice (synced)' })),
  backed_up: Type.Boolean(),
  transports: Type.Array(Type.String()),
  aaguid: Nullable(Type.String({ description: 'The authenticator model, when it tells' })),
});
export type PasskeyBody = Static<typeof Passkey>;

/** The public view of a passkey: never its public key or credential id. */
export function passkeyBody(row: PasskeyRow): PasskeyBody {
  return {
    id: row.id,
    name: row.name,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt ? row.lastUsedAt.toISOString() : null,
    device_type: row.deviceType,
    backed_up: row.backedUp,
    transports: row.transports,
    aaguid: row.aaguid,
  };
}

export const PasskeyParams = Type.Object({ id: Type.String({ pattern: '^pky_[0-9a-z]{26}$' }) });

export const CreationOptions = WebAuthnJson('PublicKeyCredentialCreationOptionsJSON: pass to navigator.credentials.create (or startRegistration)');
export const RequestOptions = WebAuthnJson('PublicKeyCredentialRequestOptionsJSON: pass to navigator.credentials.get (or startAuthentication)');

export const RegisterBody = Type.Object(
  { response: WebAuthnJson('RegistrationResponseJSON from navigator.credentials.create'), name: Type.Optional(PasskeyName) },
  { additionalProperties: false },
);
export const RenameBody = Type.Object({ name: PasskeyName }, { additionalProperties: false });

export const PasskeyOptionsBody = Type.Object(
  { email: Type.Optional(Type.String({ minLength: 3, maxLength: 320, description: 'Absent: any passkey of this site (discoverable credentials)' })) },
  { additionalProperties: false },
);
export const PasskeyOptionsReply = Type.Object({
  options: RequestOptions,
  challenge_id: Type.String({ description: 'Send it back with the response within 5 minutes; usable once' }),
});

export const PasskeyVerifyBody = Type.Object(
  {
    challenge_id: Type.String({ minLength: 1, maxLength: 128 }),
    response: WebAuthnJson('AuthenticationResponseJSON from navigator.credentials.get'),
    use_cookie: UseCookie,
  },
  { additionalProperties: false },
);
