import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CRC32C_IMPLEMENTATIONS,
  type Crc32cImpl,
  crc32c,
  crc32cImplementation,
  crc32cSkipped,
  crc32cUpdate,
  loadCrc32cImplementation,
} from '../../../src/protocol/crc32c.ts';
import { capsuleRespHdgst } from '../../fixtures/pdu/capsule.ts';
import { Prng } from '../../helpers/prng.ts';

// Every implementation, loaded on its own (bypassing the short-input JS path of
// crc32cUpdate). In this repository all of them must load: `npm ci` builds the addon
// and sse4_crc32, so a missing one is a broken install, not something to skip.
const IMPLS: readonly Crc32cImpl[] = CRC32C_IMPLEMENTATIONS.map((name) => {
  const impl = loadCrc32cImplementation(name);
  if (typeof impl === 'string') throw new Error(`CRC32C implementation ${name} does not load: ${impl}`);
  return impl;
});
type Update = Crc32cImpl['update'];
const addon = createRequire(import.meta.url)('../../../build/Release/crc32c.node') as {
  update: Update;
  variants: Record<string, Update>;
};
// ... and each code path of the addon that this CPU runs (the portable table code too).
const VARIANTS: readonly Crc32cImpl[] = Object.entries(addon.variants).map(([name, update]) => ({
  name: `native/${name}`,
  small: 0,
  update,
}));
const js = IMPLS.find((i) => i.name === 'js')!;
const ALL = [...IMPLS, ...VARIANTS];
const run = (impl: Crc32cImpl, crc: number, buf: Uint8Array, start: number, end: number) => impl.update(crc, buf, start, end) >>> 0;

const rng = new Prng(0xc2c32c);
const DATA = rng.bytes(1024 * 1024 + 64);

test('crc32c - standard check value of "123456789", every implementation', () => {
  const b = Buffer.from('123456789');
  assert.equal(crc32c(b), 0xe3069283);
  for (const impl of ALL) assert.equal(run(impl, 0, b, 0, b.length), 0xe3069283, impl.name);
});

test('crc32c - 32 zero bytes (iSCSI vector) and 4096 zero bytes', () => {
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(4096)), 0x98f94189);
  for (const impl of IMPLS) assert.equal(run(impl, 0, Buffer.alloc(4096), 0, 4096), 0x98f94189, impl.name);
});

test('crc32c - every implementation gives the header digest of the known CapsuleResp vector', () => {
  const b = capsuleRespHdgst.bytes;
  const want = b.readUInt32LE(24);
  assert.equal(want, 0x5446b823);
  for (const impl of IMPLS) assert.equal(run(impl, 0, b, 0, 24), want, impl.name);
  // and inside a larger buffer, at an odd offset
  const big = Buffer.concat([Buffer.alloc(13, 0xa5), b]);
  for (const impl of IMPLS) assert.equal(run(impl, 0, big, 13, 37), want, impl.name);
});

test('crc32c - in this repository the native addon is built and preferred', () => {
  assert.ok('table' in addon.variants && 'sse4.2' in addon.variants, 'the CI machine has SSE4.2');
  // NVMEOTCP_CRC32C is unset under npm test; the addon comes first in the order.
  assert.equal(CRC32C_IMPLEMENTATIONS[0], 'native');
  assert.match(IMPLS[0]!.name, /^native \((pclmul|sse4\.2)\)$/);
  assert.equal(crc32cImplementation(), IMPLS[0]!.name);
  assert.deepEqual(crc32cSkipped(), []);
});

test('crc32c - all implementations agree on every length 0..4096 at every alignment 0..15', () => {
  const others = ALL.filter((i) => i !== js);
  for (let align = 0; align < 16; align++) {
    let crc = 0;
    for (let len = 0; len <= 4096; len++) {
      const want = run(js, crc, DATA, align, align + len);
      for (const impl of others) {
        const got = run(impl, crc, DATA, align, align + len);
        if (got !== want) assert.fail(`${impl.name}: len ${len} align ${align} crc ${crc}: ${got} != ${want}`);
      }
      crc = want; // a different starting value for the next length
    }
  }
});

