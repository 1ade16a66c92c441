/**
 * Configuration: the only code that reads the environment. `loadConfig()` is called once at
 * start-up; everything else receives the frozen `Config` it returns.
 */
import { readFileSync } from 'node:fs';
import { configDocs, configSchema, variables, VARIABLE_NAMES, type Config, type VariableName } from './config.schema.js';

export type { Config, ConfigVariableDoc, LogLevel, NodeEnv, RateLimitRule, VariableName } from './config.schema.js';
export { configDocs, DEFAULT_RATE_LIMITS, LOG_LEVELS, NODE_ENVS } from './config.schema.js';

export interface ConfigIssue {
  /** The variable the problem is about (`PORT`, or `PORT_FILE` for a file that cannot be read). */
  readonly variable: string;
  /** Where exactly: the variable, or a path inside it (`RATE_LIMITS.auth.max`). */
  readonly path: string;
  /** What is wrong; never contains the value of a secret variable. */
  readonly message: string;
}

/** Invalid configuration. `message` is one line: `PORT: expected …; TESSERA_SECRET: required …`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
  }
}

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
};

interface RawEnv {
  readonly values: Partial<Record<VariableName, string>>;
  readonly issues: ConfigIssue[];
}

/**
 * Collects each variable from `NAME` or `NAME_FILE` (trailing newlines trimmed). An empty value
 * counts as absent, as `NAME=` in a compose file usually means "not set".
 */
function readEnv(env: Record<string, string | undefined>): RawEnv {
  const values: Partial<Record<VariableName, string>> = {};
  const issues: ConfigIssue[] = [];
  for (const name of VARIABLE_NAMES) {
    const fileVariable = `${name}_FILE`;
    const direct = env[name] || undefined;
    const file = env[fileVariable] || undefined;
    if (direct !== undefined && file !== undefined) {
      issues.push({ variable: name, path: name, message: `both ${name} and ${fileVariable} are set; give only one` });
      continue;
    }
    if (file === undefined) {
      if (direct !== undefined) values[name] = direct;
      continue;
    }
    let content: string;
    try {
      content = readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
    } catch (error) {
      const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unknown error';
      const reason = FILE_ERRORS[code] ?? code;
      issues.push({ variable: fileVariable, path: fileVariable, message: `cannot read ${JSON.stringify(file)}: ${reason}` });
      continue;
    }
    if (content === '') {
      issues.push({ variable: fileVariable, path: fileVariable, message: `${JSON.stringify(file)} is empty` });
      continue;
    }
    values[name] = content;
  }
  return { values, issues };
}

/** `RATE_LIMITS.auth.max`; keys that are not plain names are quoted: `RATE_LIMITS["my group"]`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => {
      if (index === 0) return String(key);
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
    })
    .join('');
}

/** Belt and braces: even if a message ever quoted a secret value, it would not get out. */
function redact(message: string, secrets: readonly string[]): string {
  let safe = message;
  for (const secret of secrets) safe = safe.split(secret).join('[redacted]');
  return safe.replace(/[\r\n]+/g, ' ');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Reads, validates and freezes the configuration. Throws `ConfigError` listing every problem
 * found (those of a variable that could not be read are not followed by consequential ones).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw = readEnv(env);
  const unreadable = new Set(raw.issues.map((issue) => issue.variable.replace(/_FILE$/, '')));
  const result = configSchema.safeParse(raw.values);
  const issues: ConfigIssue[] = [...raw.issues];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = String(issue.path[0] ?? '');
      if (unreadable.has(variable)) continue;
      issues.push({ variable, path: formatPath(issue.path), message: issue.message });
    }
  }
  if (issues.length > 0 || !result.success) {
    const secrets = VARIABLE_NAMES.filter((name) => variables[name].secret)
      .map((name) => raw.values[name])
      .filter((value): value is string => value !== undefined && value.length >= 4);
    throw new ConfigError(issues.map((issue) => ({ ...issue, message: redact(issue.message, secrets) })));
  }
  return deepFreeze(result.data);
}

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/** The Markdown table of every variable, for the README (`npm run docs:config`). */
export function renderConfigTable(): string {
  const rows = configDocs.map((doc) => {
    const shown = doc.optional ? doc.default : `\`${doc.default}\``;
    const secret = doc.secret ? ` Secret: prefer \`${doc.name}_FILE\`.` : '';
    return `| \`${doc.name}\` | ${escapeCell(shown)} | ${escapeCell(`**${doc.title}.** ${doc.description}${secret}`)} |`;
  });
  return [
    '| Variable | Default | Description |',
    '| --- | --- | --- |',
    ...rows,
    '',
    'Every variable can instead be given as `NAME_FILE`: the path of a file holding the value (a trailing newline is trimmed).',
  ].join('\n');
}
