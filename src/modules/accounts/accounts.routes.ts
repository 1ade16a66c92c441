import { clientOf, type ClientInfo } from '../../platform/http/client.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { HttpServer } from '../../platform/http/server.js';
import { COOKIES, type Guards } from '../../platform/http/auth.js';
import { ACCEPTED, Accepted, problems } from '../../platform/http/schemas.js';
import type { KeyStore } from '../../platform/crypto/keys.js';
import type { AccountsService } from './accounts.service.js';
import type { IssuedTokens, SessionService } from './accounts.sessions.js';
import type { SignInResult } from './accounts.signin.service.js';
import { accountErrors } from './accounts.errors.js';
import {
  CheckPasswordBody, EmailBody, LoginBody, MfaRequired, PasswordCheck, RefreshBody, ResetBody, SignupBody, TokenBody, Tokens, User, VerifyEmailBody, userBody,
} from './accounts.schema.js';

/** The sign-ins these routes start (composed in app/sign-in.ts: first factor, second factor, session). */
export interface SignInRoutes {
  password(input: { email: string; password: string }, client: ClientInfo): Promise<SignInResult>;
  magicLink(token: string, client: ClientInfo): Promise<SignInResult>;
}

export interface AccountRoutesDeps {
  accounts: AccountsService;
  sessions: SessionService;
  signIn: SignInRoutes;
  guards: Guards;
  keys: KeyStore;
  publicUrl: string;
  refreshIdleTimeoutSeconds: number;
}


/**
 * Sets (or clears) the cookies of a browser session: the access token and the refresh token
 * HttpOnly, the CSRF token readable by the page. Secure whenever the public URL is https, and on
 * localhost, which browsers treat as a secure context.
 */
export function sessionCookies(publicUrl: string, refreshIdleTimeoutSeconds: number) {
  const url = new URL(publicUrl);
  const secure = url.protocol === 'https:' || url.hostname === 'localhost';
  const base = { secure, sameSite: 'lax' as const, path: '/' };
  return {
    set(reply: FastifyReply, issued: IssuedTokens): void {
      reply.setCookie(COOKIES.access, issued.accessToken, { ...base, httpOnly: true, maxAge: issued.expiresIn });
      reply.setCookie(COOKIES.refresh, issued.refreshToken, { ...base, httpOnly: true, path: '/v1/auth', maxAge: refreshIdleTimeoutSeconds });
      reply.setCookie(COOKIES.csrf, issued.csrfToken, { ...base, httpOnly: false, maxAge: refreshIdleTimeoutSeconds });
    },
    clear(reply: FastifyReply): void {
      reply.clearCookie(COOKIES.access, base);
      reply.clearCookie(COOKIES.refresh, { ...base, path: '/v1/auth' });
      reply.clearCookie(COOKIES.csrf, base);
    },
  };
}

const AUTH = { rateLimit: 'auth' } as const;

/** Routes of other modules that sign users in answer like these. */
export type SignInBody = Static<typeof Tokens> | Static<typeof MfaRequired>;

