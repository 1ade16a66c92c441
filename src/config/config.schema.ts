/**
 * The configuration schema: every environment variable Tessera reads, its parser and its
 * documentation side by side. `configSchema` turns the raw environment (after `NAME_FILE`
 * resolution, see ./index.ts) into the typed `Config`; `configDocs` feeds the README table.
 *
 * Messages are written here, not left to zod's defaults, so that each one says what was
 * expected and, for variables that are not secret, what was given. A secret variable's parser
 * never puts its value in a message.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export interface RateLimitRule {
  readonly max: number;
  readonly windowSeconds: number;
}

/** Organization tiers, cheapest first. */
export const TIERS = ['free', 'starter', 'pro', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

/** The limits of a tier; null is unlimited. */
export interface TierLimits {
  readonly members: number | null;
  readonly api_keys: number | null;
  readonly webhooks: number | null;
  readonly requests_per_minute: number | null;
}
export const TIER_LIMIT_NAMES = ['members', 'api_keys', 'webhooks', 'requests_per_minute'] as const satisfies readonly (keyof TierLimits)[];

/** Limits per tier when TIER_LIMITS does not override them. */
export const DEFAULT_TIER_LIMITS: Readonly<Record<Tier, TierLimits>> = {
  free: { members: 5, api_keys: 2, webhooks: 1, requests_per_minute: 60 },
  starter: { members: 25, api_keys: 10, webhooks: 5, requests_per_minute: 600 },
  pro: { members: 100, api_keys: 50, webhooks: 20, requests_per_minute: 3000 },
  enterprise: { members: null, api_keys: null, webhooks: null, requests_per_minute: null },
};

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Absolute http(s) URL without trailing slash, query or fragment. */
  readonly publicUrl: string;
  /** Absolute path. */
  readonly dataDir: string;
  /** Absent: embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string;
  /** Absent: in-process cache. */
  readonly redisUrl?: string;
  /** Absent: development outbox. */
  readonly smtpUrl?: string;
  readonly mailFrom: string;
  readonly trustedProxies: string[];
  readonly logLevel: LogLevel;
  readonly nodeEnv: NodeEnv;
  /** Absent outside production: the app generates one into `dataDir`. */
  readonly secret?: string;
  readonly bootstrapAdmin?: { readonly email: string; readonly password: string };
  /** Normalised origins (`scheme://host[:port]`). */
  readonly corsOrigins: string[];
  /** Origins, besides this server's, that `return_to` of the hosted pages may lead to. */
  readonly allowedRedirectOrigins: string[];
  /** What the hosted pages and mails show: name, optional logo (a path or https URL), #rrggbb colour. */
  readonly brand: { readonly name: string; readonly color: string; readonly logoUrl?: string };
  readonly bodyLimitBytes: number;
  readonly metricsToken?: string;
  /** A separate loopback listener for /metrics; absent: none. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  readonly rateLimit: {
    readonly enabled: boolean;
    readonly groups: Readonly<Record<string, RateLimitRule>>;
  };
  readonly shutdownTimeoutMs: number;
  readonly auth: {
    readonly accessTokenTtlSeconds: number;
    readonly audience: string;
    readonly refreshIdleTimeoutSeconds: number;
    /** Seconds after a rotation in which the same client may present the spent refresh token again (0: never). */
    readonly refreshReuseGraceSeconds: number;
    readonly sessionMaxLifetimeSeconds: number;
    readonly lockoutThreshold: number;
    readonly lockoutDurationSeconds: number;
    readonly allowUnverifiedLogin: boolean;
    readonly passwordRequireComplexity: boolean;
    readonly mfaRequired: 'off' | 'all' | 'admins';
    readonly webauthnRpName: string;
    readonly webauthnOrigins: string[];
  };
  /** Message providers beside SMTP; each absent one leaves its channel to the next choice (dev outbox last). */
  readonly communications: {
    readonly resend?: { readonly apiKey: string; readonly apiUrl: string };
    /** Signing secret (`whsec_…`) of Resend's delivery webhooks; absent: `/v1/hooks/resend` refuses everything. */
    readonly resendWebhookSecret?: string;
    readonly twilio?: { readonly accountSid: string; readonly authToken: string; readonly from: string; readonly apiUrl: string };
    readonly smsHttp?: { readonly url: string; readonly secret: string };
    readonly vapid?: { readonly publicKey: string; readonly privateKey: string; readonly subject: string };
    /** Consecutive failures that open a provider's circuit, and seconds it stays open before a trial. */
    readonly breaker: { readonly threshold: number; readonly cooldownSeconds: number };
  };
  readonly audit: {
    /** Absent: entries are kept for ever. */
    readonly retentionDays?: number;
    /** Absolute path where purged entries are exported first. */
    readonly exportDir: string;
  };
  readonly webhooks: {
    readonly allowPrivateNetworks: boolean;
    /** Delay before each retry, in seconds; its length is the number of retries. */
    readonly retryScheduleSeconds: readonly number[];
    /** Failed attempts in a row that disable an endpoint. */
    readonly disableAfterFailures: number;
    readonly timeoutSeconds: number;
  };
  readonly applications: {
    /** Seconds a rotated-out client secret is still accepted beside the new one (0: not at all). */
    readonly secretOverlapSeconds: number;
  };
  readonly orgs: {
    readonly invitationTtlSeconds: number;
    /** Invitation mails (resends included) one organization may send to one address in 24 hours. */
    readonly invitationDailyLimit: number;
    /** Lowercase, no trailing dot; absent: no subdomain tenancy. */
    readonly baseDomain?: string;
    /** Every tier, with TIER_LIMITS merged over the defaults. */
    readonly tierLimits: Readonly<Record<Tier, TierLimits>>;
  };
}

