import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, configDocs, loadConfig, renderConfigTable } from './index.js';
import { VARIABLE_NAMES } from './config.schema.js';

const SECRET = 'k'.repeat(40);

/** The ConfigError thrown for `env`, failing the test if there is none. */
function errorFor(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

const tempDir = mkdtempSync(join(tmpdir(), 'tessera-config-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

function tempFile(name: string, content: string): string {
  const path = join(tempDir, name);
  writeFileSync(path, content);
  return path;
}

describe('loadConfig defaults', () => {
  it('gives every documented default with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:8080',
      dataDir: resolve('data'),
      databaseUrl: undefined,
      redisUrl: undefined,
      smtpUrl: undefined,
      mailFrom: 'Tessera <no-reply@localhost>',
      trustedProxies: [],
      logLevel: 'info',
      nodeEnv: 'development',
      secret: undefined,
      bootstrapAdmin: undefined,
      corsOrigins: [],
      allowedRedirectOrigins: [],
      brand: { name: 'Tessera', color: '#4f46e5' },
      bodyLimitBytes: 1048576,
      metricsToken: undefined,
      rateLimit: {
        enabled: true,
        groups: {
          default: { max: 600, windowSeconds: 60 },
          auth: { max: 30, windowSeconds: 60 },
          admin: { max: 300, windowSeconds: 60 },
          hooks: { max: 1200, windowSeconds: 60 },
        },
      },
      shutdownTimeoutMs: 10000,
      auth: {
        accessTokenTtlSeconds: 900,
        audience: 'http://localhost:8080',
        refreshIdleTimeoutSeconds: 604800,
        refreshReuseGraceSeconds: 2,
        sessionMaxLifetimeSeconds: 2592000,
        lockoutThreshold: 5,
        lockoutDurationSeconds: 1800,
        allowUnverifiedLogin: false,
        passwordRequireComplexity: false,
        mfaRequired: 'off',
        webauthnRpName: 'Tessera',
        webauthnOrigins: ['http://localhost:8080'],
      },
      communications: { breaker: { threshold: 5, cooldownSeconds: 30 } },
      audit: { exportDir: resolve('data', 'audit-exports') },
      webhooks: { allowPrivateNetworks: false, retryScheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000], disableAfterFailures: 20, timeoutSeconds: 15 },
      applications: { secretOverlapSeconds: 86400 },
      orgs: {
        invitationTtlSeconds: 604800,
        invitationDailyLimit: 5,
        tierLimits: {
          free: { members: 5, api_keys: 2, webhooks: 1, requests_per_minute: 60 },
          starter: { members: 25, api_keys: 10, webhooks: 5, requests_per_minute: 600 },
          pro: { members: 100, api_keys: 50, webhooks: 20, requests_per_minute: 3000 },
          enterprise: { members: null, api_keys: null, webhooks: null, requests_per_minute: null },
        },
      },
    });
  });

  it('merges TIER_LIMITS tier by tier and limit by limit over the defaults', () => {
    const config = loadConfig({ TIER_LIMITS: '{"free": {"members": 2}, "enterprise": {"webhooks": 100}, "pro": {"members": null}}' });
    expect(config.orgs.tierLimits).toEqual({
      free: { members: 2, api_keys: 2, webhooks: 1, requests_per_minute: 60 },
      starter: { members: 25, api_keys: 10, webhooks: 5, requests_per_minute: 600 },
      pro: { members: null, api_keys: 50, webhooks: 20, requests_per_minute: 3000 },
      enterprise: { members: null, api_keys: null, webhooks: 100, requests_per_minute: null },
    });
  });

  it('treats an empty value as absent', () => {
    expect(loadConfig({ PORT: '', TESSERA_SECRET: '' }).port).toBe(8080);
  });

  it('derives PUBLIC_URL from PORT when absent', () => {
    expect(loadConfig({ PORT: '3000' }).publicUrl).toBe('http://localhost:3000');
  });

  it('resolves DATA_DIR to an absolute path', () => {
    expect(loadConfig({ DATA_DIR: 'var/tessera' }).dataDir).toBe(resolve('var/tessera'));
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ TRUSTED_PROXIES: '10.0.0.1', BOOTSTRAP_ADMIN_EMAIL: 'a@example.com', BOOTSTRAP_ADMIN_PASSWORD: 'password1' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.trustedProxies)).toBe(true);
    expect(Object.isFrozen(config.bootstrapAdmin)).toBe(true);
    expect(Object.isFrozen(config.rateLimit)).toBe(true);
    expect(Object.isFrozen(config.rateLimit.groups)).toBe(true);
    expect(Object.isFrozen(config.rateLimit.groups.auth)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => config.trustedProxies.push('10.0.0.2')).toThrow(TypeError);
  });
});

