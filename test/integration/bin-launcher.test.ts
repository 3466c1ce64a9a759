// bin/nvmeotcp.js in a checkout whose dist/ was never built: one line saying how to build.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Child } from '../helpers/subprocess.ts';
import { ROOT } from './cli-helpers.ts';

test('bin - without dist/ the launcher names the missing file and `npm run build`, in one line, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  cpSync(join(ROOT, 'bin', 'nvmeotcp.js'), join(dir, 'bin', 'nvmeotcp.js'));
  const r = await Child.spawn('nvmeotcp', process.execPath, [join(dir, 'bin', 'nvmeotcp.js'), '--help'], { hangGuardMs: 60_000 }).wait();
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `nvmeotcp: ${join(dir, 'dist', 'cli', 'main.js')} is missing: run \`npm run build\` in ${dir}\n`);
});
