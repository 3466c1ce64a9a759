import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c, crc32cUpdate } from '../../../src/protocol/crc32c.ts';

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