describe('loadConfig values', () => {
  it('parses and normalises given values', () => {
    const config = loadConfig({
      PORT: '443',
      HOST: '::',
      PUBLIC_URL: 'https://ID.example.com/auth/',
      DATABASE_URL: 'postgresql://tessera:pw@db:5432/tessera',
      REDIS_URL: 'rediss://:pw@cache:6380',
      SMTP_URL: 'smtps://user:pw@mail.example.com:465',
      MAIL_FROM: 'no-reply@example.com',
      TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1 ,::1, fd00::/8',
      LOG_LEVEL: 'debug',
      NODE_ENV: 'production',
      TESSERA_SECRET: SECRET,
      CORS_ORIGINS: 'https://app.example.com/,http://localhost:5173',
      BODY_LIMIT_BYTES: '2048',
      METRICS_TOKEN: 'metrics-token',
      RATE_LIMIT_ENABLED: '0',
      RATE_LIMITS: '{"auth": {"max": 10, "window_seconds": 30}, "webhooks": {"max": 5, "window_seconds": 1}}',
      SHUTDOWN_TIMEOUT_MS: '0',
    });
    expect(config.port).toBe(443);
    expect(config.host).toBe('::');
    expect(config.publicUrl).toBe('https://id.example.com/auth');
    expect(config.databaseUrl).toBe('postgresql://tessera:pw@db:5432/tessera');
    expect(config.redisUrl).toBe('rediss://:pw@cache:6380');
    expect(config.smtpUrl).toBe('smtps://user:pw@mail.example.com:465');
    expect(config.mailFrom).toBe('no-reply@example.com');
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.1', '::1', 'fd00::/8']);
    expect(config.logLevel).toBe('debug');
    expect(config.nodeEnv).toBe('production');
    expect(config.secret).toBe(SECRET);
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.bodyLimitBytes).toBe(2048);
    expect(config.metricsToken).toBe('metrics-token');
    expect(config.rateLimit).toEqual({
      enabled: false,
      groups: {
        default: { max: 600, windowSeconds: 60 },
        auth: { max: 10, windowSeconds: 30 },
        admin: { max: 300, windowSeconds: 60 },
        hooks: { max: 1200, windowSeconds: 60 },
        webhooks: { max: 5, windowSeconds: 1 },
      },
    });
    expect(config.shutdownTimeoutMs).toBe(0);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads RATE_LIMIT_ENABLED=%s as %s', (raw, expected) => {
    expect(loadConfig({ RATE_LIMIT_ENABLED: raw }).rateLimit.enabled).toBe(expected);
  });

  it('accepts the bootstrap admin when both halves are given', () => {
    expect(loadConfig({ BOOTSTRAP_ADMIN_EMAIL: 'root@example.com', BOOTSTRAP_ADMIN_PASSWORD: 'correct horse' }).bootstrapAdmin).toEqual({
      email: 'root@example.com',
      password: 'correct horse',
    });
  });
});