/** Limits per route group when RATE_LIMITS does not override them (JSON field names). */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, { max: number; window_seconds: number }>> = {
  default: { max: 600, window_seconds: 60 },
  auth: { max: 30, window_seconds: 60 },
  admin: { max: 300, window_seconds: 60 },
  /** Providers' delivery callbacks (/v1/hooks/…), per calling address. */
  hooks: { max: 1200, window_seconds: 60 },
};

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Records a problem with the value being parsed; the parser may report several. */
type Report = (message: string) => void;
type Parser<T> = (raw: string, report: Report) => T;

interface VariableSpec<T> {
  readonly title: string;
  readonly description: string;
  /** As shown to humans: the literal default value, or what happens when the variable is absent. */
  readonly default: string;
  /** True when there is no default value and absence means a behaviour (`default` is prose). */
  readonly optional: boolean;
  /** Never echoed in messages; the README suggests `NAME_FILE` for it. */
  readonly secret: boolean;
  readonly schema: z.ZodType<T, string | undefined>;
}

interface DocFields {
  title: string;
  description: string;
  secret?: boolean;
}

/** JSON-quoted, so a value with odd characters stays on one line and visibly delimited. */
const show = (raw: string): string => JSON.stringify(raw);

function parsing<T>(parse: Parser<T>, raw: string, ctx: z.RefinementCtx): T {
  let failed = false;
  const value = parse(raw, (message) => {
    failed = true;
    ctx.addIssue({ code: 'custom', message, input: undefined });
  });
  return failed ? z.NEVER : value;
}

/** A variable with a default value, which goes through the same parser as a given value. */
function variable<T>(spec: DocFields & { default: string; parse: Parser<T> }): VariableSpec<T> {
  return {
    title: spec.title,
    description: spec.description,
    default: spec.default,
    optional: false,
    secret: spec.secret ?? false,
    schema: z
      .string()
      .optional()
      .transform((raw, ctx) => parsing(spec.parse, raw ?? spec.default, ctx)),
  };
}

/** A variable whose absence is meaningful; `whenAbsent` says what happens then. */
function optionalVariable<T>(
  spec: DocFields & { whenAbsent: string; parse: Parser<T> },
): VariableSpec<T | undefined> {
  return {
    title: spec.title,
    description: spec.description,
    default: spec.whenAbsent,
    optional: true,
    secret: spec.secret ?? false,
    schema: z
      .string()
      .optional()
      .transform((raw, ctx) => (raw === undefined ? undefined : parsing(spec.parse, raw, ctx))),
  };
}

function integerIn(min: number, max: number): Parser<number> {
  return (raw, report) => {
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      report(`expected an integer between ${min} and ${max}, got ${show(raw)}`);
    }
    return value;
  };
}

function oneOf<const T extends readonly string[]>(options: T): Parser<T[number]> {
  return (raw, report) => {
    const found = options.find((option) => option === raw);
    if (found === undefined) report(`expected one of ${options.join(', ')}, got ${show(raw)}`);
    return found ?? z.NEVER;
  };
}

const boolean: Parser<boolean> = (raw, report) => {
  const value = raw.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value !== 'false' && value !== '0') report(`expected true, false, 1 or 0, got ${show(raw)}`);
  return false;
};

/** Comma-separated entries, blanks around commas ignored, each checked by `entry`. */
function list(entry: (item: string, report: Report) => string): Parser<string[]> {
  return (raw, report) =>
    raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')
      .map((item) => entry(item, report));
}

function tryUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

/**
 * A connection URL that may embed a password: checked for its scheme only and never echoed,
 * not even its scheme (a mistyped value could be a bare password that happens to parse).
 */
function connectionUrl(schemes: readonly string[]): Parser<string> {
  const expected = schemes.map((scheme) => `${scheme}//`).join(' or ');
  return (raw, report) => {
    const url = tryUrl(raw);
    if (url === undefined || !schemes.includes(url.protocol)) {
      report(`expected a ${expected} URL (value not shown: it may hold a password)`);
    }
    return raw;
  };
}

/** An http(s) base URL of an API (no credentials); the trailing slash dropped. */
const apiUrl: Parser<string> = (raw, report) => {
  const url = tryUrl(raw);
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    report(`expected an http:// or https:// URL without credentials, got ${show(raw)}`);
    return raw;
  }
  return url.href.replace(/\/+$/, '');
};

const anyText: Parser<string> = (raw) => raw;

const publicUrl: Parser<string> = (raw, report) => {
  const url = tryUrl(raw);
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    report(`expected an http:// or https:// URL such as https://id.example.com, got ${show(raw)}`);
    return raw;
  }
  if (url.username !== '' || url.password !== '') {
    report('must not contain a user name or password (value not shown)');
    return raw;
  }
  if (raw.includes('?') || raw.includes('#')) {
    report(`must not have a query or fragment, got ${show(raw)}`);
  }
  return url.href.replace(/\/+$/, '');
};

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

const host: Parser<string> = (raw, report) => {
  if (isIP(raw) === 0 && !HOST_NAME.test(raw)) {
    report(`expected an IP address (without brackets) or a host name, got ${show(raw)}`);
  }
  return raw;
};

/** `host:port` on a loopback address (IPv6 in brackets); the host as `listen` takes it. */
const loopbackListen: Parser<{ host: string; port: number }> = (raw, report) => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const host = match?.[1] ?? match?.[2] ?? '';
  const port = Number(match?.[3]);
  const loopback =
    host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && tryUrl(`http://[${host}]/`)?.hostname === '[::1]');
  if (!match || !Number.isInteger(port) || port < 1 || port > 65_535) {
    report(`expected host:port such as 127.0.0.1:9464 or [::1]:9464, got ${show(raw)}`);
  } else if (!loopback) {
    report(`must be a loopback address (127.0.0.0/8, ::1 or localhost), got ${show(raw)}; to expose metrics elsewhere, set METRICS_TOKEN`);
  }
  return { host, port };
};

const ADDRESS = /^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/;
const NAMED_ADDRESS = /^([^<>\r\n]*)<([^<>]*)>$/;

