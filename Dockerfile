# Tessera server image. Build: docker build -t tessera .
# Run:   docker run -p 8080:8080 -e TESSERA_SECRET=... -v tessera-data:/data tessera
# Without DATABASE_URL / REDIS_URL it runs embedded (PGlite in /data, in-process cache);
# see compose.yaml for PostgreSQL + Redis.
# The hosted pages are built in a stage of their own (Vite and the front-end packages are dev
# dependencies); only web/dist reaches the image.
FROM node:24-bookworm-slim AS pages
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
COPY scripts ./scripts
COPY web ./web
RUN npx tsx scripts/web.ts build --force

FROM node:24-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so the layer is reused while only the source changes.
# tsx is a runtime dependency (the server runs TypeScript directly), so --omit=dev is enough.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY src ./src
COPY --from=pages /build/web/dist ./web/dist

ENV PORT=8080 \
    DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8080

USER node

# No curl in the slim image: Node's own fetch. Liveness only; /health/ready also checks dependencies.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node directly, not `npm start`: SIGTERM from `docker stop` reaches the server, which shuts down
# gracefully (SHUTDOWN_TIMEOUT_MS, 10 s by default; give docker a longer --stop-timeout if raised).
CMD ["node", "--import", "tsx", "src/main.ts"]
