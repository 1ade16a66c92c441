import { pino, type DestinationStream, type Logger } from 'pino';

/** Field names whose values never reach a log line, wherever they appear (one level deep and in headers). */
export const SECRET_FIELDS = [
  'password', 'current_password', 'new_password', 'token', 'access_token', 'refresh_token', 'id_token', 'mfa_token',
  'code', 'backup_code', 'secret', 'client_secret', 'api_key', 'otp', 'passkey_response',
];

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

/**
 * An error as logged: the standard serializer, without the bound parameters a database driver
 * attaches to a failed query (they may be token hashes, codes or sealed secrets).
 */
function errorWithoutValues(error: Error): Record<string, unknown> {
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  delete serialized.params;
  delete serialized.parameters;
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
          ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { method: string; url: string; headers: Record<string, unknown>; ip?: string }) => ({
          method: req.method,
          url: redactUrl(req.url),
          ip: req.ip,
          user_agent: req.headers['user-agent'],
        }),
        err: errorWithoutValues,
      },
    },
    options.destination ?? process.stdout,
  );
}
