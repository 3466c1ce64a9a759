#!/usr/bin/env node
// The nvmeotcp command: registers tsx so Node runs the TypeScript sources, then
// hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli/main.ts');
await run(process.argv);