const mailbox: Parser<string> = (raw, report) => {
  const address = NAMED_ADDRESS.exec(raw)?.[2]?.trim() ?? raw;
  if (!ADDRESS.test(address)) {
    report(`expected an address such as "Tessera <no-reply@example.com>" or "no-reply@example.com", got ${show(raw)}`);
  }
  return raw;
};

const email: Parser<string> = (raw, report) => {
  if (!z.email().safeParse(raw).success) report(`expected an email address, got ${show(raw)}`);
  return raw;
};

function minLength(min: number, what: string): Parser<string> {
  return (raw, report) => {
    const length = [...raw].length;
    if (length < min) report(`too short (${length} characters); ${what} needs at least ${min}`);
    return raw;
  };
}

const ipOrCidr = (item: string, report: Report): string => {
  const [address = '', prefix, ...rest] = item.split('/');
  const version = isIP(address);
  const maxPrefix = version === 6 ? 128 : 32;
  if (version === 0 || rest.length > 0) {
    report(`${show(item)} is not an IP address or CIDR range`);
  } else if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > maxPrefix)) {
    report(`${show(item)} is not a valid CIDR range (an IPv${version} prefix length is 0 to ${maxPrefix})`);
  }
  return item;
};

const origin = (item: string, report: Report): string => {
  const url = tryUrl(item);
  const isOrigin =
    url !== undefined &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.host !== '' &&
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    !item.includes('?') &&
    !item.includes('#');
  if (!isOrigin) report(`${show(item)} is not an origin (expected scheme://host[:port], e.g. https://app.example.com)`);
  return url?.origin ?? item;
};

const positiveInteger = z
  .int({
    error: (issue) =>
      issue.input === undefined ? 'missing (a positive integer)' : `expected a positive integer, got ${JSON.stringify(issue.input)}`,
  })
  .min(1, { error: (issue) => `expected a positive integer, got ${JSON.stringify(issue.input)}` });

