import { Type, type Static, type TNull, type TSchema, type TUnion } from '@sinclair/typebox';

/** An RFC 9457 problem document, as every error response is. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }, { additionalProperties: true }))),
  },
  { additionalProperties: true, description: 'application/problem+json' },
);

/**
 * The problem of a refusal that ends with time (423 a locked account, 429 a rate limit or a lockout
 * of codes): `retry_after` in the body and the `Retry-After` header say, in seconds, how long is
 * left, so a page can show it. Every such refusal carries both.
 */
export const RetryProblem = Type.Object(
  { ...Problem.properties, retry_after: Type.Optional(Type.Integer({ minimum: 1, description: 'Seconds left before trying again (the same as the Retry-After header)' })) },
  {
    additionalProperties: true,
    description: 'application/problem+json, with `retry_after` and the Retry-After header',
    // Response headers, as @fastify/swagger documents them (not validated: serialization ignores the keyword).
    headers: { 'retry-after': { type: 'integer', minimum: 1, description: 'Seconds left before trying again' } },
  },
);

/** Statuses whose problem says when to try again. */
const TIMED = new Set([423, 429]);

/** Response schemas for the given error statuses (all problem documents; 423 and 429 with `retry_after` and Retry-After). */
export function problems(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, TIMED.has(status) ? RetryProblem : Problem]));
}

/** The body of a 202: the request was taken; what follows happens by mail. */
export const Accepted = Type.Object({ status: Type.Literal('accepted') });
export const ACCEPTED = { status: 'accepted' as const };

export const Timestamp = Type.String({ format: 'date-time' });
/**
 * A schema or null. For a schema of one JSON type this is one schema with two types
 * (`type: ['string', 'null']`), not a union: the validator coerces types, and in a union `''`, `0`
 * or `false` would be coerced into the null branch instead of failing the schema.
 */
export const Nullable = <T extends TSchema>(schema: T): TUnion<[T, TNull]> => {
  const { type } = schema as { type?: unknown };
  if (typeof type !== 'string') return Type.Union([schema, Type.Null()]);
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] }) as unknown as TUnion<[T, TNull]>;
};
