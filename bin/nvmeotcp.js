#!/usr/bin/env node
// The nvmeotcp command: registers tsx so Node runs the TypeScript sources, then
// hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
let run;
try {
  ({ run } = await import('../src/cli/main.ts'));
} catch (e) {
  // A bad setting read while the modules load (NVMEOTCP_CRC32C): one line, no stack.
  if (e?.code !== 'ERR_NVMEOTCP_CRC32C' || process.env.NVMEOTCP_DEBUG) throw e;
  process.stderr.write(`nvmeotcp: ${e.message}\n`);
  process.exit(1);
}
await run(process.argv);