const rateLimitsJson = z.record(
  z.string().min(1, { error: 'a group name must not be empty' }),
  z.strictObject(
    { max: positiveInteger, window_seconds: positiveInteger },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key ${issue.keys.map((key) => JSON.stringify(key)).join(', ')} (expected "max" and "window_seconds")`
          : 'expected an object {"max": <requests>, "window_seconds": <seconds>}',
    },
  ),
  {
    error: (issue) =>
      issue.code === 'invalid_key'
        ? 'a group name must not be empty'
        : 'expected a JSON object mapping route group names to {"max": <requests>, "window_seconds": <seconds>}',
  },
);

type RateLimitsJson = z.output<typeof rateLimitsJson>;

/** A variable holding JSON: parse errors and shape problems are reported at their path (`RATE_LIMITS.auth.max`). */
function jsonVariable<T>(shape: z.ZodType<T>): z.ZodType<T | undefined, string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx): unknown => {
      if (raw === undefined) return undefined;
      try {
        return JSON.parse(raw) as unknown;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        ctx.addIssue({ code: 'custom', message: `invalid JSON (${reason})`, input: undefined });
        return z.NEVER;
      }
    })
    .pipe(shape.optional());
}

const rateLimits = jsonVariable(rateLimitsJson);

const limitValue = z.union([positiveInteger, z.null()], {
  error: (issue) => `expected a positive integer or null (unlimited), got ${JSON.stringify(issue.input)}`,
});

const tierLimitsJson = z.strictObject(
  Object.fromEntries(TIERS.map((tier) => [tier, z.strictObject(
    {
      members: limitValue.optional(),
      api_keys: limitValue.optional(),
      webhooks: limitValue.optional(),
      requests_per_minute: limitValue.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key ${issue.keys.map((key) => JSON.stringify(key)).join(', ')} (expected ${TIER_LIMIT_NAMES.map((n) => `"${n}"`).join(', ')})`
          : `expected an object {${TIER_LIMIT_NAMES.map((n) => `"${n}": <number or null>`).join(', ')}}`,
    },
  ).optional()])) as Record<Tier, z.ZodOptional<z.ZodObject<Record<keyof TierLimits, z.ZodOptional<typeof limitValue>>>>>,
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown tier ${issue.keys.map((key) => JSON.stringify(key)).join(', ')} (expected ${TIERS.map((t) => `"${t}"`).join(', ')})`
        : 'expected a JSON object mapping tier names to their limits',
  },
);

type TierLimitsJson = z.output<typeof tierLimitsJson>;

const tierLimits = jsonVariable(tierLimitsJson);

const describeDefaultTierLimits = (): string =>
  TIERS.map((tier) => {
    const limits = DEFAULT_TIER_LIMITS[tier];
    return `${tier} ${TIER_LIMIT_NAMES.map((name) => `${name} ${limits[name] ?? 'unlimited'}`).join(' ')}`;
  }).join('; ');

const describeDefaultRateLimits = (): string =>
  Object.entries(DEFAULT_RATE_LIMITS)
    .map(([group, rule]) => `${group} ${rule.max} per ${rule.window_seconds} s`)
    .join(', ');

// ---------------------------------------------------------------------------------------------
// The variables: each one's parser next to its documentation, so none goes undocumented.

export const variables = {
  PORT: variable({
    title: 'HTTP port',
    description: 'TCP port the HTTP server listens on (1 to 65535).',
    default: '8080',
    parse: integerIn(1, 65535),
  }),
  HOST: variable({
    title: 'Listen address',
    description: 'IP address or host name the HTTP server binds to; `0.0.0.0` is every IPv4 interface, `::` every interface.',
    default: '0.0.0.0',
    parse: host,
  }),
  PUBLIC_URL: optionalVariable({
    title: 'Public URL',
    description:
      'The http(s) URL at which clients reach this server, without query or fragment (a trailing slash is dropped). The token issuer and every link in mail are built from it: set it whenever the server sits behind a proxy or a domain name.',
    whenAbsent: 'http://localhost:$PORT',
    parse: publicUrl,
  }),
  DATA_DIR: variable({
    title: 'Data directory',
    description: 'Directory for local state (the embedded database, a generated development secret); relative paths are resolved against the working directory.',
    default: './data',
    parse: (raw) => resolve(raw),
  }),
  DATABASE_URL: optionalVariable({
    title: 'PostgreSQL URL',
    description: '`postgres://` or `postgresql://` connection URL. When absent, an embedded PGlite database in `DATA_DIR` is used.',
    whenAbsent: 'none: embedded PGlite in DATA_DIR',
    secret: true,
    parse: connectionUrl(['postgres:', 'postgresql:']),
  }),
  REDIS_URL: optionalVariable({
    title: 'Redis URL',
    description: '`redis://` or `rediss://` URL of the shared cache. Needed to run more than one instance; when absent, an in-process cache is used.',
    whenAbsent: 'none: in-process cache',
    secret: true,
    parse: connectionUrl(['redis:', 'rediss:']),
  }),
  SMTP_URL: optionalVariable({
    title: 'SMTP URL',
    description: '`smtp://` or `smtps://` URL (with credentials, if any) of the mail relay. When absent, mail goes to a development outbox instead of being sent.',
    whenAbsent: 'none: development outbox',
    secret: true,
    parse: connectionUrl(['smtp:', 'smtps:']),
  }),
  MAIL_FROM: variable({
    title: 'Mail sender',
    description: '`From` of outgoing mail: `Name <address>` or a bare address.',
    default: 'Tessera <no-reply@localhost>',
    parse: mailbox,
  }),
  RESEND_API_KEY: optionalVariable({
    title: 'Resend API key',
    description: 'API key (`re_…`) of Resend. When set, email goes through Resend\'s HTTP API instead of SMTP.',
    whenAbsent: 'none: SMTP_URL, else the development outbox',
    secret: true,
    parse: minLength(8, 'a Resend API key'),
  }),
  RESEND_API_URL: variable({
    title: 'Resend API URL',
    description: 'Base URL of Resend\'s API (tests point it at a local server speaking the same format).',
    default: 'https://api.resend.com',
    parse: apiUrl,
  }),
  RESEND_WEBHOOK_SECRET: optionalVariable({
    title: 'Resend webhook secret',
    description: 'Signing secret (`whsec_…`) of the Resend webhook that posts delivery events to `/v1/hooks/resend`.',
    whenAbsent: 'none: delivery callbacks from Resend are refused',
    secret: true,
    parse: minLength(16, 'a webhook signing secret'),
  }),
  TWILIO_ACCOUNT_SID: optionalVariable({
    title: 'Twilio account SID',
    description: 'Account SID (`AC…`) of Twilio. With TWILIO_AUTH_TOKEN and TWILIO_FROM, SMS goes through Twilio\'s Messages API.',
    whenAbsent: 'none: SMS_HTTP_URL, else the development outbox',
    parse: anyText,
  }),
  TWILIO_AUTH_TOKEN: optionalVariable({
    title: 'Twilio auth token',
    description: 'Auth token of the Twilio account: authenticates requests to Twilio and verifies the signature of its status callbacks.',
    whenAbsent: 'none',
    secret: true,
    parse: minLength(8, 'a Twilio auth token'),
  }),
  TWILIO_FROM: optionalVariable({
    title: 'Twilio sender',
    description: 'Sender of SMS through Twilio: a phone number in E.164 form or a messaging service SID (`MG…`).',
    whenAbsent: 'none',
    parse: anyText,
  }),
  TWILIO_API_URL: variable({
    title: 'Twilio API URL',
    description: 'Base URL of Twilio\'s REST API (tests point it at a local server speaking the same format).',
    default: 'https://api.twilio.com',
    parse: apiUrl,
  }),
  SMS_HTTP_URL: optionalVariable({
    title: 'Generic SMS provider URL',
    description:
      'URL to which each SMS is POSTed as JSON `{id, to, text}`, signed with SMS_HTTP_SECRET in `X-Tessera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. Used when Twilio is not configured.',
    whenAbsent: 'none: the development outbox (unless Twilio is configured)',
    parse: apiUrl,
  }),
  SMS_HTTP_SECRET: optionalVariable({
    title: 'Generic SMS provider secret',
    description: 'HMAC key that signs requests to SMS_HTTP_URL.',
    whenAbsent: 'none',
    secret: true,
    parse: minLength(16, 'an HMAC key'),
  }),
  VAPID_PUBLIC_KEY: optionalVariable({
    title: 'VAPID public key',
    description: 'Web Push application server public key (URL-safe base64, as printed by `npx web-push generate-vapid-keys`). Browsers subscribe with it.',
    whenAbsent: 'none: push notifications go to the development outbox',
    parse: anyText,
  }),
  VAPID_PRIVATE_KEY: optionalVariable({
    title: 'VAPID private key',
    description: 'Web Push application server private key (URL-safe base64).',
    whenAbsent: 'none',
    secret: true,
    parse: anyText,
  }),
  VAPID_SUBJECT: variable({
    title: 'VAPID subject',
    description: 'Contact of the application server sent to push services: a `mailto:` or `https:` URL.',
    default: 'mailto:admin@localhost',
    parse: (raw, report) => {
      if (!/^(mailto:|https:\/\/)/.test(raw)) report(`expected a mailto: or https:// URL, got ${show(raw)}`);
      return raw;
    },
  }),
  COMMUNICATION_BREAKER_THRESHOLD: variable({
    title: 'Provider circuit breaker threshold',
    description: 'Consecutive failed sends after which a message provider\'s circuit opens: its messages wait in the queue instead of being tried.',
    default: '5',
    parse: integerIn(1, 1000),
  }),
  COMMUNICATION_BREAKER_COOLDOWN_SECONDS: variable({
    title: 'Provider circuit breaker cool-down',
    description: 'Seconds an open circuit waits before one trial message; success closes it, failure opens it again.',
    default: '30',
    parse: integerIn(1, 3600),
  }),
  AUDIT_RETENTION_DAYS: optionalVariable({
    title: 'Audit log retention',
    description:
      'Days an audit entry is kept. Once a day, older entries are exported to a JSON Lines file in AUDIT_EXPORT_DIR and then deleted; a checkpoint keeps the hash chain verifiable across the purge.',
    whenAbsent: 'entries are kept for ever',
    parse: integerIn(1, 36_500),
  }),
  AUDIT_EXPORT_DIR: optionalVariable({
    title: 'Audit export directory',
    description: 'Where the retention job writes the entries it purges (one file per run).',
    whenAbsent: '$DATA_DIR/audit-exports',
    parse: (raw) => raw,
  }),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: variable({
    title: 'Webhooks to private networks',
    description:
      'Allow webhook endpoints on private, loopback and link-local addresses, and over plain http in production too. Off, such destinations are refused when an endpoint is saved and again at each delivery (DNS rebinding). Only for tests and closed networks.',
    default: 'false',
    parse: boolean,
  }),
  WEBHOOK_RETRY_SCHEDULE_SECONDS: variable({
    title: 'Webhook retry schedule',
    description: 'Comma-separated delays in seconds before each retry of a failed webhook delivery (each with up to 10% jitter); the number of delays is the number of retries. The default spans about a day.',
    default: '5,300,1800,7200,18000,36000,36000',
    parse: (raw, report) => {
      const delays = raw.split(',').map((item) => item.trim());
      if (delays.length === 0 || delays.length > 20 || delays.some((item) => !/^\d+$/.test(item) || Number(item) < 1 || Number(item) > 604_800)) {
        report(`expected 1 to 20 comma-separated whole seconds between 1 and 604800, got ${show(raw)}`);
      }
      return delays.join(',');
    },
  }),
  WEBHOOK_DISABLE_AFTER_FAILURES: variable({
    title: 'Webhook endpoint failure limit',
    description: 'Failed delivery attempts in a row after which an endpoint is disabled and the organization\'s admins are told; a success resets the count.',
    default: '20',
    parse: integerIn(1, 10_000),
  }),
  WEBHOOK_TIMEOUT_SECONDS: variable({
    title: 'Webhook timeout',
    description: 'Seconds a receiver has to answer a delivery with a 2xx.',
    default: '15',
    parse: integerIn(1, 60),
  }),
  APPLICATION_SECRET_OVERLAP_SECONDS: variable({
    title: 'Client secret rotation overlap',
    description:
      'Seconds the previous client secret of an OIDC application keeps working after POST /v1/admin/applications/{app_id}/secret rotates it, so its deployments can switch over (0 to 2592000; 0 ends it at once).',
    default: '86400',
    parse: integerIn(0, 2_592_000),
  }),
  TRUSTED_PROXIES: optionalVariable({
    title: 'Trusted proxies',
    description:
      'Comma-separated IP addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed. When empty, the client address is the TCP peer.',
    whenAbsent: 'none',
    parse: list(ipOrCidr),
  }),
  LOG_LEVEL: variable({
    title: 'Log level',
    description: `One of ${LOG_LEVELS.join(', ')}.`,
    default: 'info',
    parse: oneOf(LOG_LEVELS),
  }),
  NODE_ENV: variable({
    title: 'Environment',
    description: `One of ${NODE_ENVS.join(', ')}. \`production\` requires \`TESSERA_SECRET\`.`,
    default: 'development',
    parse: oneOf(NODE_ENVS),
  }),
  TESSERA_SECRET: optionalVariable({
    title: 'Key-encryption key',
    description:
      'At least 32 characters; encrypts secrets at rest (second-factor secrets, signing keys, webhook and provider secrets), so losing it loses them. Required in production; elsewhere, when absent, one is generated into `DATA_DIR`.',
    whenAbsent: 'none: generated into DATA_DIR (required in production)',
    secret: true,
    parse: minLength(32, 'the key-encryption key'),
  }),
  BOOTSTRAP_ADMIN_EMAIL: optionalVariable({
    title: 'Bootstrap admin email',
    description: 'Email address of the first platform administrator; give it together with `BOOTSTRAP_ADMIN_PASSWORD`.',
    whenAbsent: 'none',
    parse: email,
  }),
  BOOTSTRAP_ADMIN_PASSWORD: optionalVariable({
    title: 'Bootstrap admin password',
    description: 'Password (at least 8 characters) of the first platform administrator; give it together with `BOOTSTRAP_ADMIN_EMAIL`.',
    whenAbsent: 'none',
    secret: true,
    parse: minLength(8, 'the password'),
  }),
  CORS_ORIGINS: optionalVariable({
    title: 'CORS origins',
    description: 'Comma-separated origins (such as `https://app.example.com`) allowed to call the API from a browser. When empty, cross-origin requests are not allowed.',
    whenAbsent: 'none',
    parse: list(origin),
  }),
  ALLOWED_REDIRECT_ORIGINS: optionalVariable({
    title: 'Allowed redirect origins',
    description: 'Comma-separated origins (such as `https://app.example.com`) the hosted pages may send a person back to after sign-in (`?return_to=`). The server\'s own pages are always allowed; any other `return_to` is ignored.',
    whenAbsent: 'only this server\'s own pages',
    parse: list(origin),
  }),
  BRAND_NAME: variable({
    title: 'Brand name',
    description: 'The product name the hosted pages and the mails show.',
    default: 'Tessera',
    parse: (raw, report) => {
      const name = raw.trim();
      if (name.length === 0 || name.length > 60) report(`expected 1 to 60 characters, got ${show(raw)}`);
      return name;
    },
  }),
  BRAND_LOGO_URL: optionalVariable({
    title: 'Brand logo URL',
    description: 'The logo of the hosted pages: a path on this server or an https URL (its origin is then added to the pages\' Content-Security-Policy for images).',
    whenAbsent: 'the brand name as text',
    parse: (raw, report) => {
      if (raw.startsWith('/') && !raw.startsWith('//')) return raw;
      const url = tryUrl(raw);
      if (!url || url.protocol !== 'https:' || url.username !== '' || url.password !== '') report(`expected a path such as /logo.svg or an https:// URL, got ${show(raw)}`);
      return url?.href ?? raw;
    },
  }),
  BRAND_COLOR: variable({
    title: 'Brand colour',
    description: 'The primary colour of the hosted pages, as #rrggbb (buttons, links, focus rings).',
    default: '#4f46e5',
    parse: (raw, report) => {
      if (!/^#[0-9a-fA-F]{6}$/.test(raw)) report(`expected a colour as #rrggbb, got ${show(raw)}`);
      return raw.toLowerCase();
    },
  }),
  BODY_LIMIT_BYTES: variable({
    title: 'Body size limit',
    description: 'Largest request body accepted, in bytes.',
    default: '1048576',
    parse: integerIn(1, Number.MAX_SAFE_INTEGER),
  }),
  METRICS_TOKEN: optionalVariable({
    title: 'Metrics token',
    description:
      'Opens `/metrics` (Prometheus text) on the API port to `Authorization: Bearer <METRICS_TOKEN>`, and requires the same token on the METRICS_LISTEN listener. Without it, `/metrics` does not exist on the API port (404): metrics are closed unless a token is set or METRICS_LISTEN serves them on loopback.',
    whenAbsent: 'none: /metrics answers 404 on the API port',
    secret: true,
    parse: (raw) => raw,
  }),
  METRICS_LISTEN: optionalVariable({
    title: 'Metrics listener',
    description:
      'A separate listener for `GET /metrics` on a loopback address, `host:port` (`127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`), for a scraper on the same host. It needs no token unless METRICS_TOKEN is set. Addresses other than loopback are refused: elsewhere, use METRICS_TOKEN.',
    whenAbsent: 'none',
    parse: loopbackListen,
  }),
  RATE_LIMIT_ENABLED: variable({
    title: 'Rate limiting',
    description: 'Whether per-route-group rate limits apply: `true`, `false`, `1` or `0`.',
    default: 'true',
    parse: boolean,
  }),
  RATE_LIMITS: {
    title: 'Rate limits',
    description:
      'JSON object mapping a route group to `{"max": <requests>, "window_seconds": <seconds>}`, merged group by group over the defaults, e.g. `{"auth": {"max": 10, "window_seconds": 60}}`.',
    default: `built in: ${describeDefaultRateLimits()}`,
    optional: true,
    secret: false,
    schema: rateLimits,
  } satisfies VariableSpec<RateLimitsJson | undefined>,
  ACCESS_TOKEN_TTL_SECONDS: variable({
    title: 'Access-token lifetime',
    description: 'Seconds an access token is valid (60 to 86400). A revoked session stops its tokens at once anyway.',
    default: '900',
    parse: integerIn(60, 86_400),
  }),
  TOKEN_AUDIENCE: optionalVariable({
    title: 'Access-token audience',
    description: 'The `aud` claim of access tokens, which resource servers check.',
    whenAbsent: 'PUBLIC_URL',
    parse: minLength(1, 'an audience'),
  }),
  REFRESH_IDLE_TIMEOUT_SECONDS: variable({
    title: 'Session idle timeout',
    description: 'A session whose refresh token is not used for this many seconds ends (default 7 days).',
    default: '604800',
    parse: integerIn(300, 31_536_000),
  }),
  REFRESH_REUSE_GRACE_SECONDS: variable({
    title: 'Refresh-token reuse grace',
    description:
      'Seconds after a refresh token was rotated in which the same client (same session, same User-Agent, same IP address as the rotation) may present it again and get a new pair of the same session instead of ending it: two tabs refreshing at once. Only the latest rotation of a session has a grace; a reuse after it, or from another client, ends the session (theft). `0` disables it (0 to 60).',
    default: '2',
    parse: integerIn(0, 60),
  }),
  SESSION_MAX_LIFETIME_SECONDS: variable({
    title: 'Session absolute lifetime',
    description: 'A session ends this many seconds after sign-in, however active (default 30 days).',
    default: '2592000',
    parse: integerIn(300, 31_536_000),
  }),
  LOCKOUT_THRESHOLD: variable({
    title: 'Lockout threshold',
    description: 'Consecutive failed sign-ins that lock an account.',
    default: '5',
    parse: integerIn(1, 1000),
  }),
  LOCKOUT_DURATION_SECONDS: variable({
    title: 'Lockout duration',
    description: 'Seconds a locked account stays locked (default 30 minutes).',
    default: '1800',
    parse: integerIn(1, 31_536_000),
  }),
  ALLOW_UNVERIFIED_LOGIN: variable({
    title: 'Sign-in before verification',
    description:
      'Whether users may sign in with a password before verifying their email (their tokens then say `email_verified: false`). Off by default: an unverified account could belong to someone who registered another person\'s address. Whatever the setting, the first proof of an address ends the sessions opened before it.',
    default: 'false',
    parse: boolean,
  }),
  PASSWORD_REQUIRE_COMPLEXITY: variable({
    title: 'Password complexity',
    description: 'Also require an upper-case letter, a lower-case letter, a digit and a symbol in passwords (length, the common-password list and the email check always apply).',
    default: 'false',
    parse: boolean,
  }),
  MFA_REQUIRED: variable({
    title: 'Second factor required',
    description: 'Who must enrol a second factor (TOTP or a passkey) before using the API: `off`, `all` users, or platform `admins` only. Until they enrol they get `mfa_enrollment_required` from everything but the enrolment endpoints.',
    default: 'off',
    parse: oneOf(['off', 'all', 'admins'] as const),
  }),
  WEBAUTHN_RP_NAME: variable({
    title: 'Passkey relying-party name',
    description: 'The name authenticators show when a passkey is created. The relying-party id is the host name of PUBLIC_URL.',
    default: 'Tessera',
    parse: minLength(1, 'a name'),
  }),
  WEBAUTHN_EXTRA_ORIGINS: optionalVariable({
    title: 'Extra passkey origins',
    description: 'Comma-separated origins, besides PUBLIC_URL, allowed to use passkeys (e.g. a front end on another port of the same site).',
    whenAbsent: 'only the origin of PUBLIC_URL',
    parse: list((item, report) => {
      const url = tryUrl(item);
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) report(`expected http(s) origins, got ${show(item)}`);
      return url ? url.origin : item;
    }),
  }),
  INVITATION_TTL_SECONDS: variable({
    title: 'Invitation lifetime',
    description: 'Seconds an organization invitation link stays usable (default 7 days).',
    default: '604800',
    parse: integerIn(300, 31_536_000),
  }),
  INVITATION_DAILY_LIMIT: variable({
    title: 'Invitations per address per day',
    description:
      'Invitation mails, resends included, one organization may send to one email address within 24 hours (counted from the first). More answer 429 `invitation_limit_reached` with `Retry-After`, so no organization can flood an inbox or use up its mail budget with invitations.',
    default: '5',
    parse: integerIn(1, 1000),
  }),
  BASE_DOMAIN: optionalVariable({
    title: 'Base domain of organization subdomains',
    description:
      'Domain under which each organization has a subdomain named by its slug (`acme.example.com` with `example.com`): an org-scoped request without an organization in its path takes it from the Host. Reserved names (`www`, `api`, `app`…) are ignored.',
    whenAbsent: 'none: organizations come from the path, the X-Organization-Id header or the token',
    parse: (raw, report) => {
      const value = raw.toLowerCase().replace(/\.$/, '');
      if (!HOST_NAME.test(value) || !value.includes('.')) report(`expected a domain name such as example.com, got ${show(raw)}`);
      return value;
    },
  }),
  TIER_LIMITS: {
    title: 'Organization tier limits',
    description:
      'JSON object mapping a tier (`free`, `starter`, `pro`, `enterprise`) to limits `{"members", "api_keys", "webhooks", "requests_per_minute"}` (positive integers, or null for unlimited), merged tier by tier and limit by limit over the defaults, e.g. `{"free": {"members": 10}}`. Going over a limit answers 403 `tier_limit_reached`.',
    default: `built in: ${describeDefaultTierLimits()}`,
    optional: true,
    secret: false,
    schema: tierLimits,
  } satisfies VariableSpec<TierLimitsJson | undefined>,
  SHUTDOWN_TIMEOUT_MS: variable({
    title: 'Shutdown timeout',
    description: 'How long a graceful shutdown waits for in-flight work before the process exits, in milliseconds.',
    default: '10000',
    // Upper bound: the largest delay setTimeout honours.
    parse: integerIn(0, 2_147_483_647),
  }),
};

