import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import type { oneTimeTokens, sessions, users } from './accounts.tables.js';

/** Row types: what the queries answer and the services pass around. */
export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type OneTimeTokenRow = typeof oneTimeTokens.$inferSelect;
/** What a one-time token (a mailed link, with or without a code) is for. */
export type TokenPurpose = 'verify_email' | 'email_change' | 'magic_link' | 'password_reset' | 'mfa_recovery';

/** Checked by the service after trimming (so ` a@b.co ` is accepted as `a@b.co`). */
export const Email = Type.String({ minLength: 3, maxLength: 320, description: 'An email address; trimmed, compared case-insensitively' });
/** The policy (8–128 characters, not common, not the email) is checked by the service, rule by rule. */
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
const OpaqueToken = Type.String({ minLength: 16, maxLength: 512 });

export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  email_verified: Type.Boolean(),
  name: Nullable(Type.String()),
  locale: Nullable(Type.String()),
  timezone: Nullable(Type.String()),
  phone: Nullable(Type.String({ description: 'E.164; set once verified by an SMS code (POST /v1/me/phone)' })),
  phone_verified: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type UserBody = Static<typeof User>;

export function userBody(user: UserRow): UserBody {
  return {
    id: user.id,
    email: user.email,
    email_verified: user.emailVerified,
    name: user.name,
    locale: user.locale,
    timezone: user.timezone,
    phone: user.phone,
    phone_verified: user.phoneVerified,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

const UseCookie = Type.Optional(
  Type.Boolean({ description: 'Browser clients: set HttpOnly session cookies instead of returning the tokens; state-changing requests then need the CSRF token' }),
);

export const SignupBody = Type.Object(
  {
    email: Email,
    password: Password,
    name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
    locale: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$',
        maxLength: 35,
        description: 'The language of the pages the person signed up on (BCP 47, e.g. es or en-GB): their mails speak it from the first one; changed later with PATCH /v1/me',
      }),
    ),
  },
  { additionalProperties: false },
);
const ShownPassword = Type.Optional(
  Type.String({ minLength: 1, maxLength: 1024, description: "The account's password: keeps a password set before the address was proven (see the description)" }),
);
export const VerifyEmailBody = Type.Union([
  Type.Object({ token: OpaqueToken, password: ShownPassword }, { additionalProperties: false }),
  Type.Object({ email: Email, code: Type.String({ pattern: '^[0-9]{6}$' }), password: ShownPassword }, { additionalProperties: false }),
]);
export const EmailBody = Type.Object({ email: Email }, { additionalProperties: false });
export const LoginBody = Type.Object({ email: Email, password: Password, use_cookie: UseCookie }, { additionalProperties: false });
export const TokenBody = Type.Object({ token: OpaqueToken, use_cookie: UseCookie }, { additionalProperties: false });
export const RefreshBody = Type.Object(
  {
    refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Absent: taken from the refresh cookie (then the CSRF header is required)' })),
    // One schema with two types, not a union: the validator coerces types ('' would become null in a union).
    org_id: Type.Optional(
      Type.Unsafe<string | null>({
        type: ['string', 'null'],
        pattern: '^org_[0-9a-z]{26}$',
        description: 'The organization the new tokens speak for (org_id and org_role claims; the session keeps it for later refreshes); null: none. Absent: as before.',
      }),
    ),
    use_cookie: UseCookie,
  },
  { additionalProperties: false },
);
export const CheckPasswordBody = Type.Object(
  {
    password: Type.String({ maxLength: 1024, description: 'The password as typed (never trimmed); not stored, not logged' }),
    email: Type.Optional(Type.String({ maxLength: 320, description: 'The account\'s address: the policy refuses the address as the password, and the estimate knows it' })),
    name: Type.Optional(Type.String({ maxLength: 200, description: 'The person\'s name: the estimate knows it' })),
  },
  { additionalProperties: false },
);
export const PasswordCheck = Type.Object({
  acceptable: Type.Boolean({ description: 'Whether sign-up, password reset and change would accept it (the same policy check); without `email`, the check against the address is left out' }),
  score: Type.Integer({ minimum: 0, maximum: 4, description: "zxcvbn's strength estimate, 0 (too guessable) to 4; at most 1 while the password is not acceptable. Estimated on the first 64 characters" }),
  min_length: Type.Integer({ description: 'The shortest password the policy accepts (characters, not counting spaces at the start or end)' }),
  feedback: Type.Object({
    warning: Nullable(Type.String({ description: 'The first rule the password breaks, as a sentence; else what makes it guessable, if anything' })),
    suggestions: Type.Array(Type.String(), { description: 'How to make it stronger (English)' }),
  }),
  problems: Type.Array(Type.Object({ rule: Type.String(), message: Type.String() }), {
    description: 'Every policy rule the password breaks, as the `errors` of weak_password name them (too_short, too_long, too_common, same_as_email, whitespace_only, needs_uppercase, needs_lowercase, needs_digit, needs_symbol); empty when acceptable',
  }),
});

export const ResetBody = Type.Object({ token: OpaqueToken, password: Password }, { additionalProperties: false });

export const Tokens = Type.Object({
  token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('cookie')]),
  access_token: Type.Optional(Type.String()),
  refresh_token: Type.Optional(Type.String()),
  expires_in: Type.Integer({ description: 'Seconds the access token lives' }),
  session_id: Type.String(),
  csrf_token: Type.Optional(Type.String({ description: 'Cookie sessions: send it in X-CSRF-Token on state-changing requests' })),
  user: User,
});

export const MfaRequired = Type.Object({
  mfa_required: Type.Literal(true),
  mfa_token: Type.String({ description: 'Send it to POST /v1/auth/mfa/verify within 5 minutes' }),
  methods: Type.Array(Type.String(), { description: 'totp, backup_code, passkey' }),
  passkey_options: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'PublicKeyCredentialRequestOptionsJSON' })),
});

export const ProfileBody = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
    locale: Type.Optional(Nullable(Type.String({ minLength: 2, maxLength: 35 }))),
    timezone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ChangePasswordBody = Type.Object({ current_password: Password, new_password: Password }, { additionalProperties: false });
export const ChangeEmailBody = Type.Object({ new_email: Email, password: Password }, { additionalProperties: false });

export const Session = Type.Object({
  id: Type.String(),
  current: Type.Boolean(),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  device: Nullable(Type.String()),
  created_at: Timestamp,
  last_seen_at: Timestamp,
  expires_at: Timestamp,
});

export function sessionBody(session: SessionRow, currentId: string | null, idleTimeoutSeconds: number): Static<typeof Session> {
  const idleEnd = session.lastSeenAt.getTime() + idleTimeoutSeconds * 1000;
  return {
    id: session.id,
    current: session.id === currentId,
    ip: session.ip,
    user_agent: session.userAgent,
    device: session.device,
    created_at: session.createdAt.toISOString(),
    last_seen_at: session.lastSeenAt.toISOString(),
    // The earlier of the absolute end and the idle end.
    expires_at: new Date(Math.min(session.expiresAt.getTime(), idleEnd)).toISOString(),
  };
}

export const SessionParams = Type.Object({ id: Type.String({ pattern: '^ses_[0-9a-z]{26}$' }) });
