import { readFileSync } from 'node:fs';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Database } from '../platform/db/database.js';
import { createLogger } from '../platform/http/logger.js';
import { createHttpServer, type HttpServer } from '../platform/http/server.js';
import { installRateLimit } from '../platform/http/rate-limit.js';
import { startMetricsListener, type MetricsListener } from '../platform/metrics/listener.js';
import { createGuards } from '../platform/http/auth.js';
import { healthRoutes } from '../modules/health/index.js';
import { adminRoutes } from '../modules/admin/index.js';
import { accountRoutes, meRoutes } from '../modules/accounts/index.js';
import { passkeyRoutes } from '../modules/passkeys/index.js';
import { mfaRoutes } from '../modules/mfa/index.js';
import { otpRoutes } from '../modules/otp/index.js';
import { communicationRoutes } from '../modules/communications/index.js';
import { deliveryHookRoutes } from '../modules/communications/index.js';
import { templateRoutes } from '../modules/communications/index.js';
import { communicationAdminRoutes } from '../modules/communications/index.js';
import { preferenceRoutes, unsubscribeRoutes } from '../modules/notifications/index.js';
import { notificationRoutes, pushSubscriptionRoutes } from '../modules/notifications/index.js';
import { apiKeyRoutes, createOrgGuard, invitationRoutes, memberRoutes, orgRoutes, roleRoutes } from '../modules/orgs/index.js';
import { webhookRoutes } from '../modules/webhooks/index.js';
import { auditRoutes } from '../modules/audit/index.js';
import { applicationRoutes, connectedAppRoutes, interactionRoutes, oidcProviderRoutes, resourceRoutes } from '../modules/oidc/index.js';
import { experienceRoutes } from '../modules/experience/index.js';
import { imageOriginsOf, registerPages, WEB_ROOT } from '../platform/http/pages.js';
import { createContext, type Context, type ContextOverrides } from './context.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface App {
  server: HttpServer;
  context: Context;
  /** Stops accepting, finishes in-flight requests and running jobs, closes pools and connections. */
  close(): Promise<void>;
}

export interface BuildOptions extends ContextOverrides {
  /** Where log lines go (tests capture them); default stdout. */
  logDestination?: DestinationStream;
  /** Run job workers in this process (default true). */
  workers?: boolean;
  /** Registers more routes before the server is sealed (tests, embedding). */
  extraRoutes?: (server: HttpServer, context: Context) => void;
  /** How often an idle notification stream sends a heartbeat comment (default 25 s; tests shorten it). */
  notificationHeartbeatMs?: number;
}


/** Row-level security (the backstop behind tenant-scoped access) does not bind superusers or BYPASSRLS roles. */
async function warnIfRowSecurityBypassed(db: Database, logger: Logger): Promise<void> {
  const { rows } = await db.sql.query<{ bypass: boolean }>('SELECT rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user');
  if (rows[0]?.bypass) {
    logger.warn('the database role is a superuser or has BYPASSRLS: row-level tenant isolation is not enforced by PostgreSQL; connect as an ordinary role that owns the tables');
  }
}

