import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { createPgliteDatabase, createPostgresDatabase, type Database } from '../platform/db/database.js';
import { createCache, type Cache } from '../platform/cache/index.js';
import { createJobs, type Jobs } from '../platform/jobs/jobs.js';
import { createSecretBox, type SecretBox } from '../platform/crypto/secret-box.js';
import { createKeyStore, retiredKeyRetentionSeconds, type KeyStore } from '../platform/crypto/keys.js';
import { createAudit, createEvents, type Audit, type Events } from '../platform/events/index.js';
import { createOutboxTransport, createResendTransport, createSmtpTransport, type Mail, type MailTransport } from '../platform/mail/index.js';
import { createHttpSmsProvider, createOutboxSmsProvider, createTwilioSmsProvider, type SmsProvider } from '../platform/sms/index.js';
import { createOutboxPushProvider, createWebPushProvider, type PushProvider } from '../platform/push/index.js';
import type { QueueOptions } from '../platform/jobs/jobs.js';
import { createMetrics, type Metrics } from '../platform/metrics/metrics.js';
import {
  createAccounts, createAdminService, createSessionService, createUserDirectory,
  type AccountsService, type AdminService, type OneTimeLinks, type SessionService, type SignInService, type UserDirectory,
} from '../modules/accounts/index.js';
import { createPasskeyService, type PasskeyService } from '../modules/passkeys/index.js';
import {
  createTemplateService, createCommunicationsService, createMessenger, createSettingsService,
  type TemplateService, type CommunicationsService, type Messenger, type Recipients, type SettingsService,
} from '../modules/communications/index.js';
import { createRecipients } from '../modules/notifications/index.js';
import { createAuditService, type AuditService } from '../modules/audit/index.js';
import { createWebhookDelivery, createWebhooksService, type WebhookDispatcher, type WebhooksService } from '../modules/webhooks/index.js';
import { createNotificationsService, createPushSubscriptionsService, pushDestinations, type NotificationsService, type PushSubscriptionsService } from '../modules/notifications/index.js';
import { createPreferencesService, createUnsubscribeLinks, type PreferencesService, type UnsubscribeLinks } from '../modules/notifications/index.js';
import { createStatsService, createTestSendService, type StatsService, type TestSendService } from '../modules/communications/index.js';
import { createDeliveryHooks, type DeliveryHooks } from '../modules/communications/index.js';
import {
  createApiKeyDirectory, createApiKeysService, createInvitationsService, createOrgsService, createRolesService, createTiers,
  type ApiKeysService, type InvitationsService, type OrgsService, type RolesService, type Tiers,
} from '../modules/orgs/index.js';
import { createAdminOutboxService, type AdminOutboxService } from '../modules/admin/index.js';
import {
  createApplicationsService, createClientRegistry, createConnectedApps, createInteractionService, createOidcProvider, createResourcesService, scheduleOidcCleanup,
  type ApplicationsService, type ClientRegistry, type ConnectedApps, type InteractionService, type OidcProvider, type ResourcesService,
} from '../modules/oidc/index.js';
import {
  createEnrolmentCheck, createMfaPolicy, createMfaService, type EnrolmentCheck, type MfaPolicy, type MfaService, type PasskeyVerifier,
} from '../modules/mfa/index.js';
import { createOtpService, createPhoneService, type OtpLimits, type OtpService, type PhoneService } from '../modules/otp/index.js';
import { appShellWith, imageOriginsOf, pageCsp, WEB_ROOT } from '../platform/http/pages.js';
import { resolveSecret } from './secret.js';
import { createSignInFlow, type SignInFlow } from './sign-in.js';