test('crc32c - all implementations agree on random and block-boundary lengths up to 1 MiB', () => {
  // 24576 = the addon's 6 streams x 4096-byte blocks: lengths around its multiples.
  const lens: number[] = [];
  for (let k = 1; k <= 4; k++) for (let d = -9; d <= 9; d++) lens.push(k * 24576 + d);
  for (let i = 0; i < 24; i++) lens.push(rng.int(4097, 1024 * 1024));
  lens.push(1024 * 1024);
  for (const len of lens) {
    const align = rng.int(0, 15);
    const crc = rng.u32();
    const want = run(js, crc, DATA, align, align + len);
    for (const impl of ALL) assert.equal(run(impl, crc, DATA, align, align + len), want, `${impl.name} len ${len}`);
  }
});

test('crc32c - chained updates at random split points equal the one-shot CRC', () => {
  for (let round = 0; round < 40; round++) {
    const len = rng.int(0, round < 20 ? 600 : 200_000);
    const start = rng.int(0, 15);
    const whole = run(js, 0, DATA, start, start + len);
    assert.equal(crc32c(DATA, start, start + len), whole);
    for (const update of [crc32cUpdate, ...ALL.map((i) => i.update)]) {
      let crc = 0;
      for (let at = start; at < start + len; ) {
        const piece = Math.min(rng.bool(0.5) ? rng.int(0, 80) : rng.int(0, 30_000), start + len - at);
        crc = update(crc, DATA, at, at + piece) >>> 0;
        at += piece;
      }
      assert.equal(crc, whole, `round ${round} len ${len}`);
    }
  }
});

test('crc32c - the public API takes plain Uint8Arrays and views at an offset', () => {
  const u8 = new Uint8Array(DATA.buffer, DATA.byteOffset + 5, 5000);
  const want = run(js, 0, DATA, 5, 5005);
  assert.equal(crc32c(u8), want);
  assert.equal(crc32cUpdate(crc32c(u8, 0, 100), u8, 100, 5000), want);
  for (const impl of IMPLS) assert.equal(run(impl, 0, u8, 0, 5000), want, impl.name);
});

test('crc32c - the addon rejects a range outside the buffer and a non-byte array', () => {
  const b = Buffer.alloc(16);
  const update = addon.update as (crc: number, buf: unknown, start: number, end: number) => number;
  assert.throws(() => update(0, b, 0, 17), { name: 'RangeError', message: /range outside the buffer/ });
  assert.throws(() => update(0, b, 9, 8), RangeError);
  assert.throws(() => update(0, b, -1, 8), RangeError);
  assert.throws(() => update(0, new Uint32Array(4), 0, 4), { message: /not a Uint8Array/ });
  assert.throws(() => update(0, 'abc', 0, 3), { message: /not a Uint8Array/ });
  assert.equal(update(0x1234, b, 16, 16) >>> 0, 0x1234);
});

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

test('crc32c - NVMEOTCP_CRC32C forces an implementation', async () => {
  const probe = `import('./src/protocol/crc32c.ts').then((m) => console.log(m.crc32cImplementation(), m.crc32c(Buffer.from('123456789'))))`;
  const env = { ...process.env, NVMEOTCP_CRC32C: 'node-rs' };
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', '-e', probe], { cwd: root, env, timeout: 60_000 });
  assert.equal(stdout.trim(), `@node-rs/crc32 ${0xe3069283}`);
});

test('crc32c - the CLI names a bad NVMEOTCP_CRC32C in one line', async () => {
  const env = { ...process.env, NVMEOTCP_CRC32C: 'fast', NVMEOTCP_DEBUG: '' };
  const r = await exec(process.execPath, ['bin/nvmeotcp.js', '--help'], { cwd: root, env, timeout: 60_000 }).then(
    () => assert.fail('exited 0'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'nvmeotcp: NVMEOTCP_CRC32C=fast: no such implementation (native, sse4, node-rs, js)\n');
});
