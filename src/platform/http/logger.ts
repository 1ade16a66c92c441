import { pino, type DestinationStream, type Logger } from 'pino';

/** Names of values that never reach a log line, wherever they appear (one level deep and in headers). */
export const SECRET_FIELDS = [
  'password', 'current_password', 'new_password', 'token', 'access_token', 'refresh_token', 'id_token', 'mfa_token',
  'code', 'backup_code', 'secret', 'client_secret', 'api_key', 'otp', 'passkey_response',
  // OpenID and OAuth parameters that carry a token or a one-time code (in query strings of /oauth/…).
  'id_token_hint', 'logout_token', 'user_code', 'device_code', 'code_verifier', 'client_assertion', 'request', 'login_hint_token',
];

/**
 * `code` is a secret in a request (an OTP or an authorization code) but an error's identity in a
 * log line (`err.code`: `invalid_token`, SQLSTATE `23505`; `code` of a refused request): it is
 * redacted only where request input is logged, never in `err` nor at the top level.
 */
const INPUT_CONTAINERS = ['body', 'query', 'params', 'input', 'payload'];
const LOGGED_SECRET_FIELDS = SECRET_FIELDS.filter((field) => field !== 'code');

const SENSITIVE_QUERY = new Set(SECRET_FIELDS);

/** The URL with the values of sensitive query parameters replaced (`/verify-email?token=[redacted]`). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) {
    if (SENSITIVE_QUERY.has(key.toLowerCase())) params.set(key, '[redacted]');
  }
  return `${url.slice(0, q)}?${params.toString()}`;
}

/** Fields of a PostgreSQL (or PGlite) error that name things, never values. */
const DATABASE_FIELDS = ['code', 'severity', 'schema', 'table', 'column', 'dataType', 'constraint', 'routine'] as const;

/**
 * Fields never copied from any error: bound values (`params`, `parameters`, `values`), the failed
 * row or key (`detail`: "Failing row contains (…)", "Key (email)=(…)"), the context that may quote
 * a parameter (`where`: "unnamed portal parameter $1 = '…'"), and statements (`query`,
 * `internalQuery`), which are reported in the message only when their values are known to be apart.
 */
const NEVER_COPIED = new Set([
  'params', 'parameters', 'values', 'detail', 'where', 'hint', 'query', 'internalQuery', 'internalPosition', 'position',
  'cause', 'errors', 'stack', 'message', 'raw', ...LOGGED_SECRET_FIELDS,
]);

const MAX_DEPTH = 4;
const MAX_STATEMENT = 2_000;

type ErrorLike = Error & Record<string, unknown>;

function isErrorLike(value: unknown): value is ErrorLike {
  return value instanceof Error || (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string' && 'stack' in value);
}

/** A PostgreSQL error as the driver reports it: a SQLSTATE and a severity. */
function isDatabaseError(error: ErrorLike): boolean {
  return typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code) && typeof error.severity === 'string';
}

/** drizzle's DrizzleQueryError: the statement in `query`, its bound values apart in `params`. */
function isFailedStatement(error: ErrorLike): boolean {
  return typeof error.query === 'string' && Array.isArray(error.params);
}

function typeOf(error: ErrorLike): string {
  // The drivers' classes may be minified (PGlite's is `O`).
  if (isDatabaseError(error)) return 'DatabaseError';
  const name = typeof error.constructor === 'function' && error.constructor.name ? error.constructor.name : error.name;
  return typeof name === 'string' && name ? name : 'Error';
}

/**
 * The message of an error as logged. A database error: its message with every quoted part replaced by
 * `"…"` unless it names the error's own constraint, table, column, schema or type, or is an
 * encoding name (PostgreSQL quotes the offending value: `invalid input syntax for type uuid: "…"`).
 * A failed statement of drizzle: "Failed query: <SQL>" from its `query` alone (placeholders, its
 * values are apart in `params`), whatever its message says. Any other message: cut before a drizzle-style `params:` line.
 */
function safeMessage(error: ErrorLike): string {
  if (isFailedStatement(error) && !isDatabaseError(error)) {
    const statement = (error.query as string).slice(0, MAX_STATEMENT);
    return `Failed query: ${statement}`;
  }
  let message = error.message;
  const paramsAt = message.search(/\n\s*params:/);
  if (paramsAt >= 0) message = message.slice(0, paramsAt);
  if (isDatabaseError(error)) {
    const names = new Set(['schema', 'table', 'column', 'dataType', 'constraint'].map((key) => error[key]).filter((value) => typeof value === 'string'));
    message = message.replace(/"([^"]*)"/g, (quoted, inner: string) => (names.has(inner) || /^[A-Z][A-Z0-9_]{1,15}$/.test(inner) ? quoted : '"…"'));
  }
  return message;
}

/** The frames of the stack under a header made of the safe message (V8 puts the message first). */
function safeStack(error: ErrorLike, header: string): string | undefined {
  if (typeof error.stack !== 'string') return undefined;
  const frames = error.stack.split('\n').filter((line) => /^\s+at /.test(line));
  return [header, ...frames].join('\n');
}

/**
 * An error as logged, with its causes: type, message, stack and the plain fields of the error,
 * without the values a failed statement carries (bound parameters, the failed row, quoted values),
 * so neither a password hash nor an address of a failed INSERT reaches the logs, at any level.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (!isErrorLike(error)) return error;
  const type = typeOf(error);
  const message = safeMessage(error);
  const serialized: Record<string, unknown> = { type, message };
  const stack = safeStack(error, `${type}: ${message.split('\n')[0]}`);
  if (stack) serialized.stack = stack;
  if (isDatabaseError(error)) {
    for (const key of DATABASE_FIELDS) if (typeof error[key] === 'string') serialized[key] = error[key];
  } else {
    for (const key of Object.keys(error)) {
      const value = error[key];
      if (NEVER_COPIED.has(key) || serialized[key] !== undefined) continue;
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') serialized[key] = value;
    }
  }
  if (depth < MAX_DEPTH) {
    if (error.cause !== undefined) serialized.cause = serializeError(error.cause, depth + 1);
    if (Array.isArray(error.errors)) serialized.errors = error.errors.slice(0, 10).map((inner) => serializeError(inner, depth + 1));
  }
  return serialized;
}

export function createLogger(options: { level: string; destination?: DestinationStream; pretty?: boolean }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'tessera' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["x-csrf-token"]',
          'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie',
          ...LOGGED_SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
          ...INPUT_CONTAINERS.map((container) => `${container}.code`),
        ],
        censor: '[redacted]',
      },
      hooks: {
        // `logger.error(error)` would make the error's raw message the line's `msg`: log it as `err`
        // (serialized like any error) with its safe message instead.
        logMethod(args, method) {
          const [first, second] = args as unknown[];
          if (isErrorLike(first) && typeof second !== 'string') {
            const { message } = serializeError(first) as { message: string };
            return method.apply(this, [{ err: first }, message.split('\n')[0]!]);
          }
          return method.apply(this, args);
        },
      },
      serializers: {
        req: (req: { method: string; url: string; headers: Record<string, unknown>; ip?: string }) => ({
          method: req.method,
          url: redactUrl(req.url),
          ip: req.ip,
          user_agent: req.headers['user-agent'],
        }),
        err: serializeError,
        error: serializeError,
      },
    },
    options.destination ?? process.stdout,
  );
}
