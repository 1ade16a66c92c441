import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { problems } from '../../platform/http/schemas.js';
import type { DeliveryHooks } from './communications.hooks.js';

const ResendEventBody = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 100, description: '`email.delivered`, `email.bounced`, `email.complained`, `email.delivery_delayed`, `email.failed`; others are ignored' }),
  created_at: Type.Optional(Type.String({ maxLength: 100 })),
  data: Type.Optional(
    Type.Object({
      email_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      bounce: Type.Optional(Type.Object({ type: Type.Optional(Type.String({ maxLength: 100 })), subType: Type.Optional(Type.String({ maxLength: 100 })), message: Type.Optional(Type.String({ maxLength: 5000 })) })),
      failed: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 5000 })) })),
    }),
  ),
});

const TwilioStatusBody = Type.Object({
  MessageSid: Type.Optional(Type.String({ maxLength: 64 })),
  MessageStatus: Type.Optional(Type.String({ maxLength: 40 })),
  ErrorCode: Type.Optional(Type.String({ maxLength: 10 })),
});

/**
 * The providers' delivery callbacks. No authentication guard: each request is verified by the
 * provider's signature over the exact bytes received, so these routes get their own body parsers
 * (in their own scope) that keep the raw body. Every verified callback is answered 204 whatever it
 * was about (a message we do not know included): the answer tells a caller nothing.
 */
export function deliveryHookRoutes(server: HttpServer, deps: { hooks: DeliveryHooks }): void {
  const { hooks } = deps;
  const rawBodies = new WeakMap<FastifyRequest, string>();
  const common = { config: { rateLimit: 'hooks' } } as const;

  /**
   * A scope of its own for each provider, with the one body type that provider sends, kept raw for
   * the signature check: JSON for Resend, a form for Twilio. Any other type answers 415.
   */
  function hookScope(type: 'application/json' | 'application/x-www-form-urlencoded', routes: (scope: HttpServer) => void): void {
    void server.register(async (plugin) => {
      const scope: HttpServer = plugin.withTypeProvider<TypeBoxTypeProvider>();
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(type, { parseAs: 'string' }, (request, body, done) => {
        const raw = body as string;
        rawBodies.set(request, raw);
        if (type === 'application/x-www-form-urlencoded') return done(null, Object.fromEntries(new URLSearchParams(raw)));
        // Not JSON: passed on as text, refused by the schema (after the signature check).
        try {
          done(null, JSON.parse(raw) as unknown);
        } catch {
          done(null, raw);
        }
      });
      routes(scope);
    });
  }

  hookScope('application/json', (scope) => {
    scope.post(
      '/v1/hooks/resend',
      {
        ...common,
        schema: {
          tags: ['communications'],
          summary: 'Resend delivery events (Svix-signed): delivered, bounced, complained, delayed, failed',
          description: 'Verified with RESEND_WEBHOOK_SECRET over the raw body and the `svix-id`, `svix-timestamp`, `svix-signature` headers (timestamp within 5 minutes). Hard bounces and complaints put the address on the email suppression list.',
          security: [],
          body: ResendEventBody,
          response: { 204: Type.Null(), ...problems(400, 401, 413, 415, 429) },
        },
        preValidation: async (request) => hooks.verifyResend(rawBodies.get(request) ?? '', request.headers),
      },
      async (request, reply) => {
        const outcome = await hooks.resendEvent(request.body);
        request.log.info({ provider: 'resend', event: request.body.type, outcome }, 'delivery callback');
        return reply.code(204).send(null);
      },
    );

  });

  hookScope('application/x-www-form-urlencoded', (scope) => {
    scope.post(
      '/v1/hooks/twilio',
      {
        ...common,
        schema: {
          tags: ['communications'],
          summary: 'Twilio SMS status callbacks (signed with the auth token)',
          description: 'Verified by `X-Twilio-Signature` over `${PUBLIC_URL}/v1/hooks/twilio` and the form parameters. Numbers that do not exist or cannot take SMS (30005, 30006) and numbers that replied STOP (21610) are put on the SMS suppression list.',
          security: [],
          consumes: ['application/x-www-form-urlencoded'],
          body: TwilioStatusBody,
          response: { 204: Type.Null(), ...problems(400, 401, 413, 415, 429) },
        },
        preValidation: async (request) => {
          const signature = request.headers['x-twilio-signature'];
          hooks.verifyTwilio([...new URLSearchParams(rawBodies.get(request) ?? '')], Array.isArray(signature) ? signature[0] : signature);
        },
      },
      async (request, reply) => {
        const outcome = await hooks.twilioStatus(request.body);
        request.log.info({ provider: 'twilio', event: request.body.MessageStatus, outcome }, 'delivery callback');
        return reply.code(204).send(null);
      },
    );
  });
}