describe('communication, webhook and audit settings', () => {
  it('reads providers configured whole, the webhook schedule and the audit retention', () => {
    const config = loadConfig({
      TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: 'token-123456', TWILIO_FROM: '+15550001111', TWILIO_API_URL: 'http://127.0.0.1:9/',
      RESEND_API_KEY: 're_12345678', WEBHOOK_RETRY_SCHEDULE_SECONDS: '1, 2,3', AUDIT_RETENTION_DAYS: '90', AUDIT_EXPORT_DIR: '/var/tessera/audit', DATA_DIR: '/tmp/x',
    });
    expect(config.communications.twilio).toEqual({ accountSid: 'AC123', authToken: 'token-123456', from: '+15550001111', apiUrl: 'http://127.0.0.1:9' });
    expect(config.communications.resend).toEqual({ apiKey: 're_12345678', apiUrl: 'https://api.resend.com' });
    expect(config.webhooks.retryScheduleSeconds).toEqual([1, 2, 3]);
    expect(config.audit).toEqual({ retentionDays: 90, exportDir: '/var/tessera/audit' });
  });
});

describe('loadConfig refusals', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['PORT=abc', { PORT: 'abc' }, /^PORT: expected an integer between 1 and 65535, got "abc"$/],
    ['PORT=70000', { PORT: '70000' }, /^PORT: expected an integer between 1 and 65535, got "70000"$/],
    ['PORT=0', { PORT: '0' }, /^PORT: /],
    ['PORT=1e3', { PORT: '1e3' }, /^PORT: /],
    ['HOST with a space', { HOST: 'my host' }, /^HOST: /],
    ['PUBLIC_URL=not a url', { PUBLIC_URL: 'not a url' }, /^PUBLIC_URL: expected an http:\/\/ or https:\/\/ URL.*got "not a url"$/],
    ['PUBLIC_URL with ftp', { PUBLIC_URL: 'ftp://example.com' }, /^PUBLIC_URL: /],
    ['PUBLIC_URL with a query', { PUBLIC_URL: 'https://example.com/?a=1' }, /^PUBLIC_URL: must not have a query or fragment/],
    ['PUBLIC_URL with a fragment', { PUBLIC_URL: 'https://example.com/#x' }, /^PUBLIC_URL: must not have a query or fragment/],
    ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL/],
    ['REDIS_URL=http://x', { REDIS_URL: 'http://x' }, /^REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/],
    ['SMTP_URL=mail.example.com', { SMTP_URL: 'mail.example.com' }, /^SMTP_URL: expected a smtp:\/\/ or smtps:\/\/ URL/],
    ['MAIL_FROM without an address', { MAIL_FROM: 'Tessera' }, /^MAIL_FROM: /],
    ['MAIL_FROM with a bad address', { MAIL_FROM: 'Tessera <nobody>' }, /^MAIL_FROM: /],
    ['TRUSTED_PROXIES=10.0.0.0/99', { TRUSTED_PROXIES: '10.0.0.0/99' }, /^TRUSTED_PROXIES: "10\.0\.0\.0\/99" is not a valid CIDR range/],
    ['TRUSTED_PROXIES=proxy', { TRUSTED_PROXIES: '10.0.0.1,proxy' }, /^TRUSTED_PROXIES: "proxy" is not an IP address or CIDR range$/],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/],
    ['NODE_ENV=staging', { NODE_ENV: 'staging' }, /^NODE_ENV: /],
    ['Twilio by halves', { TWILIO_ACCOUNT_SID: 'AC123' }, /^TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set/],
    ['SMS_HTTP_URL without its secret', { SMS_HTTP_URL: 'https://sms.example.com/send' }, /^SMS_HTTP_SECRET: required when SMS_HTTP_URL is set/],
    ['VAPID private key alone', { VAPID_PRIVATE_KEY: 'abc' }, /^VAPID_PUBLIC_KEY: required when VAPID_PRIVATE_KEY is set/],
    ['RESEND_API_URL=ftp://x', { RESEND_API_URL: 'ftp://x' }, /^RESEND_API_URL: expected an http:\/\/ or https:\/\/ URL/],
    ['VAPID_SUBJECT=admin', { VAPID_SUBJECT: 'admin' }, /^VAPID_SUBJECT: expected a mailto: or https:\/\/ URL/],
    ['WEBHOOK_RETRY_SCHEDULE_SECONDS=5,x', { WEBHOOK_RETRY_SCHEDULE_SECONDS: '5,x' }, /^WEBHOOK_RETRY_SCHEDULE_SECONDS: expected 1 to 20 comma-separated whole seconds/],
    ['WEBHOOK_RETRY_SCHEDULE_SECONDS=0', { WEBHOOK_RETRY_SCHEDULE_SECONDS: '0' }, /^WEBHOOK_RETRY_SCHEDULE_SECONDS: /],
    ['AUDIT_RETENTION_DAYS=0', { AUDIT_RETENTION_DAYS: '0' }, /^AUDIT_RETENTION_DAYS: expected an integer between 1 and 36500/],
    ['NODE_ENV=production without TESSERA_SECRET', { NODE_ENV: 'production' }, /^TESSERA_SECRET: required when NODE_ENV=production/],
    ['BOOTSTRAP_ADMIN_EMAIL without password', { BOOTSTRAP_ADMIN_EMAIL: 'a@example.com' }, /^BOOTSTRAP_ADMIN_PASSWORD: required when BOOTSTRAP_ADMIN_EMAIL is set/],
    ['BOOTSTRAP_ADMIN_PASSWORD without email', { BOOTSTRAP_ADMIN_PASSWORD: 'password1' }, /^BOOTSTRAP_ADMIN_EMAIL: required when BOOTSTRAP_ADMIN_PASSWORD is set/],
    ['BOOTSTRAP_ADMIN_EMAIL invalid', { BOOTSTRAP_ADMIN_EMAIL: 'nope', BOOTSTRAP_ADMIN_PASSWORD: 'password1' }, /^BOOTSTRAP_ADMIN_EMAIL: expected an email address, got "nope"$/],
    ['CORS_ORIGINS with a path', { CORS_ORIGINS: 'https://app.example.com/app' }, /^CORS_ORIGINS: "https:\/\/app\.example\.com\/app" is not an origin/],
    ['CORS_ORIGINS=*', { CORS_ORIGINS: '*' }, /^CORS_ORIGINS: /],
    ['BODY_LIMIT_BYTES=-1', { BODY_LIMIT_BYTES: '-1' }, /^BODY_LIMIT_BYTES: /],
    ['RATE_LIMIT_ENABLED=yes', { RATE_LIMIT_ENABLED: 'yes' }, /^RATE_LIMIT_ENABLED: expected true, false, 1 or 0, got "yes"$/],
    ['RATE_LIMITS={bad json', { RATE_LIMITS: '{bad json' }, /^RATE_LIMITS: invalid JSON/],
    ['RATE_LIMITS=[]', { RATE_LIMITS: '[]' }, /^RATE_LIMITS: expected a JSON object/],
    ['RATE_LIMITS with max 0', { RATE_LIMITS: '{"auth": {"max": 0, "window_seconds": 60}}' }, /^RATE_LIMITS\.auth\.max: expected a positive integer, got 0$/],
    ['RATE_LIMITS missing a field', { RATE_LIMITS: '{"auth": {"max": 5}}' }, /^RATE_LIMITS\.auth\.window_seconds: missing/],
    ['RATE_LIMITS with an unknown field', { RATE_LIMITS: '{"auth": {"max": 5, "window_seconds": 1, "burst": 2}}' }, /^RATE_LIMITS\.auth: unknown key "burst"/],
    ['RATE_LIMITS with an empty group name', { RATE_LIMITS: '{"": {"max": 1, "window_seconds": 1}}' }, /^RATE_LIMITS\[""\]: a group name must not be empty$/],
    ['TIER_LIMITS={bad json', { TIER_LIMITS: '{bad json' }, /^TIER_LIMITS: invalid JSON/],
    ['TIER_LIMITS=[]', { TIER_LIMITS: '[]' }, /^TIER_LIMITS: expected a JSON object/],
    ['TIER_LIMITS with members 0', { TIER_LIMITS: '{"free": {"members": 0}}' }, /^TIER_LIMITS\.free\.members: expected a positive integer, got 0$/],
    ['TIER_LIMITS with a string limit', { TIER_LIMITS: '{"pro": {"webhooks": "many"}}' }, /^TIER_LIMITS\.pro\.webhooks: expected a positive integer or null \(unlimited\), got "many"$/],
    ['TIER_LIMITS with an unknown limit', { TIER_LIMITS: '{"free": {"seats": 3}}' }, /^TIER_LIMITS\.free: unknown key "seats"/],
    ['TIER_LIMITS with an unknown tier', { TIER_LIMITS: '{"gold": {"members": 3}}' }, /^TIER_LIMITS: unknown tier "gold"/],
    ['TIER_LIMITS with a tier that is not an object', { TIER_LIMITS: '{"free": 3}' }, /^TIER_LIMITS\.free: expected an object/],
    ['SHUTDOWN_TIMEOUT_MS=soon', { SHUTDOWN_TIMEOUT_MS: 'soon' }, /^SHUTDOWN_TIMEOUT_MS: /],
  ])('refuses %s', (_, env, message) => {
    const error = errorFor(env);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });

  it('reports every problem in one line, joined with "; "', () => {
    const error = errorFor({ PORT: 'abc', LOG_LEVEL: 'loud', NODE_ENV: 'production' });
    expect(error.message).toBe(
      'PORT: expected an integer between 1 and 65535, got "abc"; ' +
        'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"; ' +
        'TESSERA_SECRET: required when NODE_ENV=production (at least 32 random characters, e.g. from `openssl rand -base64 48`)',
    );
    expect(error.issues.map((issue) => issue.variable)).toEqual(['PORT', 'LOG_LEVEL', 'TESSERA_SECRET']);
  });

  it('keeps a multi-line value on one line', () => {
    expect(errorFor({ HOST: 'a\nb' }).message).toBe('HOST: expected an IP address (without brackets) or a host name, got "a\\nb"');
  });
});

