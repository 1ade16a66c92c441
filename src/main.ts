import { ConfigError, loadConfig, type Config } from './config/index.js';
import { buildApp } from './app/app.js';

/** Reads config, builds the app, listens, and shuts down cleanly on SIGTERM/SIGINT. Nothing else. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tessera: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await buildApp(config);
  const { server } = app;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      server.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await server.listen({ port: config.port, host: config.host });
  server.log.info(
    { url: config.publicUrl, docs: `${config.publicUrl}/docs`, database: app.context.db.kind, cache: app.context.cache.kind },
    `Tessera is listening on ${config.publicUrl} (API docs: ${config.publicUrl}/docs)`,
  );
}

main().catch((error: unknown) => {
  // A failure to start (database unreachable, port taken): one line, no stack.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tessera: failed to start: ${message.split('\n')[0]}\n`);
  process.exit(1);
});