export type VariableName = keyof typeof variables;

export const VARIABLE_NAMES: readonly VariableName[] = Object.freeze(Object.keys(variables) as VariableName[]);

export interface ConfigVariableDoc {
  readonly name: VariableName;
  readonly title: string;
  readonly description: string;
  /** As shown to humans: the default value, or (when `optional`) what happens when absent. */
  readonly default: string;
  readonly optional: boolean;
  readonly secret: boolean;
}

export const configDocs: readonly ConfigVariableDoc[] = Object.freeze(
  VARIABLE_NAMES.map((name): ConfigVariableDoc => {
    const { title, description, default: shown, optional, secret } = variables[name];
    return Object.freeze({ name, title, description, default: shown, optional, secret });
  }),
);

// ---------------------------------------------------------------------------------------------
// The schema

type Shape = { [K in VariableName]: (typeof variables)[K]['schema'] };

const shape = Object.fromEntries(VARIABLE_NAMES.map((name) => [name, variables[name].schema])) as Shape;

const envSchema = z.object(shape);
type Env = z.output<typeof envSchema>;

/** Runs a cross-variable rule only when the variables it reads parsed cleanly. */
const whenValid =
  (...names: VariableName[]) =>
  (payload: z.core.ParsePayload): boolean =>
    !payload.issues.some((issue) => names.some((name) => issue.path?.[0] === name));

