import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** The API server `npm run dev` proxies to (the one `tsx watch src/main.ts` starts). */
const api = process.env.TESSERA_DEV_API ?? 'http://localhost:8080';

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Nothing inlined as data: URLs (the pages' CSP allows images from 'self' only).
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: Object.fromEntries(['/v1', '/branding.css', '/.well-known', '/health'].map((path) => [path, { target: api, changeOrigin: false }])),
  },
});
