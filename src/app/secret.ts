import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.js';

/**
 * TESSERA_SECRET, or (outside production) the one generated into DATA_DIR on first start and read
 * back on later starts. Several instances on one PostgreSQL must share one TESSERA_SECRET: set it.
 */
export async function resolveSecret(config: Config): Promise<{ secret: string; generated: boolean }> {
  if (config.secret) return { secret: config.secret, generated: false };
  const file = join(config.dataDir, 'secret');
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return { secret: existing, generated: false };
  } catch {
    // first start
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  // wx: never overwrite a secret another start wrote a moment ago.
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch {
    return { secret: (await readFile(file, 'utf8')).trim(), generated: false };
  }
  return { secret, generated: true };
}