describe('secrets stay out of messages', () => {
  it('does not echo a too-short TESSERA_SECRET', () => {
    const error = errorFor({ TESSERA_SECRET: 'hunter2-is-short' });
    expect(error.message).toMatch(/^TESSERA_SECRET: too short/);
    expect(error.message).not.toContain('hunter2');
  });

  it('does not echo a too-short BOOTSTRAP_ADMIN_PASSWORD', () => {
    const error = errorFor({ BOOTSTRAP_ADMIN_EMAIL: 'a@example.com', BOOTSTRAP_ADMIN_PASSWORD: 'pw-1234' });
    expect(error.message).toMatch(/^BOOTSTRAP_ADMIN_PASSWORD: /);
    expect(error.message).not.toContain('pw-1234');
  });

  it.each(['DATABASE_URL', 'REDIS_URL', 'SMTP_URL'])('does not echo any part of a wrong %s', (name) => {
    const error = errorFor({ [name]: 'mysql://admin:s3cr3t-pass@db.internal/prod' });
    expect(error.message).toMatch(new RegExp(`^${name}: `));
    for (const part of ['mysql', 'admin', 's3cr3t-pass', 'db.internal']) expect(error.message).not.toContain(part);
  });

  it('does not echo a secret read from a file', () => {
    const path = tempFile('short-secret', 'file-secret-xyz\n');
    const error = errorFor({ TESSERA_SECRET_FILE: path });
    expect(error.message).toMatch(/^TESSERA_SECRET: too short/);
    expect(error.message).not.toContain('file-secret-xyz');
  });

  it('does not carry the zod error (and its inputs) as a cause', () => {
    expect(errorFor({ TESSERA_SECRET: 'short-secret' }).cause).toBeUndefined();
  });
});