function toConfig(env: Env): Config {
  const groups: Record<string, RateLimitRule> = {};
  for (const [group, rule] of Object.entries({ ...DEFAULT_RATE_LIMITS, ...env.RATE_LIMITS })) {
    groups[group] = { max: rule.max, windowSeconds: rule.window_seconds };
  }
  const { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword } = env;
  return {
    port: env.PORT,
    host: env.HOST,
    publicUrl: env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
    dataDir: env.DATA_DIR,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    trustedProxies: env.TRUSTED_PROXIES ?? [],
    logLevel: env.LOG_LEVEL,
    nodeEnv: env.NODE_ENV,
    secret: env.TESSERA_SECRET,
    bootstrapAdmin:
      adminEmail !== undefined && adminPassword !== undefined ? { email: adminEmail, password: adminPassword } : undefined,
    corsOrigins: env.CORS_ORIGINS ?? [],
    allowedRedirectOrigins: env.ALLOWED_REDIRECT_ORIGINS ?? [],
    brand: { name: env.BRAND_NAME, color: env.BRAND_COLOR, ...(env.BRAND_LOGO_URL ? { logoUrl: env.BRAND_LOGO_URL } : {}) },
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    metricsToken: env.METRICS_TOKEN,
    metricsListen: env.METRICS_LISTEN,
    rateLimit: { enabled: env.RATE_LIMIT_ENABLED, groups },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    auth: {
      accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
      audience: env.TOKEN_AUDIENCE ?? env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
      refreshIdleTimeoutSeconds: env.REFRESH_IDLE_TIMEOUT_SECONDS,
      refreshReuseGraceSeconds: env.REFRESH_REUSE_GRACE_SECONDS,
      sessionMaxLifetimeSeconds: env.SESSION_MAX_LIFETIME_SECONDS,
      lockoutThreshold: env.LOCKOUT_THRESHOLD,
      lockoutDurationSeconds: env.LOCKOUT_DURATION_SECONDS,
      allowUnverifiedLogin: env.ALLOW_UNVERIFIED_LOGIN,
      passwordRequireComplexity: env.PASSWORD_REQUIRE_COMPLEXITY,
      mfaRequired: env.MFA_REQUIRED,
      webauthnRpName: env.WEBAUTHN_RP_NAME,
      webauthnOrigins: [new URL(env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).origin, ...(env.WEBAUTHN_EXTRA_ORIGINS ?? [])],
    },
    communications: {
      ...(env.RESEND_API_KEY ? { resend: { apiKey: env.RESEND_API_KEY, apiUrl: env.RESEND_API_URL } } : {}),
      ...(env.RESEND_WEBHOOK_SECRET ? { resendWebhookSecret: env.RESEND_WEBHOOK_SECRET } : {}),
      ...(env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && env.TWILIO_FROM
        ? { twilio: { accountSid: env.TWILIO_ACCOUNT_SID, authToken: env.TWILIO_AUTH_TOKEN, from: env.TWILIO_FROM, apiUrl: env.TWILIO_API_URL } }
        : {}),
      ...(env.SMS_HTTP_URL && env.SMS_HTTP_SECRET ? { smsHttp: { url: env.SMS_HTTP_URL, secret: env.SMS_HTTP_SECRET } } : {}),
      ...(env.VAPID_PUBLIC_KEY && env.VAPID_PRIVATE_KEY ? { vapid: { publicKey: env.VAPID_PUBLIC_KEY, privateKey: env.VAPID_PRIVATE_KEY, subject: env.VAPID_SUBJECT } } : {}),
      breaker: { threshold: env.COMMUNICATION_BREAKER_THRESHOLD, cooldownSeconds: env.COMMUNICATION_BREAKER_COOLDOWN_SECONDS },
    },
    audit: {
      ...(env.AUDIT_RETENTION_DAYS !== undefined ? { retentionDays: env.AUDIT_RETENTION_DAYS } : {}),
      exportDir: resolve(env.DATA_DIR, env.AUDIT_EXPORT_DIR ?? 'audit-exports'),
    },
    webhooks: {
      allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      retryScheduleSeconds: env.WEBHOOK_RETRY_SCHEDULE_SECONDS.split(',').map(Number),
      disableAfterFailures: env.WEBHOOK_DISABLE_AFTER_FAILURES,
      timeoutSeconds: env.WEBHOOK_TIMEOUT_SECONDS,
    },
    applications: { secretOverlapSeconds: env.APPLICATION_SECRET_OVERLAP_SECONDS },
    orgs: {
      invitationTtlSeconds: env.INVITATION_TTL_SECONDS,
      invitationDailyLimit: env.INVITATION_DAILY_LIMIT,
      ...(env.BASE_DOMAIN ? { baseDomain: env.BASE_DOMAIN } : {}),
      tierLimits: Object.fromEntries(
        TIERS.map((tier) => {
          const given = env.TIER_LIMITS?.[tier] ?? {};
          const merged = { ...DEFAULT_TIER_LIMITS[tier] };
          for (const name of TIER_LIMIT_NAMES) if (given[name] !== undefined) merged[name] = given[name];
          return [tier, merged];
        }),
      ) as Record<Tier, TierLimits>,
    },
  };
}

