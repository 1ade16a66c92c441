import { clientOf } from '../../platform/http/client.js';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { RECENT_AUTH_SECONDS } from '../../platform/http/auth.js';
import { ACCEPTED, Accepted, problems, Timestamp } from '../../platform/http/schemas.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { MfaRequired, Tokens, type IssuedTokens, type SignInResult, type UserDirectory } from '../accounts/index.js';
import type { MfaService, OtpMethod, SecondFactorInput } from './mfa.service.js';

type TokensReply = (reply: FastifyReply, issued: SignInResult, useCookie: boolean | undefined) => unknown;

/** The sign-ins these routes finish (composed in app/sign-in.ts: the MFA step, then the session). */
export interface MfaSignInRoutes {
  secondFactor(mfaToken: string, factor: SecondFactorInput, client: ClientInfo): Promise<IssuedTokens>;
  recovery(token: string, password: string, client: ClientInfo): Promise<IssuedTokens>;
}

const Code = Type.String({ pattern: '^[0-9]{6}$', description: '6-digit code of the authenticator app' });
const BackupCode = Type.String({ minLength: 10, maxLength: 32 });
const PasskeyResponse = Type.Object({}, { additionalProperties: true, description: 'AuthenticationResponseJSON from navigator.credentials.get' });
const MfaToken = Type.String({ minLength: 20, maxLength: 4096 });
const UseCookie = Type.Optional(Type.Boolean());
const OtpMethodSchema = Type.Union([Type.Literal('email_otp'), Type.Literal('sms_otp')]);
const OtpId = Type.String({ pattern: '^otp_[0-9a-z]{26}$', description: 'From POST /v1/auth/mfa/otp/send' });
const OtpCode = Type.String({ pattern: '^[0-9]{4,10}$', description: 'The code sent by email or SMS' });
const BackupCodes = Type.Object({ backup_codes: Type.Array(Type.String(), { description: 'Shown once; each works once' }) });

