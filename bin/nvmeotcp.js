#!/usr/bin/env node
// The nvmeotcp command: runs the compiled CLI, dist/cli/main.js. A checkout builds
// dist/ at `npm ci` / `npm install` (the prepare script) or with `npm run build`.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  process.stderr.write(`nvmeotcp: ${fileURLToPath(main)} is missing: run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
// Stack traces (NVMEOTCP_DEBUG=1) name the TypeScript sources, through dist/'s source maps.
if (process.env.NVMEOTCP_DEBUG) process.setSourceMapsEnabled(true);
let run;
try {
  ({ run } = await import(main.href));
} catch (e) {
  // A bad setting read while the modules load (NVMEOTCP_CRC32C): one line, no stack.
  if (e?.code !== 'ERR_NVMEOTCP_CRC32C' || process.env.NVMEOTCP_DEBUG) throw e;
  process.stderr.write(`nvmeotcp: ${e.message}\n`);
  process.exit(1);
}
await run(process.argv);
