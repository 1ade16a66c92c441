import type { TestProject } from 'vitest/node';
import { probeServices, type Services } from './helpers/services.js';
import { prepareTemplates, dropTemplates } from './helpers/templates.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Services;
    pgliteTemplate: string;
    postgresTemplate: string | null;
  }
}

/**
 * Runs once per `npm test`: finds out whether PostgreSQL and Redis answer, says so in one line each
 * when they do not (or fails the run when TESSERA_REQUIRE_SERVICES=1), and builds the migrated
 * template databases every test file clones.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The runtime the suite runs on (CI installs Node 24 when the machine's is older).
  console.log(`[tessera tests] node ${process.version} (${process.execPath})`);
  const services = await probeServices();
  const required = process.env.TESSERA_REQUIRE_SERVICES === '1';
  for (const [name, url] of [['PostgreSQL', services.postgresUrl], ['Redis', services.redisUrl]] as const) {
    if (url) continue;
    const line = `${name} is not reachable: its tests are skipped (set TEST_${name === 'Redis' ? 'REDIS' : 'DATABASE'}_URL to point at one)`;
    if (required) throw new Error(`TESSERA_REQUIRE_SERVICES=1 but ${line}`);
    console.warn(`[tessera tests] ${line}`);
  }
  const templates = await prepareTemplates(services);
  project.provide('services', services);
  project.provide('pgliteTemplate', templates.pglite);
  project.provide('postgresTemplate', templates.postgres);
  return async () => {
    await dropTemplates(services, templates);
  };
}
