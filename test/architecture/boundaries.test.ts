import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

/**
 * The module boundaries of ARCHITECTURE.md, enforced: dependency-cruiser with the rules of
 * .dependency-cruiser.cjs (also `npm run lint:boundaries`), and the one rule an import graph cannot
 * see: no SQL outside *.queries.ts.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const config = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as IConfiguration;

async function moduleFiles(): Promise<string[]> {
  const entries = await readdir(join(root, 'src/modules'), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')).map((e) => relative(root, join(e.parentPath, e.name)));
}

describe('module boundaries', () => {
  it('src/ breaks none of the dependency rules (module through index.ts, platform knows no module, routes never reach queries, SQL only in queries, no cycles)', async () => {
    const previous = process.cwd();
    process.chdir(root);
    let result: ICruiseResult;
    try {
      const { output } = await cruise(['src'], { ruleSet: config, validate: true, ...config.options, outputType: 'json' });
      result = (typeof output === 'string' ? JSON.parse(output) : output) as ICruiseResult;
    } finally {
      process.chdir(previous);
    }
    const violations = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`);
    expect(violations).toEqual([]);
    // The cruise really looked at the code (a missing TypeScript transpiler makes it see nothing).
    expect(result.summary.totalCruised).toBeGreaterThan(150);
  });

  it('no module file but *.queries.ts runs SQL (db.sql.query, db.orm, sql`…`)', async () => {
    const offenders: string[] = [];
    for (const file of await moduleFiles()) {
      if (/\.(queries|tables)\.ts$/.test(file)) continue;
      const text = await readFile(join(root, file), 'utf8');
      for (const [pattern, what] of [[/\.sql\.query\s*[<(]/, 'db.sql.query'], [/\.orm\./, 'db.orm'], [/\bsql`/, 'sql`…`'], [/\.execScript\(/, 'execScript']] as const) {
        if (pattern.test(text)) offenders.push(`${file}: ${what}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