describe('NAME_FILE variables', () => {
  it('reads a value from a file, trimming the trailing newline', () => {
    const secretPath = tempFile('secret', `${SECRET}\n`);
    const portPath = tempFile('port', '9090\r\n');
    const config = loadConfig({ TESSERA_SECRET_FILE: secretPath, PORT_FILE: portPath, NODE_ENV: 'production' });
    expect(config.secret).toBe(SECRET);
    expect(config.port).toBe(9090);
    expect(config.publicUrl).toBe('http://localhost:9090');
  });

  it('refuses NAME and NAME_FILE together', () => {
    const path = tempFile('port-both', '9090');
    expect(errorFor({ PORT: '9090', PORT_FILE: path }).message).toBe('PORT: both PORT and PORT_FILE are set; give only one');
  });

  it('refuses an unreadable file, naming NAME_FILE', () => {
    const missing = join(tempDir, 'does-not-exist');
    const error = errorFor({ TESSERA_SECRET_FILE: missing, NODE_ENV: 'production' });
    // Only the read failure: no consequential "TESSERA_SECRET: required" on top.
    expect(error.message).toBe(`TESSERA_SECRET_FILE: cannot read ${JSON.stringify(missing)}: no such file`);
  });

  it('refuses a directory', () => {
    const dir = join(tempDir, 'a-directory');
    mkdirSync(dir);
    expect(errorFor({ METRICS_TOKEN_FILE: dir }).message).toMatch(/^METRICS_TOKEN_FILE: cannot read .*: it is a directory$/);
  });

  it('refuses an empty file', () => {
    const path = tempFile('empty', '\n');
    expect(errorFor({ BOOTSTRAP_ADMIN_PASSWORD_FILE: path }).message).toMatch(/^BOOTSTRAP_ADMIN_PASSWORD_FILE: .* is empty$/);
  });
});

