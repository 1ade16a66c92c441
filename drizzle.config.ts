import { defineConfig } from 'drizzle-kit';

// `npm run db:generate -- --name <what>` writes the next SQL migration from the table definitions;
// `npx drizzle-kit generate --custom --name <what>` an empty one for hand-written SQL (triggers, policies).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/platform/db/tables.ts',
  out: './migrations',
});