/** Everything a module may be given: ports first, then services built on them. No container. */
export interface Context {
  config: Config;
  logger: Logger;
  db: Database;
  cache: Cache;
  jobs: Jobs;
  box: SecretBox;
  keys: KeyStore;
  audit: Audit;
  events: Events;
  mail: Mail;
  mailTransport: MailTransport;
  smsProvider: SmsProvider;
  pushProvider: PushProvider;
  /** Verifies and applies the providers' delivery callbacks (/v1/hooks/resend, /v1/hooks/twilio). */
  deliveryHooks: DeliveryHooks;
  templates: TemplateService;
  recipients: Recipients;
  messenger: Messenger;
  webhooks: WebhooksService;
  /** The audit log's reading side: queries, export, the hash chain (the `audit` port writes). */
  auditLog: AuditService;
  webhookDispatcher: WebhookDispatcher;
  metrics: Metrics;
  sessions: SessionService;
  /** Other modules' read access to accounts (and the phone number's one write). */
  users: UserDirectory;
  accounts: AccountsService;
  /** The accounts' steps of a sign-in (first factors, completion), which `signIn` composes. */
  signInSteps: SignInService;
  /** One-time links (mailed tokens and codes) of every purpose. */
  oneTimeLinks: OneTimeLinks;
  admins: AdminService;
  passkeys: PasskeyService;
  /** MFA_REQUIRED: who must have a second factor, and whether a last passkey must stay. */
  mfaPolicy: MfaPolicy;
  /** Whether a user must enrol a second factor before anything else (the `mfa_enroll` claim and guard). */
  mfaEnrolment: EnrolmentCheck;
  mfa: MfaService;
  /** Every sign-in end to end: first factor → second factor → session and tokens (app/sign-in.ts). */
  signIn: SignInFlow;
  orgs: OrgsService;
  invitations: InvitationsService;
  roles: RolesService;
  apiKeys: ApiKeysService;
  tiers: Tiers;
  /** The development mail outbox, as the admin routes list it. */
  adminOutbox: AdminOutboxService;
  communicationSettings: SettingsService;
  communications: CommunicationsService;
  /** One-time codes by email or SMS (`/v1/otp/*`, the email_otp and sms_otp second factors). */
  otp: OtpService;
  /** The user's verified phone number (`/v1/me/phone`). */
  phones: PhoneService;
  /** Signed one-click unsubscribe links (RFC 8058) of non-security email. */
  unsubscribeLinks: UnsubscribeLinks;
  notificationPreferences: PreferencesService;
  communicationStats: StatsService;
  communicationTests: TestSendService;
  /** In-app notifications of the signed-in user and their live stream. */
  notifications: NotificationsService;
  pushSubscriptions: PushSubscriptionsService;
  /** The OpenID provider's applications (clients), as platform admins manage them. */
  applications: ApplicationsService;
  /** API resources (RFC 8707) and their scopes, as platform admins manage them. */
  resources: ResourcesService;
  /** What the OpenID provider reads: client metadata, client secrets, granted resource scopes, resources. */
  clientRegistry: ClientRegistry;
  /** The OpenID provider (oidc-provider on Tessera's storage, keys and sessions). */
  oidcProvider: OidcProvider;
  /** The login, consent and organization steps of an authorization, for the hosted page. */
  oidcInteractions: InteractionService;
  /** The account center's connected apps (grants a person gave) and their revocation. */
  connectedApps: ConnectedApps;
}

export interface ContextOverrides {
  /** An already open database (tests pass a clone of a migrated template). */
  db?: Database;
  cache?: Cache;
  /** Overrides of the message queue's retry and polling settings (tests that must not wait 15 s for a retry). */
  messengerQueue?: Pick<QueueOptions, 'retryDelaySeconds' | 'retryBackoff' | 'pollingIntervalSeconds' | 'retryLimit'>;
  /** The OTP service's per-recipient and per-IP limits (tests lower them). */
  otpLimits?: Partial<OtpLimits>;
  /** The built hosted pages (default `web/dist` of the repository). */
  webRoot?: string;
}

export async function openDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? createPostgresDatabase({ url: config.databaseUrl })
    : createPgliteDatabase({ dataDir: join(config.dataDir, 'pglite') });
}