describe('documentation', () => {
  it('documents every schema variable with a title, a description and a default', () => {
    expect(configDocs.map((doc) => doc.name)).toEqual([...VARIABLE_NAMES]);
    for (const doc of configDocs) {
      expect(doc.title, doc.name).not.toBe('');
      expect(doc.description, doc.name).not.toBe('');
      expect(doc.default, doc.name).not.toBe('');
    }
  });

  it('marks the secret variables', () => {
    expect(configDocs.filter((doc) => doc.secret).map((doc) => doc.name).sort()).toEqual(
      [
        'BOOTSTRAP_ADMIN_PASSWORD', 'DATABASE_URL', 'METRICS_TOKEN', 'REDIS_URL', 'SMTP_URL', 'TESSERA_SECRET',
        'RESEND_API_KEY', 'RESEND_WEBHOOK_SECRET', 'TWILIO_AUTH_TOKEN', 'SMS_HTTP_SECRET', 'VAPID_PRIVATE_KEY',
      ].sort(),
    );
  });

  it('renders a Markdown table that mentions every variable once', () => {
    const table = renderConfigTable();
    const lines = table.split('\n');
    expect(lines[0]).toBe('| Variable | Default | Description |');
    expect(lines[1]).toBe('| --- | --- | --- |');
    for (const name of VARIABLE_NAMES) {
      expect(lines.filter((line) => line.startsWith(`| \`${name}\` |`))).toHaveLength(1);
    }
    // Every row has exactly three cells (no unescaped pipe in a description).
    for (const line of lines.filter((row) => row.startsWith('| `'))) {
      expect(line.split(/(?<!\\)\|/).length, line).toBe(5);
    }
  });
});
