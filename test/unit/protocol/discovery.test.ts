import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NQN_DISCOVERY } from '../../../src/protocol/constants.ts';
import {
  AdrFam,
  type DiscoveryEntry,
  encodeDiscoveryEntry,
  encodeDiscoveryLog,
  parseDiscoveryEntry,
  parseDiscoveryLog,
  parseDiscoveryLogHeader,
  SubType,
  TREQ_DISABLE_SQFLOW,
  TrType,
} from '../../../src/protocol/discovery.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';

const isArgError = (e: unknown): boolean => e instanceof InvalidArgumentError && e.code === 'NVMEOTCP_ERR_INVALID_ARG';

const NVM: DiscoveryEntry = {
  trtype: TrType.TCP,
  adrfam: AdrFam.IPv4,
  subtype: SubType.Nvme,
  treq: 0x02 | TREQ_DISABLE_SQFLOW,
  portid: 0x0102,
  cntlid: 0xffff,
  asqsz: 32,
  eflags: 0x0003,
  trsvcid: '4420',
  subnqn: 'nqn.2024-01.io.nvmeotcp:test',
  traddr: '127.0.0.1',
  sectype: 0,
};
const DISC: DiscoveryEntry = {
  trtype: TrType.TCP,
  adrfam: AdrFam.IPv6,
  subtype: SubType.CurrentDiscovery,
  treq: 0,
  portid: 2,
  cntlid: 0xffff,
  asqsz: 32,
  eflags: 0,
  trsvcid: '8009',
  subnqn: NQN_DISCOVERY,
  traddr: '::1',
  sectype: 2,
};

test('discovery log - round trip of header and entries', () => {
  const b = encodeDiscoveryLog(7, [NVM, DISC]);
  assert.equal(b.length, 1024 + 2 * 1024);
  assert.deepEqual(parseDiscoveryLog(b), { genctr: 7, numrec: 2, recfmt: 0, entries: [NVM, DISC] });
});

test('discovery log - header: GENCTR u64 @0, NUMREC u64 @8, RECFMT u16 @16', () => {
  const b = encodeDiscoveryLog(2 ** 40 + 5, [NVM]);
  assert.deepEqual(b.subarray(0, 20), Buffer.from('0500000000010000' + '0100000000000000' + '0000' + '0000', 'hex'));
  assert.ok(b.subarray(20, 1024).every((x) => x === 0));
});

test('discovery log - entry fields at their spec offsets (entry 0 @1024)', () => {
  const b = encodeDiscoveryLog(1, [NVM, DISC]);
  const e = 1024;
  assert.deepEqual(b.subarray(e, e + 12), Buffer.from('03010206' + '0201' + 'ffff' + '2000' + '0300', 'hex'));
  assert.ok(b.subarray(e + 12, e + 32).every((x) => x === 0));
  assert.equal(b.toString('latin1', e + 32, e + 64), `4420${' '.repeat(28)}`); // TRSVCID, space padded
  assert.ok(b.subarray(e + 64, e + 256).every((x) => x === 0));
  assert.equal(b.toString('latin1', e + 256, e + 256 + NVM.subnqn.length), NVM.subnqn); // SUBNQN
  assert.ok(b.subarray(e + 256 + NVM.subnqn.length, e + 512).every((x) => x === 0));
  assert.equal(b.toString('latin1', e + 512, e + 768), `127.0.0.1${' '.repeat(247)}`); // TRADDR
  assert.ok(b.subarray(e + 768, e + 1024).every((x) => x === 0)); // TSAS, SECTYPE 0
  const e1 = 2048;
  assert.equal(b[e1 + 1], AdrFam.IPv6);
  assert.equal(b[e1 + 2], SubType.CurrentDiscovery);
  assert.equal(b[e1 + 768], 2); // SECTYPE TLS 1.3
  assert.equal(b.toString('latin1', e1 + 512, e1 + 515), '::1');
});

test('discovery log - no entries is a bare 1024-byte header', () => {
  const b = encodeDiscoveryLog(0, []);
  assert.equal(b.length, 1024);
  assert.deepEqual(parseDiscoveryLog(b), { genctr: 0, numrec: 0, recfmt: 0, entries: [] });
});

test('discovery log - the 20-byte header read gives NUMREC and no entries', () => {
  const full = encodeDiscoveryLog(9, [NVM, DISC]);
  assert.deepEqual(parseDiscoveryLogHeader(full.subarray(0, 20)), { genctr: 9, numrec: 2, recfmt: 0 });
  assert.deepEqual(parseDiscoveryLog(full.subarray(0, 20)), { genctr: 9, numrec: 2, recfmt: 0, entries: [] });
});

test('discovery log - a log cut short yields only the complete entries', () => {
  const full = encodeDiscoveryLog(9, [NVM, DISC]);
  assert.deepEqual(parseDiscoveryLog(full.subarray(0, 2048 + 1000)).entries, [NVM]);
});

test('discovery log - entries beyond NUMREC are ignored', () => {
  const b = encodeDiscoveryLog(1, [NVM, DISC]);
  b.writeUInt32LE(1, 8);
  assert.deepEqual(parseDiscoveryLog(b).entries, [NVM]);
});

test('discovery entry - NUL-padded TRSVCID/TRADDR (as nvmet sends) decode the same', () => {
  const b = Buffer.alloc(1024);
  encodeDiscoveryEntry(NVM, b, 0);
  b.fill(0, 36, 64);
  b.fill(0, 512 + 9, 768);
  assert.deepEqual(parseDiscoveryEntry(b), NVM);
});

test('discovery entry - encode overwrites stale bytes at its offset', () => {
  const b = Buffer.alloc(3000, 0xee);
  encodeDiscoveryEntry(DISC, b, 1000);
  assert.equal(b[999], 0xee);
  assert.equal(b[2024], 0xee);
  assert.ok(b.subarray(1000 + 12, 1000 + 32).every((x) => x === 0));
  assert.deepEqual(parseDiscoveryEntry(b, 1000), DISC);
});

test('discovery log - bad input', () => {
  assert.throws(() => parseDiscoveryLog(Buffer.alloc(19)), isArgError);
  assert.throws(() => parseDiscoveryEntry(Buffer.alloc(1023)), isArgError);
  assert.throws(() => encodeDiscoveryLog(-1, []), isArgError);
  assert.throws(() => encodeDiscoveryLog(0, [{ ...NVM, trsvcid: '1'.repeat(33) }]), isArgError);
  assert.throws(() => encodeDiscoveryLog(0, [{ ...NVM, portid: 0x10000 }]), isArgError);
  assert.throws(() => encodeDiscoveryEntry(NVM, Buffer.alloc(1500), 1000), isArgError);
  const huge = encodeDiscoveryLog(0, []);
  huge.writeUInt32LE(0xffff_ffff, 12); // NUMREC above 2^53
  assert.throws(() => parseDiscoveryLog(huge), RangeError);
});
