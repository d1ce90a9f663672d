// Builds dist/ (committed, embedded in the server binary) and records a hash of every
// input in dist/SOURCE_HASH; a Rust test recomputes it, so a change to web/ that was not
// rebuilt fails the suite. The same walk is in tests/api/web_assets.rs: keep them alike.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const here = new URL('.', import.meta.url).pathname;

function inputs(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? inputs(path) : [path];
  });
}

export function sourceHash() {
  const files = [...inputs(join(here, 'src')), ...['build.mjs', 'package.json', 'package-lock.json'].map((f) => join(here, f))]
    .map((path) => relative(here, path))
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file);
    hash.update('\0');
    hash.update(readFileSync(join(here, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

rmSync(join(here, 'dist'), { recursive: true, force: true });
mkdirSync(join(here, 'dist'));
await build({
  absWorkingDir: here,
  entryPoints: { graphiql: 'src/graphiql.jsx', dashboard: 'src/dashboard.js', console: 'src/console/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: 'dist',
  jsx: 'transform',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.woff': 'dataurl', '.woff2': 'dataurl', '.svg': 'dataurl' },
  legalComments: 'none',
  logLevel: 'warning',
});
for (const page of ['index.html', 'graphiql.html', 'console.html']) copyFileSync(join(here, 'src', page), join(here, 'dist', page));
writeFileSync(join(here, 'dist', 'SOURCE_HASH'), sourceHash() + '\n');
console.log('web/dist built; source hash', sourceHash());