/**
 * Raw environment (strings, `NAME_FILE` already resolved, empty values removed) to `Config`.
 * Issue paths start with the variable name.
 */
export const configSchema = envSchema
  .superRefine(
    (env, ctx) => {
      if (env.NODE_ENV === 'production' && env.TESSERA_SECRET === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['TESSERA_SECRET'],
          message: 'required when NODE_ENV=production (at least 32 random characters, e.g. from `openssl rand -base64 48`)',
          input: undefined,
        });
      }
    },
    { when: whenValid('NODE_ENV', 'TESSERA_SECRET') },
  )
  .superRefine(
    (env, ctx) => {
      const hasEmail = env.BOOTSTRAP_ADMIN_EMAIL !== undefined;
      const hasPassword = env.BOOTSTRAP_ADMIN_PASSWORD !== undefined;
      if (hasEmail === hasPassword) return;
      const [missing, given] = hasEmail
        ? ['BOOTSTRAP_ADMIN_PASSWORD', 'BOOTSTRAP_ADMIN_EMAIL']
        : ['BOOTSTRAP_ADMIN_EMAIL', 'BOOTSTRAP_ADMIN_PASSWORD'];
      ctx.addIssue({ code: 'custom', path: [missing], message: `required when ${given} is set (give both or neither)`, input: undefined });
    },
    { when: whenValid('BOOTSTRAP_ADMIN_EMAIL', 'BOOTSTRAP_ADMIN_PASSWORD') },
  )
  .superRefine(
    (env, ctx) => {
      // Providers configured by halves are mistakes, not "off".
      const groups: VariableName[][] = [
        ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
        ['SMS_HTTP_URL', 'SMS_HTTP_SECRET'],
        ['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY'],
      ];
      for (const group of groups) {
        const given = group.filter((name) => env[name] !== undefined);
        if (given.length === 0 || given.length === group.length) continue;
        for (const name of group) {
          if (env[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: `required when ${given.join(' and ')} is set`, input: undefined });
        }
      }
    },
    { when: whenValid('TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'SMS_HTTP_URL', 'SMS_HTTP_SECRET', 'VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY') },
  )
  .transform(toConfig);
