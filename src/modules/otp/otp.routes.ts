import { clientOf } from '../../platform/http/client.js';
import { Type } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import type { Guards } from '../../platform/http/auth.js';
import { problems, Timestamp } from '../../platform/http/schemas.js';
import { User, userBody } from '../accounts/index.js';
import { OTP_PURPOSES, type OtpService, type SentOtp } from './otp.service.js';
import type { PhoneService } from './otp.phone.service.js';

const channelOf = (description?: string) => Type.Union([Type.Literal('email'), Type.Literal('sms')], description ? { description } : {});
const Channel = channelOf('The channel asked for');
const Purpose = Type.Union([
  Type.Literal('login'), Type.Literal('verify_email'), Type.Literal('verify_phone'), Type.Literal('password_reset'), Type.Literal('transaction'), Type.Literal('mfa'),
], { description: OTP_PURPOSES.join(', ') });
const OtpId = Type.String({ pattern: '^otp_[0-9a-z]{26}$' });
/** Length is an admin setting (4–10 digits); a code of another length is simply wrong. */
export const OtpCode = Type.String({ pattern: '^[0-9]{4,10}$', description: 'The digits that were sent' });
const Recipient = Type.String({ minLength: 3, maxLength: 320, description: 'An email address, or a phone number in E.164 form (+14155550123)' });
const Phone = Type.String({ minLength: 8, maxLength: 16, pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164: + and 7 to 15 digits' });

export const SentBody = Type.Object({
  otp_id: Type.String(),
  expires_at: Timestamp,
  channel: channelOf('The channel that carried the code (the fallback when the one asked for is disabled)'),
});

export const sentBody = (sent: SentOtp) => ({ otp_id: sent.otpId, expires_at: sent.expiresAt.toISOString(), channel: sent.channel });

export function otpRoutes(server: HttpServer, deps: { otp: OtpService; phones: PhoneService; guards: Guards }): void {
  const { otp, phones, guards } = deps;
  const security = [{ bearer: [] }];

  server.post(
    '/v1/otp/send',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['otp'],
        summary: 'Send a one-time code by email or SMS',
        description: [
          'No authentication needed (passwordless integrators). Length, expiry, attempts and resend cooldown come from the admin communication settings.',
          'When the channel is disabled the code goes by its fallback channel (not for verify_email and verify_phone) and `channel` says which one carried it; 422 `channel_disabled` when an administrator switched the channel off and the code cannot go at all (the message is in the communication log as blocked_channel_disabled).',
          'For `login`, `password_reset` and `mfa` the answer is the same whether or not the recipient has an account (nothing is sent when it has none).',
          '429 `otp_cooldown` within the resend cooldown of the last code to the same recipient and purpose; 429 `rate_limited` past the per-recipient or per-IP limits (both with Retry-After).',
        ].join(' '),
        body: Type.Object({ channel: Channel, to: Recipient, purpose: Purpose }, { additionalProperties: false }),
        response: { 202: SentBody, ...problems(400, 422, 429) },
      },
    },
    async (request, reply) => {
      const sent = await otp.send({ channel: request.body.channel, to: request.body.to, purpose: request.body.purpose, ip: request.ip ?? null });
      reply.header('cache-control', 'no-store');
      return reply.code(202).send(sentBody(sent));
    },
  );

  server.post(
    '/v1/otp/verify',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['otp'],
        summary: 'Check a one-time code (single use)',
        description:
          'Wrong: 400 `invalid_code` with `attempts_left`; past the attempt budget 400 `otp_locked` (even for the right code); 400 `otp_expired`, 400 `otp_used`. An unknown otp_id answers like a wrong code. `purpose` and `to`, when given, must be those the code was sent for (a mismatch is a wrong attempt).',
        body: Type.Object({ otp_id: OtpId, code: OtpCode, purpose: Type.Optional(Purpose), to: Type.Optional(Recipient) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ verified: Type.Literal(true), purpose: Purpose, channel: channelOf() }),
          ...problems(400, 429),
        },
      },
    },
    async (request) => {
      const { otp_id: otpId, code, purpose, to } = request.body;
      const result = await otp.verify({ otpId, code, ip: request.ip ?? null, ...(purpose ? { purpose } : {}), ...(to ? { to } : {}) });
      return { verified: true as const, purpose: result.purpose, channel: result.channel };
    },
  );

  server.post(
    '/v1/me/phone',
    {
      preValidation: guards.requireRecentAuth,
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['me'],
        summary: 'Add or change the phone number: a verify_phone code goes to it by SMS (needs a recent sign-in)',
        description: '422 `channel_disabled` when an administrator switched SMS off: a code by any other channel would not prove the phone.',
        security,
        body: Type.Object({ phone: Phone }, { additionalProperties: false }),
        response: { 202: Type.Object({ otp_id: Type.String(), expires_at: Timestamp }), ...problems(400, 401, 403, 422, 429) },
      },
    },
    async (request, reply) => {
      const sent = await phones.request(request.auth!.userId, request.body.phone, clientOf(request));
      reply.header('cache-control', 'no-store');
      return reply.code(202).send({ otp_id: sent.otpId, expires_at: sent.expiresAt.toISOString() });
    },
  );

  server.post(
    '/v1/me/phone/verify',
    {
      preValidation: guards.authenticate,
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['me'],
        summary: 'Confirm the phone number with the code it received; answers the user',
        description: 'The code works only for the user who asked for it. 409 `phone_in_use` when another account verified the number meanwhile.',
        security,
        body: Type.Object({ otp_id: OtpId, code: OtpCode }, { additionalProperties: false }),
        response: { 200: User, ...problems(400, 401, 403, 409) },
      },
    },
    async (request) => userBody(await phones.confirm(request.auth!.userId, { otpId: request.body.otp_id, code: request.body.code }, clientOf(request))),
  );

  server.delete(
    '/v1/me/phone',
    {
      preValidation: guards.requireRecentAuth,
      schema: { tags: ['me'], summary: 'Remove the phone number (needs a recent sign-in)', security, response: { 204: Type.Null(), ...problems(401, 403, 404) } },
    },
    async (request, reply) => {
      await phones.remove(request.auth!.userId, clientOf(request));
      return reply.code(204).send(null);
    },
  );
}