/**
 * Builds the whole server: ports and services (context), then the HTTP edge, module by module in a
 * fixed order. Migrates the database and starts the job queue (and the METRICS_LISTEN listener,
 * when set); the API itself does not listen.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  const logger = createLogger({ level: config.logLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const context = await createContext(config, logger, options);
  const { db, cache, jobs, metrics, mailTransport } = context;
  let metricsListener: MetricsListener | undefined;
  try {
    await db.migrate();
    // The system's message templates (missing ones only; an admin's versions are never replaced).
    await context.templates.seed();
    if (db.kind === 'postgres') await warnIfRowSecurityBypassed(db, logger);
    // Load (or create) the signing keys now: from here on signing never waits on the database.
    await context.keys.jwks();
    await context.sessions.restoreRevocations();
    const server = await createHttpServer({
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      trustedProxies: config.trustedProxies,
      corsOrigins: config.corsOrigins,
      publicUrl: config.publicUrl,
      version: VERSION,
      exposeInternals: config.nodeEnv === 'development',
    });
    server.addHook('onResponse', async (request, reply) => {
      metrics.observeRequest(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode },
        reply.elapsedTime / 1000,
      );
    });
    if (config.rateLimit.enabled) installRateLimit(server, { cache, groups: config.rateLimit.groups });
    const guards = createGuards(server, {
      keys: context.keys,
      audience: config.auth.audience,
      isPlatformAdmin: context.admins.isPlatformAdmin,
      isSessionRevoked: context.sessions.isRevoked,
      csrfMatches: context.sessions.csrfMatches,
      authenticatedAt: context.sessions.authenticatedAt,
      async stillMustEnrol(userId) {
        const user = await context.users.byId(userId);
        return user ? context.mfaEnrolment.required(user) : false;
      },
    });

    healthRoutes(server, {
      version: VERSION,
      startedAt: Date.now(),
      metrics,
      ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
      checks: {
        database: { kind: db.kind, required: true, check: () => db.ping() },
        cache: { kind: cache.kind, required: true, check: () => cache.ping() },
        queue: { kind: 'pg-boss', required: true, check: () => jobs.ping() },
        // Mail waits in the queue and is retried while the transport is down: reported, not required.
        mail: { kind: mailTransport.kind, required: false, check: () => mailTransport.verify() },
      },
    });
    const { accounts, sessions, keys, signIn, users } = context;
    const idle = config.auth.refreshIdleTimeoutSeconds;
    // Every sign-in route is given the one composed flow (context.signIn, app/sign-in.ts).
    const { tokensReply } = accountRoutes(server, { accounts, sessions, signIn, guards, keys, publicUrl: config.publicUrl, refreshIdleTimeoutSeconds: idle });
    meRoutes(server, { accounts, sessions, guards, refreshIdleTimeoutSeconds: idle });
    passkeyRoutes(server, { passkeys: context.passkeys, users, signIn, guards, tokensReply });
    mfaRoutes(server, { mfa: context.mfa, users, signIn, guards, tokensReply });
    otpRoutes(server, { otp: context.otp, phones: context.phones, guards });
    const orgGuard = createOrgGuard({ orgs: context.orgs, apiKeys: context.apiKeys, guards, ...(config.orgs.baseDomain ? { baseDomain: config.orgs.baseDomain } : {}) });
    orgRoutes(server, { orgs: context.orgs, guards, tiers: context.tiers, orgGuard });
    memberRoutes(server, { orgs: context.orgs, guards, orgGuard });
    invitationRoutes(server, { invitations: context.invitations, guards, orgGuard });
    roleRoutes(server, { roles: context.roles, orgGuard });
    apiKeyRoutes(server, { apiKeys: context.apiKeys, orgGuard });
    webhookRoutes(server, { webhooks: context.webhooks, orgGuard });
    auditRoutes(server, { service: context.auditLog, guards, orgGuard });
    adminRoutes(server, { guards, orgs: context.orgs, tiers: context.tiers, outbox: context.adminOutbox });
    applicationRoutes(server, { applications: context.applications, guards });
    resourceRoutes(server, { resources: context.resources, guards });
    await oidcProviderRoutes(server, { provider: context.oidcProvider });
    interactionRoutes(server, { interactions: context.oidcInteractions, guards });
    connectedAppRoutes(server, { connectedApps: context.connectedApps, guards });
    communicationRoutes(server, { settings: context.communicationSettings, communications: context.communications, guards });
    deliveryHookRoutes(server, { hooks: context.deliveryHooks });
    templateRoutes(server, { templates: context.templates, guards });
    communicationAdminRoutes(server, { stats: context.communicationStats, tests: context.communicationTests, guards });
    preferenceRoutes(server, { preferences: context.notificationPreferences, guards });
    unsubscribeRoutes(server, { links: context.unsubscribeLinks, preferences: context.notificationPreferences });
    notificationRoutes(server, {
      notifications: context.notifications, guards, isSessionRevoked: (sessionId) => context.sessions.isRevoked(sessionId),
      ...(options.notificationHeartbeatMs ? { heartbeatMs: options.notificationHeartbeatMs } : {}),
    });
    pushSubscriptionRoutes(server, { subscriptions: context.pushSubscriptions, guards, pushProvider: context.pushProvider });
    experienceRoutes(server, {
      brand: config.brand,
      redirectOrigins: config.allowedRedirectOrigins,
      verifiedEmailRequired: !config.auth.allowUnverifiedLogin,
      mfaRequired: config.auth.mfaRequired,
    });
    await registerPages(server, { root: options.webRoot ?? WEB_ROOT, imageOrigins: imageOriginsOf(config.brand.logoUrl) });
    options.extraRoutes?.(server, context);

    await server.ready();
    metricsListener = config.metricsListen
      ? await startMetricsListener({ metrics, ...config.metricsListen, ...(config.metricsToken ? { token: config.metricsToken } : {}), logger })
      : undefined;
    await jobs.start({ workers: options.workers ?? true });
    if (options.workers ?? true) {
      context.webhookDispatcher.start();
      context.auditLog.sealer.start();
    }
    const admin = await context.admins.bootstrapAdmin(config.bootstrapAdmin);
    if (admin) logger.info({ user_id: admin.id }, 'created the bootstrap platform admin');

    let closing: Promise<void> | undefined;
    return {
      server,
      context,
      close() {
        closing ??= (async () => {
          await Promise.all([server.close(), metricsListener?.close()]);
          await Promise.all([context.webhookDispatcher.stop(), context.auditLog.sealer.stop()]);
          await jobs.stop(Math.max(1_000, config.shutdownTimeoutMs - 2_000));
          await Promise.allSettled([cache.close(), mailTransport.close()]);
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await metricsListener?.close();
    await Promise.all([context.webhookDispatcher.stop(), context.auditLog.sealer.stop()]).catch(() => undefined);
    await jobs.stop().catch(() => undefined);
    await Promise.allSettled([cache.close(), db.close()]);
    throw error;
  }
}
