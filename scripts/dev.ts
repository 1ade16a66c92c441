/**
 * `npm run dev`: the API server with reload on change (tsx watch, port 8080) and the hosted pages
 * with hot reload (Vite, http://localhost:5173, proxying /v1 and /branding.css to the API). Open
 * the pages on :5173 while working on them; passkeys work there too (its origin is added to
 * WEBAUTHN_EXTRA_ORIGINS).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const root = fileURLToPath(new URL('../', import.meta.url));
const pagesOrigin = 'http://localhost:5173';
const extra = [process.env.WEBAUTHN_EXTRA_ORIGINS, pagesOrigin].filter(Boolean).join(',');

const api = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['watch', 'src/main.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'development', WEBAUTHN_EXTRA_ORIGINS: extra },
});
const vite = await createServer({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)) });
await vite.listen();
vite.printUrls();
const stop = async () => {
  api.kill('SIGTERM');
  await vite.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
