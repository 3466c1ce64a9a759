import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c as nodeRsCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cBackend, crc32cUpdate } from '../../../src/protocol/crc32c.ts';

test('crc32c - standard check value of "123456789"', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('crc32c - 32 zero bytes (iSCSI vector)', () => {
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
});

test('crc32c - 4096 zero bytes (a data digest)', () => {
  assert.equal(crc32c(Buffer.alloc(4096)), 0x98f94189);
});

test('crc32c - running value chains across every split point', () => {
  const b = Buffer.from('The quick brown fox jumps over the lazy dog, twice over.');
  const whole = crc32c(b);
  for (let i = 0; i <= b.length; i++) {
    assert.equal(crc32cUpdate(crc32cUpdate(0, b, 0, i), b, i, b.length), whole, `split at ${i}`);
  }
});

test('crc32c - the JS table path and the native path agree at every length around the switch', () => {
  const b = Buffer.alloc(300);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 7) & 0xff;
  for (let len = 0; len <= 200; len++) {
    const whole = crc32c(b, 0, len);
    assert.equal(whole, nodeRsCrc32c(b.subarray(0, len), 0) >>> 0, `len ${len}`);
    // A short piece (table) continued by a long one (native), and the reverse.
    const cut = Math.min(len, 10);
    assert.equal(crc32cUpdate(crc32cUpdate(0, b, 0, cut), b, cut, len), whole, `len ${len} split ${cut}`);
    const cut2 = Math.max(0, len - 10);
    assert.equal(crc32cUpdate(crc32cUpdate(0, b, 0, cut2), b, cut2, len), whole, `len ${len} split ${cut2}`);
  }
});

test('crc32c - the chosen native backend matches @node-rs/crc32 on large inputs', () => {
  assert.ok(crc32cBackend === 'sse4_crc32' || crc32cBackend === '@node-rs/crc32');
  const b = Buffer.alloc(256 * 1024 + 3);
  for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 24;
  assert.equal(crc32c(b), nodeRsCrc32c(b, 0) >>> 0);
  assert.equal(crc32cUpdate(0x12345678, b, 5, 200_000), nodeRsCrc32c(b.subarray(5, 200_000), 0x12345678) >>> 0);
});
