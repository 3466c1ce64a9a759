import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import { checkUint, getString, putBytes, putString, readU64, writeU64 } from '../../../src/protocol/fields.ts';

const isArgError = (e: unknown): boolean => e instanceof InvalidArgumentError;

test('fields - putString space pads ASCII fields and getString trims them', () => {
  const b = Buffer.alloc(12, 0xee);
  putString(b, 2, 8, 'SN1', 'space', 'sn');
  assert.deepEqual(b, Buffer.from('eeee534e312020202020eeee', 'hex'));
  assert.equal(getString(b, 2, 8, 'latin1'), 'SN1');
});

test('fields - putString NUL pads NQN fields and keeps one terminator', () => {
  const b = Buffer.alloc(8, 0xee);
  putString(b, 0, 8, 'nqn.abc', 'nul', 'nqn');
  assert.deepEqual(b, Buffer.from('6e716e2e61626300', 'hex'));
  assert.throws(() => putString(b, 0, 8, 'nqn.abcd', 'nul', 'nqn'), isArgError);
});

test('fields - a full-width space-padded field needs no terminator', () => {
  const b = Buffer.alloc(4);
  putString(b, 0, 4, 'ABCD', 'space', 'fr');
  assert.equal(getString(b, 0, 4, 'latin1'), 'ABCD');
});

test('fields - non-printable or non-ASCII text in an ASCII field is refused', () => {
  const b = Buffer.alloc(20);
  assert.throws(() => putString(b, 0, 20, 'caf\u00e9', 'space', 'mn'), isArgError);
  assert.throws(() => putString(b, 0, 20, 'a\nb', 'space', 'mn'), isArgError);
  assert.throws(() => putString(b, 0, 20, 'a\u0000b', 'nul', 'nqn'), isArgError);
});

test('fields - getString stops at the first NUL and within the field', () => {
  const b = Buffer.from('4142002020434445', 'hex');
  assert.equal(getString(b, 0, 8), 'AB');
  assert.equal(getString(b, 5, 2), 'CD');
});

test('fields - NQNs are UTF-8', () => {
  const b = Buffer.alloc(16);
  putString(b, 0, 16, 'nqn.\u00e9', 'nul', 'nqn');
  assert.equal(getString(b, 0, 16), 'nqn.\u00e9');
});

test('fields - u64 as a JS number, refused above 2^53-1', () => {
  const b = Buffer.alloc(8);
  writeU64(b, 2 ** 53 - 1, 0, 'x');
  assert.deepEqual(b, Buffer.from('ffffffffffff1f00', 'hex'));
  assert.equal(readU64(b, 0, 'x'), 2 ** 53 - 1);
  b[6] = 0x20;
  assert.throws(() => readU64(b, 0, 'x'), RangeError);
  assert.throws(() => writeU64(b, 2 ** 53, 0, 'x'), isArgError);
  assert.throws(() => writeU64(b, 1.5, 0, 'x'), isArgError);
});

test('fields - checkUint bounds', () => {
  assert.equal(checkUint('x', 255, 8), 255);
  assert.throws(() => checkUint('x', 256, 8), isArgError);
  assert.throws(() => checkUint('x', -1, 8), isArgError);
  assert.throws(() => checkUint('x', Number.NaN, 8), isArgError);
});

test('fields - putBytes writes zeros for a missing value and checks the size', () => {
  const b = Buffer.alloc(6, 0xee);
  putBytes(b, 1, 4, undefined, 'g');
  assert.deepEqual(b, Buffer.from('ee00000000ee', 'hex'));
  putBytes(b, 1, 4, Buffer.from('01020304', 'hex'), 'g');
  assert.deepEqual(b, Buffer.from('ee01020304ee', 'hex'));
  assert.throws(() => putBytes(b, 1, 4, Buffer.alloc(3), 'g'), isArgError);
});
