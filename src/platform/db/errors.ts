/** What PostgreSQL (and PGlite) say about a failed statement. */
export interface DatabaseError {
  /** SQLSTATE, e.g. `23505` unique violation, `42501` insufficient privilege / row-level security. */
  code: string;
  constraint?: string;
}

/**
 * The database error behind `error`: the error itself, or its `cause` (drizzle-orm wraps driver
 * errors in a DrizzleQueryError), a few levels deep. Null for anything else.
 */
export function databaseErrorOf(error: unknown): DatabaseError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, constraint, cause } = current as { code?: unknown; constraint?: unknown; cause?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return { code, ...(typeof constraint === 'string' ? { constraint } : {}) };
    current = cause;
  }
  return null;
}

/** Whether `error` is a unique violation (of `constraint`, when given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const found = databaseErrorOf(error);
  return found?.code === '23505' && (constraint === undefined || found.constraint === undefined || found.constraint === constraint);
}
