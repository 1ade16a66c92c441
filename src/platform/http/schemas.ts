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

/** Response schemas for the given error statuses (all problem documents). */
export function problems(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, Problem]));
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
