import { defineConfig } from 'drizzle-kit';

// `npm run db:generate -- --name <what>` writes the next SQL migration from the table definitions;
// `npx drizzle-kit generate --custom --name <what>` an empty one for hand-written SQL (triggers, policies).
export default defineConfig({
  dialect: 'postgresql',
  // Every table: each module's and each platform port's *.tables.ts.
  schema: ['./src/platform/**/*.tables.ts', './src/modules/**/*.tables.ts'],
  out: './migrations',
});
