import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import {
  encodeActiveNsList,
  encodeIdentifyController,
  encodeIdentifyNamespace,
  encodeIdentifyNsIndep,
  encodeNsDescList,
  flbasIndex,
  type IdentifyController,
  type IdentifyNamespace,
  lbaSizeOf,
  parseActiveNsList,
  parseIdentifyController,
  parseIdentifyNamespace,
  parseIdentifyNsIndep,
  parseNsDescList,
} from '../../../src/protocol/identify.ts';

// Seeded PRNG (mulberry32) for the random-input tests.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const isArgError = (e: unknown): boolean => e instanceof InvalidArgumentError && e.code === 'NVMEOTCP_ERR_INVALID_ARG';
const bytes = (n: number, from: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

// Every field distinct, so a swapped or overlapping offset in the layout table shows up.
const CTRL: IdentifyController = {
  vid: 0x1b36,
  ssvid: 0x1af4,
  sn: 'SN0123456789',
  mn: 'nvmeotcp model',
  fr: '0.1.0',
  rab: 6,
  ieee: 0x123456,
  cmic: 0x02,
  mdts: 5,
  cntlid: 0x0042,
  ver: 0x00010400,
  rtd3r: 11,
  rtd3e: 12,
  oaes: 0x8000_0100,
  ctratt: 0x41,
  cntrltype: 1,
  fguid: bytes(16, 0xa0),
  crdt1: 21,
  crdt2: 22,
  crdt3: 23,
  oacs: 0x0008,
  acl: 3,
  aerl: 4,
  frmw: 3,
  lpa: 0x07,
  elpe: 127,
  npss: 1,
  avscc: 1,
  apsta: 0,
  wctemp: 0x157,
  cctemp: 0x175,
  kas: 50,
  anatt: 10,
  anacap: 1,
  anagrpmax: 31,
  nanagrpid: 30,
  sqes: 0x66,
  cqes: 0x44,
  maxcmd: 128,
  nn: 1024,
  oncs: 0x000c,
  fuses: 1,
  fna: 2,
  vwc: 1,
  awun: 31,
  awupf: 32,
  nvscc: 1,
  nwpc: 2,
  acwu: 33,
  sgls: 0x00100001,
  mnan: 1000,
  subnqn: 'nqn.2024-01.io.nvmeotcp:test',
  ioccsz: 1028,
  iorcsz: 1,
  icdoff: 0,
  fcatt: 1,
  msdbd: 1,
  dctype: 2,
};

test('identify controller - round trip of every field', () => {
  const b = encodeIdentifyController(CTRL);
  assert.equal(b.length, 4096);
  assert.deepEqual(parseIdentifyController(b), CTRL);
  // No field left at zero, so an overlap in the layout table cannot hide behind one.
  const all = { ...CTRL, apsta: 1, icdoff: 0x0a0b };
  assert.deepEqual(parseIdentifyController(encodeIdentifyController(all)), all);
});

test('identify controller - fields at their spec offsets', () => {
  const b = encodeIdentifyController(CTRL);
  assert.equal(b.readUInt16LE(0), 0x1b36); // VID
  assert.equal(b.toString('latin1', 4, 24), 'SN0123456789        '); // SN, space padded
  assert.equal(b.toString('latin1', 24, 64), `nvmeotcp model${' '.repeat(26)}`); // MN
  assert.equal(b.toString('latin1', 64, 72), '0.1.0   '); // FR
  assert.deepEqual(b.subarray(73, 76), Buffer.from('563412', 'hex')); // IEEE OUI
  assert.equal(b[76], 0x02); // CMIC
  assert.equal(b[77], 5); // MDTS
  assert.equal(b.readUInt16LE(78), 0x0042); // CNTLID
  assert.equal(b.readUInt32LE(80), 0x00010400); // VER
  assert.equal(b.readUInt32LE(92), 0x8000_0100); // OAES
  assert.equal(b.readUInt32LE(96), 0x41); // CTRATT
  assert.equal(b[111], 1); // CNTRLTYPE
  assert.equal(b[259], 4); // AERL
  assert.equal(b[261], 0x07); // LPA
  assert.equal(b[262], 127); // ELPE
  assert.equal(b.readUInt16LE(320), 50); // KAS
  assert.equal(b[512], 0x66); // SQES
  assert.equal(b[513], 0x44); // CQES
  assert.equal(b.readUInt16LE(514), 128); // MAXCMD
  assert.equal(b.readUInt32LE(516), 1024); // NN
  assert.equal(b.readUInt16LE(520), 0x000c); // ONCS
  assert.equal(b[525], 1); // VWC
  assert.equal(b.readUInt32LE(536), 0x00100001); // SGLS
  assert.equal(b.toString('latin1', 768, 768 + 28), 'nqn.2024-01.io.nvmeotcp:test'); // SUBNQN
  assert.equal(b[768 + 28], 0);
  assert.equal(b.readUInt32LE(1792), 1028); // IOCCSZ
  assert.equal(b.readUInt32LE(1796), 1); // IORCSZ
  assert.equal(b.readUInt16LE(1800), 0); // ICDOFF
  assert.equal(b[1802], 1); // FCATT
  assert.equal(b[1803], 1); // MSDBD
  assert.equal(b[1806], 2); // DCTYPE
  assert.ok(b.subarray(2048).every((x) => x === 0)); // PSD and vendor area untouched
});

test('identify controller - missing fields encode as zeros, SN/MN/FR as spaces', () => {
  const b = encodeIdentifyController({ cntlid: 1 });
  assert.ok(b.subarray(4, 72).every((x) => x === 0x20));
  assert.equal(b.readUInt16LE(78), 1);
  const c = parseIdentifyController(b);
  assert.equal(c.sn, '');
  assert.equal(c.subnqn, '');
  assert.equal(c.sqes, 0);
  assert.deepEqual(c.fguid, Buffer.alloc(16));
});

test('identify controller - a 21-byte SN, non-ASCII MN, or out-of-range MDTS is refused', () => {
  assert.throws(() => encodeIdentifyController({ sn: 'x'.repeat(21) }), isArgError);
  assert.throws(() => encodeIdentifyController({ mn: 'mod\u00e8le' }), isArgError);
  assert.throws(() => encodeIdentifyController({ mdts: 256 }), isArgError);
  assert.throws(() => encodeIdentifyController({ subnqn: 'n'.repeat(256) }), isArgError);
});

test('identify controller - a short buffer is refused', () => {
  assert.throws(() => parseIdentifyController(Buffer.alloc(4095)), isArgError);
});

const NS: IdentifyNamespace = {
  nsze: 2 ** 40 + 3,
  ncap: 2 ** 40 + 2,
  nuse: 12345,
  nsfeat: 0x01,
  nlbaf: 1,
  flbas: 1,
  mc: 0,
  dpc: 0,
  dps: 0,
  nmic: 1,
  rescap: 0,
  fpi: 0x80,
  dlfeat: 0x09,
  nawun: 1,
  nawupf: 2,
  nacwu: 3,
  noiob: 256,
  npwg: 7,
  npwa: 8,
  npdg: 9,
  npda: 10,
  nows: 11,
  anagrpid: 1,
  nsattr: 0,
  nvmsetid: 2,
  endgid: 3,
  nguid: bytes(16, 0x10),
  eui64: bytes(8, 0x30),
  lbaf: [
    { ms: 0, lbads: 9, rp: 2 },
    { ms: 8, lbads: 12, rp: 0 },
  ],
};

test('identify namespace - round trip of every field', () => {
  assert.deepEqual(parseIdentifyNamespace(encodeIdentifyNamespace(NS)), NS);
  const all = { ...NS, mc: 1, dpc: 2, dps: 3, rescap: 4, nsattr: 1 };
  assert.deepEqual(parseIdentifyNamespace(encodeIdentifyNamespace(all)), all);
});

test('identify namespace - fields at their spec offsets', () => {
  const b = encodeIdentifyNamespace(NS);
  assert.equal(b.length, 4096);
  assert.deepEqual(b.subarray(0, 8), Buffer.from('0300000000010000', 'hex')); // NSZE
  assert.deepEqual(b.subarray(8, 16), Buffer.from('0200000000010000', 'hex')); // NCAP
  assert.equal(b.readUInt32LE(16), 12345); // NUSE
  assert.equal(b[24], 0x01); // NSFEAT
  assert.equal(b[25], 1); // NLBAF, 0's based
  assert.equal(b[26], 1); // FLBAS
  assert.equal(b[30], 1); // NMIC
  assert.equal(b[33], 0x09); // DLFEAT
  assert.equal(b.readUInt16LE(46), 256); // NOIOB
  assert.deepEqual(b.subarray(104, 120), NS.nguid); // NGUID
  assert.deepEqual(b.subarray(120, 128), NS.eui64); // EUI64
  assert.deepEqual(b.subarray(128, 136), Buffer.from('0000090208000c00', 'hex')); // LBAF0, LBAF1
  assert.ok(b.subarray(136).every((x) => x === 0));
});

test('identify namespace - lbaSizeOf follows FLBAS', () => {
  assert.equal(lbaSizeOf(NS), 4096);
  assert.equal(lbaSizeOf({ ...NS, flbas: 0 }), 512);
  assert.equal(lbaSizeOf({ ...NS, flbas: 0x10 }), 512); // bit4 is the metadata flag, not the index
  assert.throws(() => lbaSizeOf({ ...NS, flbas: 2 }), isArgError);
});

test('identify namespace - FLBAS bits 6:5 extend the format index', () => {
  assert.equal(flbasIndex(0x21), 17);
  assert.equal(flbasIndex(0x6f), 63);
});

test('identify namespace - NLBAF disagreeing with the table, or no table, is refused', () => {
  assert.throws(() => encodeIdentifyNamespace({ ...NS, nlbaf: 0 }), isArgError);
  assert.throws(() => encodeIdentifyNamespace({ lbaf: [] }), isArgError);
  assert.throws(() => encodeIdentifyNamespace({ lbaf: [{ ms: 0, lbads: 9, rp: 4 }] }), isArgError);
});

test('identify namespace - bad input to the parser', () => {
  assert.throws(() => parseIdentifyNamespace(Buffer.alloc(100)), isArgError);
  const b = encodeIdentifyNamespace(NS);
  b[25] = 64; // NLBAF beyond the 64-entry table
  assert.throws(() => parseIdentifyNamespace(b), RangeError);
  const big = encodeIdentifyNamespace(NS);
  big.writeUInt32LE(0x0020_0000, 4); // NSZE >= 2^53
  assert.throws(() => parseIdentifyNamespace(big), RangeError);
});

test('identify ns cs-indep - round trip and NSTAT @14', () => {
  const v = { nsfeat: 1, nmic: 1, rescap: 0x3f, fpi: 0x80, anagrpid: 0x01020304, nsattr: 1, nvmsetid: 5, endgid: 6, nstat: 1 };
  const b = encodeIdentifyNsIndep(v);
  assert.equal(b[14], 1);
  assert.equal(b.readUInt32LE(4), 0x01020304);
  assert.deepEqual(parseIdentifyNsIndep(b), v);
  assert.throws(() => parseIdentifyNsIndep(Buffer.alloc(16)), isArgError);
});

test('active ns list - NSIDs above afterNsid, ascending, deduplicated, zero terminated', () => {
  const b = encodeActiveNsList([7, 2, 5, 2, 9], 2);
  assert.deepEqual(b.subarray(0, 16), Buffer.from('05000000070000000900000000000000', 'hex'));
  assert.ok(b.subarray(12).every((x) => x === 0));
  assert.deepEqual(parseActiveNsList(b), [5, 7, 9]);
});

test('active ns list - at most 1024 entries; parse of a full list', () => {
  const ids = Array.from({ length: 1100 }, (_, i) => i + 1);
  const b = encodeActiveNsList(ids, 0);
  assert.equal(b.readUInt32LE(4092), 1024);
  assert.deepEqual(parseActiveNsList(b), ids.slice(0, 1024));
  assert.deepEqual(parseActiveNsList(encodeActiveNsList(ids, 1024)), ids.slice(1024));
});

test('active ns list - bad input', () => {
  assert.throws(() => encodeActiveNsList([2 ** 32], 0), isArgError);
  assert.throws(() => parseActiveNsList(Buffer.alloc(4000)), isArgError);
});

test('ns descriptor list - byte layout: EUI64, NGUID, UUID, CSI, then NIDL 0', () => {
  const d = { eui64: bytes(8, 0x30), nguid: bytes(16, 0x10), uuid: bytes(16, 0x50), csi: 0 };
  const b = encodeNsDescList(d);
  assert.equal(b.length, 4096);
  assert.deepEqual(b.subarray(0, 4), Buffer.from('01080000', 'hex'));
  assert.deepEqual(b.subarray(4, 12), d.eui64);
  assert.deepEqual(b.subarray(12, 16), Buffer.from('02100000', 'hex'));
  assert.deepEqual(b.subarray(16, 32), d.nguid);
  assert.deepEqual(b.subarray(32, 36), Buffer.from('03100000', 'hex'));
  assert.deepEqual(b.subarray(36, 52), d.uuid);
  assert.deepEqual(b.subarray(52, 57), Buffer.from('0401000000', 'hex'));
  assert.ok(b.subarray(57).every((x) => x === 0));
  assert.deepEqual(parseNsDescList(b), d);
});

test('ns descriptor list - only the descriptors given', () => {
  const b = encodeNsDescList({ nguid: bytes(16, 1) });
  assert.deepEqual(b.subarray(0, 4), Buffer.from('02100000', 'hex'));
  assert.equal(b[20], 0);
  assert.deepEqual(parseNsDescList(b), { nguid: bytes(16, 1) });
  assert.throws(() => encodeNsDescList({ uuid: Buffer.alloc(8) }), isArgError);
});

test('ns descriptor list - unknown NIDT skipped; wrong NIDL or overrun is a RangeError', () => {
  const b = Buffer.alloc(64);
  b.set([0x09, 0x02, 0, 0, 0xaa, 0xbb, 0x04, 0x01, 0, 0, 0x02]);
  assert.deepEqual(parseNsDescList(b), { csi: 2 });
  const wrong = Buffer.alloc(64);
  wrong.set([0x02, 0x08]);
  assert.throws(() => parseNsDescList(wrong), RangeError);
  const overrun = Buffer.alloc(16);
  overrun.set([0x03, 0x10]);
  assert.throws(() => parseNsDescList(overrun), RangeError);
  assert.throws(() => parseNsDescList(Buffer.alloc(2)), isArgError);
});

test('identify parsers - random 4096-byte buffers decode or fail only with RangeError', () => {
  const rand = rng(0x5eed);
  for (let i = 0; i < 200; i++) {
    const b = Buffer.alloc(4096);
    // Mostly small bytes so that descriptor lists get long chains of short descriptors.
    for (let j = 0; j < 256; j++) b[j] = rand() < 0.5 ? Math.floor(rand() * 5) : Math.floor(rand() * 256);
    for (const parse of [parseIdentifyController, parseIdentifyNamespace, parseIdentifyNsIndep, parseActiveNsList, parseNsDescList]) {
      try {
        parse(b);
      } catch (e) {
        assert.ok(e instanceof RangeError, `${parse.name}: ${String(e)}`);
      }
    }
  }
});