/** Opens the ports and builds the services, in dependency order. */
export async function createContext(config: Config, logger: Logger, overrides: ContextOverrides = {}): Promise<Context> {
  const { secret, generated } = await resolveSecret(config);
  if (generated) logger.warn({ file: join(config.dataDir, 'secret') }, 'generated TESSERA_SECRET into DATA_DIR; set TESSERA_SECRET when running several instances');
  const db = overrides.db ?? (await openDatabase(config));
  const cache = overrides.cache ?? (await createCache(config.redisUrl, { onError: (error: unknown) => logger.warn({ err: error }, 'cache error') }));
  const jobs = createJobs(db);
  jobs.onError((error) => logger.error({ err: error }, 'job queue error'));
  const box = createSecretBox(secret);
  const keys = createKeyStore({ db, box, issuer: config.publicUrl, retainRetiredSeconds: retiredKeyRetentionSeconds(config.auth.accessTokenTtlSeconds) });
  // Other modules read accounts through the directory (and set a verified phone through it).
  const users = createUserDirectory({ db });
  const apiKeyDirectory = createApiKeyDirectory({ db });
  // An audit entry names its actor as they were (a user's email, a key's name) when the caller did not.
  const audit = createAudit({
    actorDisplay: async (tx, actor) =>
      actor.type === 'user' ? ((await users.byId(actor.id, { tx }))?.email ?? null) : apiKeyDirectory.nameOf(actor.id, { tx }),
  });
  const events = createEvents();
  if (!config.smtpUrl && !config.communications.resend && config.nodeEnv === 'production') {
    logger.warn('Neither RESEND_API_KEY nor SMTP_URL is set: mail (with its one-time links) goes to the development outbox in the database instead of being sent');
  }
  // Each channel takes the first configured provider: email Resend, SMTP, outbox; SMS Twilio, generic HTTP, outbox; push VAPID, outbox.
  const providers = config.communications;
  const twilioCallbackUrl = `${config.publicUrl}/v1/hooks/twilio`;
  const mailTransport = providers.resend ? createResendTransport(providers.resend) : config.smtpUrl ? createSmtpTransport(config.smtpUrl) : createOutboxTransport(db);
  const smsProvider = providers.twilio
    ? createTwilioSmsProvider({ ...providers.twilio, statusCallbackUrl: twilioCallbackUrl })
    : providers.smsHttp ? createHttpSmsProvider(providers.smsHttp) : createOutboxSmsProvider(db);
  // A push service on loopback (plain http allowed) only outside production: development and tests.
  const allowLoopbackPush = config.nodeEnv !== 'production';
  const pushProvider = providers.vapid ? createWebPushProvider({ ...providers.vapid, destinations: pushDestinations(allowLoopbackPush) }) : createOutboxPushProvider(db);
  const deliveryHooks = createDeliveryHooks({
    db, resendWebhookSecret: providers.resendWebhookSecret, twilio: providers.twilio ? { authToken: providers.twilio.authToken, callbackUrl: twilioCallbackUrl } : undefined,
  });
  const communicationSettings = createSettingsService({ db, audit });
  const communications = createCommunicationsService({ db, audit });
  const templates = createTemplateService({
    db, audit, context: { publicUrl: config.publicUrl, productName: config.brand.name },
    onError: (error) => logger.warn({ err: error }, 'message template categories not refreshed'),
  });
  const unsubscribeLinks = createUnsubscribeLinks({ key: box.deriveKey('unsubscribe-link v1'), publicUrl: config.publicUrl });
  const notificationPreferences = createPreferencesService({ db, users, audit, suppress: communications.suppress });
  const onNotificationPublishError = (error: unknown) => logger.warn({ err: error }, 'in-app notification stored but not announced: cache unavailable');
  const recipients = createRecipients({
    db, cache,
    unsubscribeUrl: unsubscribeLinks.url,
    onPublishError: onNotificationPublishError,
  });
  const notifications = createNotificationsService({
    db, cache,
    onPublishError: onNotificationPublishError,
  });
  const pushSubscriptions = createPushSubscriptionsService({ db, allowLoopbackEndpoints: allowLoopbackPush });
  const messenger = createMessenger({
    db, users, cache, jobs, box, settings: communicationSettings, renderer: templates, recipients,
    email: mailTransport, sms: smsProvider, push: pushProvider, from: config.mailFrom, breaker: config.communications.breaker,
    ...(overrides.messengerQueue ? { queue: overrides.messengerQueue } : {}),
    onCacheError: (error) => logger.warn({ err: error }, 'communication rate limit: cache unavailable, message not counted'),
  });
  const communicationStats = createStatsService({ db });
  const communicationTests = createTestSendService({ db, audit, messenger, users });
  const mail: Mail = {
    send: (message, options) =>
      messenger.notify({ channel: 'email', to: message.to, template: message.template, ...(message.data ? { data: message.data } : {}), ...(message.userId ? { userId: message.userId } : {}) }, options),
  };
  const metrics = createMetrics({ jobs });
  // Accounts, second factors, passkeys and sessions, in the order their dependencies need. Who calls
  // whom in a sign-in is the flow at the end (app/sign-in.ts); nothing is installed afterwards.
  const admins = createAdminService({ db, audit, events });
  const mfaPolicy = createMfaPolicy({ db, requirement: config.auth.mfaRequired, isPlatformAdmin: admins.isPlatformAdmin });
  const passkeys = createPasskeyService({
    db, cache, audit, events, users, policy: mfaPolicy,
    settings: { rpId: new URL(config.publicUrl).hostname, rpName: config.auth.webauthnRpName, origins: config.auth.webauthnOrigins },
  });
  const mfaEnrolment = createEnrolmentCheck({ db, policy: mfaPolicy, passkeys, users });
  const tiers = createTiers(config.orgs.tierLimits);
  const orgs = createOrgsService({ db, audit, events, users, tiers });
  const sessions = createSessionService({
    db, cache, keys, audit, events,
    csrfKey: box.deriveKey('csrf'),
    settings: config.auth,
    enrollmentRequired: mfaEnrolment.required,
    roleIn: async (userId, orgId) => (await orgs.membership(orgId, userId))?.role ?? null,
    onRefreshReuse: (session) => logger.warn({ session_id: session.id, user_id: session.userId }, 'refresh token reuse: session revoked'),
  });
  const { accounts, signIn: signInSteps, links: oneTimeLinks } = createAccounts({
    db, cache, audit, events, mail, sessions,
    settings: {
      lockoutThreshold: config.auth.lockoutThreshold,
      lockoutDurationSeconds: config.auth.lockoutDurationSeconds,
      allowUnverifiedLogin: config.auth.allowUnverifiedLogin,
      passwordPolicy: { minLength: 8, maxLength: 128, requireComplexity: config.auth.passwordRequireComplexity },
    },
  });
  const passkeyVerifier: PasskeyVerifier = {
    countFor: (userId) => passkeys.countFor(userId),
    async authenticationOptions(input) {
      const { options, challengeId } = await passkeys.authenticationOptions(input);
      return { options: { ...options }, challengeId };
    },
    verifyAuthentication: (challengeId, response, client, options) => passkeys.verifyAuthentication(challengeId, response, client, options),
    removeAll: (userId, client) => passkeys.removeAll(userId, client),
  };
  const otp = createOtpService({
    db, users, cache, box, settings: communicationSettings, messenger,
    ...(overrides.otpLimits ? { limits: overrides.otpLimits } : {}),
    onCacheError: (error) => logger.warn({ err: error }, 'OTP limits: cache unavailable, request not counted'),
  });
  const phones = createPhoneService({ db, users, audit, events, otp });
  const mfa = createMfaService({
    db, cache, jobs, keys, box, audit, events, mail, users, sessions,
    links: oneTimeLinks,
    signIn: signInSteps,
    passkeys: passkeyVerifier,
    otp,
    policy: mfaPolicy,
    enrolment: mfaEnrolment,
    settings: { issuer: 'Tessera' },
  });
  const signIn = createSignInFlow({ steps: signInSteps, mfa, passkeys, users });
  const invitations = createInvitationsService({
    db, cache, audit, events, mail, users, tiers,
    settings: { ttlSeconds: config.orgs.invitationTtlSeconds, dailyLimit: config.orgs.invitationDailyLimit },
    onCacheError: (error) => logger.warn({ err: error }, 'invitation limit: cache unavailable, invitation not counted'),
  });
  const roles = createRolesService({ db, audit, events });
  const apiKeys = createApiKeysService({ db, cache, audit, events, tiers, onCacheError: (error) => logger.warn({ err: error }, 'API key rate limit: cache unavailable, request not counted') });
  const auditLog = createAuditService({ db, jobs, audit, settings: config.audit, onError: (error) => logger.error({ err: error }, 'audit sealer error') });
  const webhookPolicy = { allowPrivateNetworks: config.webhooks.allowPrivateNetworks, requireHttps: config.nodeEnv === 'production' && !config.webhooks.allowPrivateNetworks };
  const webhooks = createWebhooksService({ db, box, audit, tiers, policy: webhookPolicy });
  const webhookDispatcher = createWebhookDelivery({
    db, audit, webhooks, messenger, policy: webhookPolicy, settings: config.webhooks, onError: (error) => logger.error({ err: error }, 'webhook dispatcher error'),
  });
  const adminOutbox = createAdminOutboxService({ db });
  const applications = createApplicationsService({
    db, box, audit, events,
    orgExists: async (orgId) => (await orgs.get(orgId)) !== null,
    settings: { secretOverlapSeconds: config.applications.secretOverlapSeconds },
  });
  const resources = createResourcesService({ db, audit, events });
  const clientRegistry = createClientRegistry({ db, box });
  scheduleOidcCleanup(jobs, db);
  const roleIn = async (orgId: string, userId: string): Promise<string | null> => (await orgs.membership(orgId, userId))?.role ?? null;
  const oidcProvider = createOidcProvider({
    issuer: config.publicUrl,
    db,
    audit,
    registry: clientRegistry,
    keys,
    cookieKeys: [box.deriveKey('oidc-provider-cookies').toString('base64url')],
    apiAudience: config.auth.audience,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    refreshIdleTimeoutSeconds: config.auth.refreshIdleTimeoutSeconds,
    refreshReuseGraceSeconds: config.auth.refreshReuseGraceSeconds,
    sessionMaxLifetimeSeconds: config.auth.sessionMaxLifetimeSeconds,
    account: (userId) => users.byId(userId),
    organizations: async (userId) => (await orgs.listMine(userId)).map(({ org, role }) => ({ id: org.id, slug: org.slug, role })),
    roleIn,
    isSessionRevoked: (sessionId) => sessions.isRevoked(sessionId),
    allowPrivateNetworks: config.webhooks.allowPrivateNetworks,
    page: (meta) => appShellWith(overrides.webRoot ?? WEB_ROOT, meta),
    pageCsp: pageCsp(imageOriginsOf(config.brand.logoUrl)),
    endTesseraSession: async (sessionId) => {
      await sessions.revoke(sessionId, 'oidc_logout', { type: 'system' });
    },
    logger,
  });
  const oidcInteractions = createInteractionService({
    db, provider: oidcProvider, registry: clientRegistry, audit, roleIn,
    authenticatedAt: (sessionId) => sessions.authenticatedAt(sessionId),
  });
  const connectedApps = createConnectedApps({ db, registry: clientRegistry, audit });
  return {
    webhooks, webhookDispatcher, auditLog, adminOutbox, applications, resources, clientRegistry, oidcProvider, oidcInteractions, connectedApps,
    config, logger, db, cache, jobs, box, keys, audit, events, mail, mailTransport, smsProvider, pushProvider, deliveryHooks, templates, recipients, messenger, metrics,
    sessions, users, accounts, signInSteps, oneTimeLinks, admins, passkeys, mfaPolicy, mfaEnrolment, mfa, signIn,
    orgs, invitations, roles, apiKeys, tiers, communicationSettings, communications,
    unsubscribeLinks, notificationPreferences, communicationStats, communicationTests, notifications, pushSubscriptions, otp, phones };
}