export function accountRoutes(server: HttpServer, deps: AccountRoutesDeps): { tokensReply: (reply: FastifyReply, issued: SignInResult, useCookie: boolean | undefined) => SignInBody } {
  const { accounts, sessions, signIn, guards } = deps;
  const cookies = sessionCookies(deps.publicUrl, deps.refreshIdleTimeoutSeconds);

  function signInReply(reply: FastifyReply, result: SignInResult, useCookie: boolean | undefined): SignInBody {
    if ('mfaRequired' in result) {
      reply.header('cache-control', 'no-store');
      return {
        mfa_required: true as const,
        mfa_token: result.mfaToken,
        methods: result.methods,
        ...(result.passkeyOptions ? { passkey_options: result.passkeyOptions } : {}),
      };
    }
    return tokensReply(reply, result, useCookie);
  }

  function tokensReply(reply: FastifyReply, issued: IssuedTokens, useCookie: boolean | undefined) {
    const common = { expires_in: issued.expiresIn, session_id: issued.session.id, user: userBody(issued.user) };
    reply.header('cache-control', 'no-store');
    if (useCookie) {
      cookies.set(reply, issued);
      return { token_type: 'cookie' as const, csrf_token: issued.csrfToken, ...common };
    }
    return { token_type: 'Bearer' as const, access_token: issued.accessToken, refresh_token: issued.refreshToken, ...common };
  }

  server.post(
    '/v1/auth/signup',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Create an account; a verification mail follows',
        description: 'A taken address answers exactly like a new one (and its owner is mailed instead).',
        body: SignupBody,
        response: { 201: Type.Object({ user: User }), ...problems(400, 422, 429) },
      },
    },
    async (request, reply) => {
      const user = await accounts.signup(request.body, clientOf(request));
      return reply.code(201).send({ user: userBody(user) });
    },
  );

  server.post(
    '/v1/auth/verify-email',
    {
      config: { ...AUTH, duringMfaEnrollment: true },
      schema: {
        tags: ['auth'],
        summary: 'Verify an email address with the mailed link token, or with the address and the 6-digit code',
        description:
          'The first proof of an address ends every session opened before it except the caller\'s own (when the request is signed in as the account), and removes a password set before it unless the request is signed in as the account or sends that `password` (`password_cleared` says so; a reset or a magic link then opens the account). A wrong `password` answers 401 and leaves the link or code usable, as does an invalid or expired access token (send none rather than a stale one). Confirming the new address of an email change ignores `password`.',
        body: VerifyEmailBody,
        response: { 200: Type.Object({ user: User, password_cleared: Type.Boolean() }), ...problems(400, 401, 403, 409, 423, 429) },
      },
    },
    async (request, reply) => {
      // Signed in (optional): a session of the account is the prover, and survives the proof.
      if (request.headers.authorization || request.cookies[COOKIES.access]) await guards.authenticate(request, reply);
      const auth = request.auth;
      const { password, ...input } = request.body;
      const verified = await accounts.verifyEmail(input, clientOf(request), {
        session: auth ? { userId: auth.userId, sessionId: auth.sessionId } : null,
        ...(password === undefined ? {} : { password }),
      });
      return { user: userBody(verified.user), password_cleared: verified.passwordCleared };
    },
  );

  server.post(
    '/v1/auth/verify-email/resend',
    {
      config: AUTH,
      schema: { tags: ['auth'], summary: 'Mail a new verification (at most one a minute per address)', body: EmailBody, response: { 202: Accepted, ...problems(400, 429) } },
    },
    async (request, reply) => {
      await accounts.resendVerification(request.body.email);
      return reply.code(202).send(ACCEPTED);
    },
  );

  server.post(
    '/v1/auth/login',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        description: 'A wrong email and a wrong password give the same 401 invalid_credentials. After too many failures the account is locked (423 with Retry-After).',
        body: LoginBody,
        response: { 200: Type.Union([Tokens, MfaRequired]), ...problems(400, 401, 403, 423, 429) },
      },
    },
    async (request, reply) => signInReply(reply, await signIn.password(request.body, clientOf(request)), request.body.use_cookie),
  );

  server.post(
    '/v1/auth/magic-link',
    {
      config: AUTH,
      schema: { tags: ['auth'], summary: 'Mail a one-time sign-in link (valid 15 minutes)', body: EmailBody, response: { 202: Accepted, ...problems(400, 429) } },
    },
    async (request, reply) => {
      await accounts.requestMagicLink(request.body.email, clientOf(request));
      return reply.code(202).send(ACCEPTED);
    },
  );

  server.post(
    '/v1/auth/magic-link/verify',
    {
      config: AUTH,
      schema: { tags: ['auth'], summary: 'Sign in with a magic-link token', body: TokenBody, response: { 200: Type.Union([Tokens, MfaRequired]), ...problems(400, 429) } },
    },
    async (request, reply) => signInReply(reply, await signIn.magicLink(request.body.token, clientOf(request)), request.body.use_cookie),
  );

  server.post(
    '/v1/auth/refresh',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (the old one dies)',
        description:
          'Presenting a refresh token that was already used ends its session (401 refresh_token_reused), except within REFRESH_REUSE_GRACE_SECONDS of its rotation from the same client (IP address and User-Agent), as two tabs refreshing at once do: that answers a new pair of the same session.',
        body: RefreshBody,
        response: { 200: Tokens, ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const fromBody = request.body.refresh_token;
      const token = fromBody ?? request.cookies[COOKIES.refresh];
      if (!token) throw accountErrors.invalid_refresh_token('Send refresh_token, or the refresh cookie of a cookie session');
      const { org_id: orgId } = request.body;
      const issued = await sessions.refresh(token, clientOf(request), fromBody ? undefined : (sessionId) => guards.assertCsrf(request, sessionId), orgId === undefined ? {} : { orgId: orgId as string | null });
      return tokensReply(reply, issued, request.body.use_cookie ?? !fromBody);
    },
  );

  server.post(
    '/v1/auth/logout',
    {
      config: { ...AUTH, duringMfaEnrollment: true },
      preValidation: guards.authenticate,
      schema: { tags: ['auth'], summary: 'End the current session', security: [{ bearer: [] }], response: { 204: Type.Null(), ...problems(401, 403) } },
    },
    async (request, reply) => {
      const auth = request.auth!;
      await sessions.revoke(auth.sessionId!, 'logout', { type: 'user', id: auth.userId }, clientOf(request), { action: 'auth.logout', userId: auth.userId });
      if (auth.via === 'cookie') cookies.clear(reply);
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/auth/password/forgot',
    {
      config: AUTH,
      schema: { tags: ['auth'], summary: 'Mail a password-reset link (valid 1 hour); always 202', body: EmailBody, response: { 202: Accepted, ...problems(400, 429) } },
    },
    async (request, reply) => {
      await accounts.forgotPassword(request.body.email, clientOf(request));
      return reply.code(202).send(ACCEPTED);
    },
  );

  server.post(
    '/v1/auth/password/reset',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token; ends every session',
        body: ResetBody,
        response: { 204: Type.Null(), ...problems(400, 422, 429) },
      },
    },
    async (request, reply) => {
      await accounts.resetPassword(request.body.token, request.body.password, clientOf(request));
      return reply.code(204).send(null);
    },
  );

  server.post(
    '/v1/auth/password/check',
    {
      config: AUTH,
      schema: {
        tags: ['auth'],
        summary: 'Judge a password as it is typed, for a strength meter: acceptable by the policy, and how strong',
        description:
          '`acceptable` is the very check sign-up, reset and change make (PASSWORD_REQUIRE_COMPLEXITY included). Nothing is stored or logged; the answer is `Cache-Control: no-store`. Counted in the `auth` rate-limit group: debounce the calls.',
        body: CheckPasswordBody,
        response: { 200: PasswordCheck, ...problems(400, 429) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const { password, email, name } = request.body;
      const checked = await accounts.checkPassword(password, { ...(email === undefined ? {} : { email }), ...(name === undefined ? {} : { name }) });
      return {
        acceptable: checked.acceptable,
        score: checked.score,
        min_length: checked.minLength,
        feedback: { warning: checked.warning, suggestions: checked.suggestions },
        problems: checked.problems.map((problem) => ({ rule: problem.rule, message: problem.message })),
      };
    },
  );

  server.get(
    '/.well-known/jwks.json',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['auth'],
        summary: 'Public keys that sign access tokens (JWK Set)',
        response: { 200: Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return deps.keys.jwks();
    },
  );
  return { tokensReply: signInReply };
}
