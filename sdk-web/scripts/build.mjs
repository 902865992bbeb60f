// Builds dist/px.esm.js (bundlers), dist/px.min.js (script tag, window.PX) and dist/types (tsc),
// then fails if the script-tag build is over its gzip budget. Prints the sizes.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BUDGET = 6144; // bytes after gzip -9, script-tag build (`make test` runs this build)

rmSync(join(root, 'dist'), { recursive: true, force: true });
const common = {
  bundle: true,
  target: 'es2022',
  define: { __VERSION__: JSON.stringify(pkg.version) },
  mangleProps: /^_/, // private members only
  legalComments: 'none',
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(root, 'src/index.ts')], outfile: join(root, 'dist/px.esm.js'), format: 'esm', minifySyntax: true, sourcemap: true });
await build({ ...common, entryPoints: [join(root, 'src/browser.ts')], outfile: join(root, 'dist/px.min.js'), format: 'iife', minify: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

const min = readFileSync(join(root, 'dist/px.min.js'));
const gz = gzipSync(min, { level: 9 }).length;
const br = brotliCompressSync(min, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log(`dist/px.min.js: ${min.length} bytes, ${gz} bytes gzip -9 (budget ${BUDGET}), ${br} bytes brotli -11`);
if (gz > BUDGET) {
  console.error(`size check FAILED: ${gz} > ${BUDGET} bytes gzipped`);
  process.exit(1);
}
