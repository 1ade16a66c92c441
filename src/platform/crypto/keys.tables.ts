import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Token-signing keys. The private half is sealed with TESSERA_SECRET; the public half is served as JWKS. */
export const signingKeys = pgTable('signing_keys', {
  id: text('id').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  privateJwkSealed: text('private_jwk_sealed').notNull(),
  status: text('status').notNull().default('active'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  retiredAt: timestamp('retired_at', { withTimezone: true }),
});
