// `nvmeotcp target` refuses bad input at start-up with one line naming what is wrong,
// and announces "listening" only once everything (namespaces, stats port) is up.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, errLines } from './cli-helpers.ts';

const tgt = (...args: string[]) => cli(['target', '--listen', '127.0.0.1:0', ...args]);

test('cli target checks - a namespace that cannot be opened is a namespace error, not "cannot listen"', async () => {
  const r = await tgt('--ns', 'file:/nonexistent-dir/disk.img:1M');
  assert.equal(r.code, 1);
  assert.match(errLines(r).join('\n'), /^nvmeotcp target: namespace: .*nsid 1: .*no such file or directory/);
  assert.doesNotMatch(r.stderr, /cannot listen/);
  assert.doesNotMatch(r.stdout, /listening on/);
});

test('cli target checks - sizes must be whole blocks; an existing file is never grown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-checks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const odd = await tgt('--ns', 'ram:1000');
  assert.equal(odd.code, 1);
  assert.match(errLines(odd)[0], /^nvmeotcp target: .*size 1000 is not a multiple of the 512-byte block size$/);
  const file = join(dir, 'small.img');
  writeFileSync(file, Buffer.alloc(8192));
  const grow = await tgt('--ns', `file:${file}:1M`);
  assert.equal(grow.code, 1);
  assert.match(errLines(grow)[0], /is 8192 bytes, less than the namespace size 1048576: it is not grown/);
  assert.equal(statSync(file).size, 8192);
});

test('cli target checks - NQNs are checked: the domain form and the UUID form', async () => {
  const r = await tgt('--nqn', 'my-target');
  assert.equal(r.code, 1);
  assert.deepEqual(errLines(r), [
    'nvmeotcp target: --nqn: "my-target" is not nqn.yyyy-mm.<reverse domain>:<name> nor nqn.2014-08.org.nvmexpress:uuid:<uuid>',
  ]);
  const h = await tgt('--allow-host', 'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid');
  assert.equal(h.code, 1);
  assert.match(errLines(h)[0], /--allow-host: .* has no UUID after nqn\.2014-08\.org\.nvmexpress:uuid:$/);
});

test('cli target checks - a stats port in use fails before the target says it is listening', async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => busy.close(() => r())));
  const { port } = busy.address() as { port: number };
  const r = await tgt('--stats-listen', `127.0.0.1:${port}`);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout, /listening on/);
  assert.match(errLines(r).join('\n'), /address already in use/);
});