export function mfaRoutes(
  server: HttpServer,
  deps: { mfa: MfaService; signIn: MfaSignInRoutes; users: UserDirectory; guards: Guards; tokensReply: TokensReply },
): void {
  const { mfa, signIn, users, guards } = deps;
  const security = [{ bearer: [] }];
  const enrolment = { config: { duringMfaEnrollment: true }, preValidation: guards.authenticate };
  const stepUp = { config: { duringMfaEnrollment: true }, preValidation: guards.requireRecentAuth };
  const me = async (userId: string) => {
    const user = await users.byId(userId);
    if (!user) throw new Error('authenticated user vanished');
    return user;
  };

  server.get(
    '/v1/me/mfa',
    {
      ...enrolment,
      schema: {
        tags: ['mfa'],
        summary: 'Which second factors are active',
        security,
        response: {
          200: Type.Object({ totp: Type.Boolean(), passkeys: Type.Integer(), backup_codes_remaining: Type.Integer(), enrollment_required: Type.Boolean() }),
          ...problems(401),
        },
      },
    },
    async (request) => mfa.status(request.auth!.userId),
  );

  server.post(
    '/v1/me/mfa/totp',
    {
      ...enrolment,
      schema: {
        tags: ['mfa'],
        summary: 'Start enrolling an authenticator app (active once confirmed)',
        security,
        response: { 200: Type.Object({ secret: Type.String(), otpauth_uri: Type.String(), qr_svg: Type.String() }), ...problems(401, 409) },
      },
    },
    async (request, reply) => {
      const started = await mfa.startTotp(await me(request.auth!.userId));
      reply.header('cache-control', 'no-store');
      return { secret: started.secret, otpauth_uri: started.otpauthUri, qr_svg: started.qrSvg };
    },
  );

  server.post(
    '/v1/me/mfa/totp/confirm',
    {
      ...enrolment,
      schema: {
        tags: ['mfa'],
        summary: 'Confirm the authenticator app with a code; answers the backup codes (shown once)',
        security,
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: BackupCodes, ...problems(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const codes = await mfa.confirmTotp(await me(request.auth!.userId), request.body.code, clientOf(request));
      reply.header('cache-control', 'no-store');
      return { backup_codes: codes };
    },
  );

  server.delete(
    '/v1/me/mfa/totp',
    { ...stepUp, schema: { tags: ['mfa'], summary: 'Remove the authenticator app (needs a recent sign-in)', security, response: { 204: Type.Null(), ...problems(401, 403, 404) } } },
    async (request, reply) => {
      await mfa.disableTotp(await me(request.auth!.userId), clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/me/mfa/backup-codes',
    { ...stepUp, schema: { tags: ['mfa'], summary: 'A fresh set of 10 backup codes; the old ones die (needs a recent sign-in)', security, response: { 200: BackupCodes, ...problems(401, 403, 409) } } },
    async (request, reply) => {
      const codes = await mfa.regenerateBackupCodes(await me(request.auth!.userId), clientOf(request));
      reply.header('cache-control', 'no-store');
      return { backup_codes: codes };
    },
  );

  server.post(
    '/v1/auth/mfa/verify',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['mfa'],
        summary: 'Second step of a sign-in: a TOTP code, a backup code, a passkey response, or a code sent by email or SMS',
        description:
          'Five wrong answers on one mfa_token end it. `amr` of the issued access token lists the factors used (`otp` for an app code; `otp` + `email` or `otp` + `sms` for a sent code). An email_otp/sms_otp code works only with the mfa_token and method it was sent for.',
        body: Type.Union([
          Type.Object({ mfa_token: MfaToken, code: Code, use_cookie: UseCookie }, { additionalProperties: false }),
          Type.Object({ mfa_token: MfaToken, backup_code: BackupCode, use_cookie: UseCookie }, { additionalProperties: false }),
          Type.Object({ mfa_token: MfaToken, passkey_response: PasskeyResponse, use_cookie: UseCookie }, { additionalProperties: false }),
          Type.Object({ mfa_token: MfaToken, method: OtpMethodSchema, otp_id: OtpId, code: OtpCode, use_cookie: UseCookie }, { additionalProperties: false }),
        ]),
        response: { 200: Tokens, ...problems(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const { mfa_token: token, use_cookie: useCookie, ...factor } = request.body as { mfa_token: string; use_cookie?: boolean } & SecondFactorInput;
      return deps.tokensReply(reply, await signIn.secondFactor(token, factor as SecondFactorInput, clientOf(request)), useCookie) as never;
    },
  );

  server.post(
    '/v1/auth/mfa/otp/send',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['mfa'],
        summary: 'Send the code of an email_otp or sms_otp second factor for this sign-in',
        description:
          'Only for a method listed in the challenge\'s `methods`. `channel` says which channel carried the code (email when SMS is disabled and falls back to email). Resend cooldown and limits of the OTP service apply (429 with Retry-After).',
        body: Type.Object({ mfa_token: MfaToken, method: OtpMethodSchema }, { additionalProperties: false }),
        response: {
          202: Type.Object({ otp_id: Type.String(), expires_at: Timestamp, channel: Type.Union([Type.Literal('email'), Type.Literal('sms')]) }),
          ...problems(400, 401, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const sent = await mfa.sendOtp(request.body.mfa_token, request.body.method as OtpMethod, clientOf(request));
      reply.header('cache-control', 'no-store');
      return reply.code(202).send({ otp_id: sent.otpId, expires_at: sent.expiresAt.toISOString(), channel: sent.channel });
    },
  );

  server.post(
    '/v1/auth/mfa/recovery',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['mfa'],
        summary: 'Lost the second factor: mail a one-time recovery link (always 202)',
        description: 'Answers 202 at once for any address (an invalid mfa_token: 401): a job looks the account up and mails the link (valid 1 hour) only to an account with a second factor, at most one a minute.',
        body: Type.Union([
          Type.Object({ mfa_token: MfaToken }, { additionalProperties: false }),
          Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }) }, { additionalProperties: false }),
        ]),
        response: { 202: Accepted, ...problems(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      await mfa.requestRecovery('mfa_token' in body ? { mfaToken: body.mfa_token } : { email: body.email }, clientOf(request));
      return reply.code(202).send(ACCEPTED);
    },
  );

  server.post(
    '/v1/auth/mfa/recovery/complete',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['mfa'],
        summary: 'Sign in once with the recovery link and the password; the second factors are removed and must be enrolled again',
        body: Type.Object({ token: Type.String({ minLength: 16, maxLength: 512 }), password: Type.String({ minLength: 1, maxLength: 1024 }), use_cookie: UseCookie }, { additionalProperties: false }),
        response: { 200: Type.Union([Tokens, MfaRequired]), ...problems(400, 401, 423, 429) },
      },
    },
    async (request, reply) =>
      deps.tokensReply(reply, await signIn.recovery(request.body.token, request.body.password, clientOf(request)), request.body.use_cookie) as never,
  );

  server.post(
    '/v1/auth/reauthenticate',
    {
      config: { rateLimit: 'auth', duringMfaEnrollment: true },
      preValidation: guards.authenticate,
      schema: {
        tags: ['mfa'],
        summary: `Step-up: prove who you are again; sensitive operations are allowed for ${RECENT_AUTH_SECONDS / 60} minutes`,
        security,
        body: Type.Union([
          Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
          Type.Object({ code: Code }, { additionalProperties: false }),
          Type.Object({ backup_code: BackupCode }, { additionalProperties: false }),
          Type.Object({ passkey_response: PasskeyResponse, challenge_id: Type.String({ minLength: 8, maxLength: 128 }) }, { additionalProperties: false }),
        ]),
        response: { 200: Type.Object({ reauthenticated_until: Timestamp }), ...problems(400, 401, 403, 423, 429) },
      },
    },
    async (request) => {
      const auth = request.auth!;
      const at = await mfa.reauthenticate(await me(auth.userId), auth.sessionId!, request.body as { password: string } | SecondFactorInput, clientOf(request));
      return { reauthenticated_until: new Date(at.getTime() + RECENT_AUTH_SECONDS * 1000).toISOString() };
    },
  );
}
