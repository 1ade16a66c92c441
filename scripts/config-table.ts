/**
 * Prints the configuration table generated from src/config (npm run docs:config).
 * With --write, replaces the text between `<!-- config:start -->` and `<!-- config:end -->`
 * in README.md instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigTable } from '../src/config/index.js';

const START = '<!-- config:start -->';
const END = '<!-- config:end -->';
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));

function writeReadme(table: string): string | undefined {
  let readme: string;
  try {
    readme = readFileSync(readmePath, 'utf8');
  } catch {
    return `${readmePath} not found`;
  }
  const start = readme.indexOf(START);
  const end = readme.indexOf(END, start + START.length);
  if (start === -1 || end === -1) return `${readmePath} has no ${START} … ${END} markers`;
  const updated = `${readme.slice(0, start + START.length)}\n\n${table}\n\n${readme.slice(end)}`;
  if (updated !== readme) writeFileSync(readmePath, updated);
  return undefined;
}

const table = renderConfigTable();
if (process.argv.includes('--write')) {
  const problem = writeReadme(table);
  if (problem === undefined) {
    process.stderr.write(`config table written to ${readmePath}\n`);
  } else {
    process.stderr.write(`not written: ${problem}\n`);
    process.exitCode = 1;
  }
} else {
  process.stdout.write(`${table}\n`);
}
