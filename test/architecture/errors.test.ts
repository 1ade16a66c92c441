import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Guards the one error catalogue: every code defined once, in a `*.errors.ts` file, carrying its own title. */
const root = fileURLToPath(new URL('../..', import.meta.url));
const src = join(root, 'src');
const HTTP_ERRORS = 'src/platform/http/errors.ts';

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

interface Factory {
  (): { code: string; status: number; title: string };
  code: string;
  status: number;
  title: string;
}

const isFactory = (value: unknown): value is Factory =>
  typeof value === 'function' && typeof (value as Factory).code === 'string' && typeof (value as Factory).status === 'number';

describe('error catalogue', () => {
  it('defines every code once: importing every catalogue succeeds, and each code has exactly one definition', async () => {
    const files = (await sourceFiles(src)).filter((file) => file.endsWith('.errors.ts') || file === HTTP_ERRORS);
    expect(files.length).toBeGreaterThan(8);
    // A second definition of a code throws as its catalogue is imported (defineErrors refuses it).
    const modules = await Promise.all(files.map(async (file) => ({ file, exports: (await import(pathToFileURL(join(root, file)).href)) as Record<string, unknown> })));
    const definitions = new Map<string, { factory: Factory; files: Set<string> }>();
    for (const { file, exports } of modules) {
      for (const [name, catalogue] of Object.entries(exports)) {
        if (typeof catalogue !== 'object' || catalogue === null) continue;
        for (const [key, factory] of Object.entries(catalogue)) {
          if (!isFactory(factory)) continue;
          // A catalogue names each error by its code: no aliases that read as another code.
          expect(key, `${file} ${name}.${key}`).toBe(factory.code);
          const seen = definitions.get(factory.code);
          if (!seen) definitions.set(factory.code, { factory, files: new Set([file]) });
          else {
            // Reusing another module's definition is fine; a second definition is not.
            expect(seen.factory, `${factory.code} is defined in ${[...seen.files].join(', ')} and again in ${file}`).toBe(factory);
            seen.files.add(file);
          }
        }
      }
    }
    const { definedErrors } = (await import(pathToFileURL(join(root, HTTP_ERRORS)).href)) as { definedErrors(): Map<string, Factory> };
    // Every definition made is exported from some catalogue file (none hide in other files).
    expect([...definedErrors().keys()].sort()).toEqual([...definitions.keys()].sort());
    for (const { factory } of definitions.values()) {
      const error = factory();
      expect(error).toMatchObject({ code: factory.code, status: factory.status, title: factory.title, detail: factory.title });
      expect(factory.code).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(factory.status).toBeGreaterThanOrEqual(400);
    }
  });

  it('refuses a code defined twice, even with the same status and title', async () => {
    const { defineErrors } = await import('../../src/platform/http/errors.js');
    expect(() => defineErrors({ not_found: { status: 404, title: 'Not found' } })).toThrow(/not_found is defined twice/);
    expect(() => defineErrors({ last_owner_test_only: { status: 409, title: 'a' }, validation_failed: { status: 422, title: 'b' } })).toThrow(/validation_failed is defined twice/);
  });

  it('builds errors only from catalogues: no defineErrors outside *.errors.ts, no hand-made AppError', async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles(src)) {
      const text = await readFile(join(root, file), 'utf8');
      const isCatalogue = file.endsWith('.errors.ts') || file === HTTP_ERRORS;
      if (!isCatalogue && /\bdefineErrors\(/.test(text)) offenders.push(`${file}: defineErrors outside a *.errors.ts file`);
      if (file !== HTTP_ERRORS && /\bnew AppError\(/.test(text)) offenders.push(`${file}: new AppError(...) instead of a catalogue entry`);
    }
    expect(offenders).toEqual([]);
  });
});
