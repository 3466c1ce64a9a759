// The pcap/pcapng reader: both byte orders, µs/ns/binary timestamp resolutions,
// every packet block type, skipped blocks, several sections, input split anywhere,
// and a one-line error naming the offset for each kind of bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaptureError } from '../../../src/capture/errors.ts';
import { type CapturePacket, CaptureReader, LinkType } from '../../../src/capture/reader.ts';
import { block, epb, idb, opb, pcapFile, pcapngFile, type Rec, shb, spb } from '../../helpers/pcap-build.ts';

interface Got {
  index: number;
  fileOffset: number;
  linkType: number;
  interfaceId: number;
  data: string;
  origLen: number;
  tsSec: number;
  tsNsec: number;
}

/** Reads `file` fed in the given chunk sizes (cycled); copies each packet out. */
function read(file: Buffer, chunks: readonly number[] = [file.length]): { pkts: Got[]; reader: CaptureReader } {
  const pkts: Got[] = [];
  const reader = new CaptureReader((p: CapturePacket) => {
    pkts.push({
      index: p.index,
      fileOffset: p.fileOffset,
      linkType: p.linkType,
      interfaceId: p.interfaceId,
      data: p.buf.toString('hex', p.off, p.off + p.caplen),
      origLen: p.origLen,
      tsSec: p.tsSec,
      tsNsec: p.tsNsec,
    });
  });
  let i = 0;
  for (let off = 0; off < file.length; i++) {
    const n = Math.max(1, chunks[i % chunks.length]);
    // A chunk the caller reuses: the reader must copy whatever it keeps.
    const chunk = Buffer.from(file.subarray(off, off + n));
    reader.push(chunk);
    chunk.fill(0xee);
    off += n;
  }
  reader.end();
  return { pkts, reader };
}

const RECS: Rec[] = [
  { data: Buffer.from('00112233445566', 'hex'), tsSec: 1_700_000_000, tsNsec: 123_456_789 },
  { data: Buffer.alloc(0), origLen: 60, tsSec: 1_700_000_001, tsNsec: 999_999_999 },
  { data: Buffer.from('abcdef', 'hex'), origLen: 1514, tsSec: 0xfffffff0, tsNsec: 1000 },
];

for (const le of [true, false]) {
  for (const ns of [false, true]) {
    test(`reader - pcap ${le ? 'little' : 'big'}-endian, ${ns ? 'ns' : 'µs'} timestamps`, () => {
      const file = pcapFile(LinkType.LINUX_SLL, RECS, { le, ns });
      const { pkts, reader } = read(file);
      assert.equal(reader.format, 'pcap');
      assert.deepEqual(reader.linkTypes, [LinkType.LINUX_SLL]);
      assert.equal(pkts.length, 3);
      let off = 24;
      RECS.forEach((r, i) => {
        const p = pkts[i];
        assert.equal(p.index, i + 1);
        assert.equal(p.fileOffset, off);
        assert.equal(p.linkType, LinkType.LINUX_SLL);
        assert.equal(p.data, r.data.toString('hex'));
        assert.equal(p.origLen, r.origLen ?? r.data.length);
        assert.equal(p.tsSec, r.tsSec);
        assert.equal(p.tsNsec, ns ? r.tsNsec : Math.floor((r.tsNsec ?? 0) / 1000) * 1000);
        off += 16 + r.data.length;
      });
      assert.equal(reader.stats.bytes, file.length);
    });
  }
}

test('reader - pcap link-type word: the FCS bits (26, 28-31) are not part of the link type', () => {
  const file = pcapFile(LinkType.ETHERNET | 0x1000_0000 | 0x0400_0000, RECS.slice(0, 1));
  assert.equal(read(file).pkts[0].linkType, LinkType.ETHERNET);
});

for (const le of [true, false]) {
  for (const [name, tsresol] of [
    ['µs (no if_tsresol)', undefined],
    ['ns (if_tsresol 9)', 9],
    ['2^-30 (if_tsresol 0x9e)', 0x9e],
    ['ms (if_tsresol 3)', 3],
  ] as const) {
    test(`reader - pcapng ${le ? 'little' : 'big'}-endian, timestamps in ${name}`, () => {
      const file = pcapngFile(LinkType.ETHERNET, RECS, { le, tsresol });
      const { pkts, reader } = read(file);
      assert.equal(reader.format, 'pcapng');
      assert.equal(pkts.length, 3);
      const units = tsresol === undefined ? 1e6 : tsresol & 0x80 ? 2 ** (tsresol & 0x7f) : 10 ** tsresol;
      RECS.forEach((r, i) => {
        assert.equal(pkts[i].data, r.data.toString('hex'));
        assert.equal(pkts[i].origLen, r.origLen ?? r.data.length);
        assert.equal(pkts[i].tsSec, r.tsSec, `packet ${i + 1} seconds`);
        // The file holds floor(ns * units / 1e9) units; reading back gives floor(units * 1e9 / units).
        const stored = BigInt(Math.floor(((r.tsNsec ?? 0) * units) / 1e9));
        const want = Number((stored * 1_000_000_000n) / BigInt(units));
        assert.equal(pkts[i].tsNsec, want, `packet ${i + 1} nanoseconds`);
      });
    });
  }
}

test('reader - pcapng: SPB, OPB, skipped blocks, if_tsoffset, several interfaces and sections', () => {
  const a = Buffer.from('0a0b0c0d0e', 'hex');
  const b = Buffer.from('f0f1f2f3f4f5f6f7', 'hex');
  const file = Buffer.concat([
    shb(true, [[4, Buffer.from('test')]]),
    idb(true, LinkType.ETHERNET, { snaplen: 4 }),
    spb(true, a, 100), // cut to the interface's snaplen 4
    block(4, Buffer.alloc(8), true), // NRB: skipped
    idb(true, LinkType.LINUX_SLL2, { tsresol: 9, tsoffset: 100 }),
    epb(true, { data: b, iface: 1, tsSec: 5, tsNsec: 7 }, 1_000_000_000n),
    opb(true, { data: a, iface: 0, tsSec: 3, tsNsec: 4000 }),
    block(5, Buffer.alloc(16), true), // ISB: skipped
    block(0x40000bad, Buffer.alloc(4), true), // custom block: skipped
    // A second section, big-endian, whose interface 0 is another link type.
    shb(false),
    idb(false, LinkType.NULL),
    epb(false, { data: b, tsSec: 9, tsNsec: 1000 }),
  ]);
  const { pkts, reader } = read(file);
  assert.deepEqual(
    pkts.map((p) => [p.index, p.linkType, p.interfaceId, p.data, p.origLen, p.tsSec, p.tsNsec]),
    [
      [1, LinkType.ETHERNET, 0, '0a0b0c0d', 100, 0, 0],
      [2, LinkType.LINUX_SLL2, 1, b.toString('hex'), 8, 105, 7],
      [3, LinkType.ETHERNET, 0, a.toString('hex'), 5, 3, 4000],
      [4, LinkType.NULL, 0, b.toString('hex'), 8, 9, 1000],
    ],
  );
  assert.equal(reader.stats.sections, 2);
  assert.equal(reader.stats.skippedBlocks, 3);
  assert.deepEqual(reader.linkTypes, [LinkType.NULL]);
});

test('reader - a file split at every byte (and fed byte by byte) reads the same', () => {
  for (const file of [
    pcapFile(LinkType.ETHERNET, RECS, { le: false, ns: true }),
    Buffer.concat([pcapngFile(LinkType.ETHERNET, RECS, { tsresol: 9 }), shb(false), idb(false, 1), spb(false, Buffer.from('0102', 'hex'))]),
  ]) {
    const whole = read(file).pkts;
    assert.ok(whole.length >= 3);
    for (let cut = 1; cut < file.length; cut++) {
      assert.deepEqual(read(file, [cut, file.length]).pkts, whole, `split at ${cut}`);
    }
    assert.deepEqual(read(file, [1]).pkts, whole, 'byte by byte');
    assert.deepEqual(read(file, [3, 7, 1, 64]).pkts, whole, 'uneven chunks');
  }
});

test('reader - a packet record larger than the scratch buffer, spanning many chunks', () => {
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const file = pcapngFile(LinkType.ETHERNET, [{ data: big }, { data: Buffer.from('01', 'hex') }]);
  const { pkts } = read(file, [4096]);
  assert.equal(pkts[0].data, big.toString('hex'));
  assert.equal(pkts[1].data, '01');
});

/** Runs a read that must fail; returns the error. */
function fails(file: Buffer, chunks?: number[]): CaptureError {
  let err: unknown;
  try {
    read(file, chunks);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CaptureError, `expected a CaptureError, got ${String(err)}`);
  assert.equal(err.code, 'NVMEOTCP_ERR_CAPTURE');
  assert.ok(!err.message.includes('\n'), 'one line');
  return err;
}

test('reader - bad input: one line naming the problem and the offset', () => {
  const pcap = pcapFile(LinkType.ETHERNET, RECS);
  const ng = pcapngFile(LinkType.ETHERNET, RECS);
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /^empty input: no capture data$/],
    [
      'wrong magic',
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      /^not a pcap or pcapng file: magic 0x47455420 .* at offset 0x0 \(0\)$/,
    ],
    ['short wrong magic', Buffer.from('abcdef'), /^not a pcap or pcapng file: magic 0x61626364/],
    ['file header cut', pcap.subarray(0, 10), /^truncated capture: file ends after 10 bytes, inside the file header at offset 0x0/],
    [
      'record header cut',
      pcap.subarray(0, 24 + 9),
      /^truncated capture: pcap record header cut after 9 of 16 bytes at offset 0x18 \(24\)$/,
    ],
    ['record data cut', pcap.subarray(0, 24 + 16 + 3), /^truncated capture: pcap record of 23 bytes cut after 19 at offset 0x18 \(24\)$/],
    ['block cut', ng.subarray(0, ng.length - 5), /^truncated capture: pcapng block of \d+ bytes cut after \d+ at offset 0x/],
    [
      'bad byte-order magic',
      Buffer.concat([ng.subarray(0, 8), Buffer.from('11223344', 'hex'), ng.subarray(12)]),
      /byte-order magic 0x44332211 at offset 0x8 \(8\)$/,
    ],
  ];
  for (const [name, file, re] of cases) {
    assert.match(fails(file).message, re, name);
    if (file.length > 1) assert.match(fails(file, [1]).message, re, `${name}, byte by byte`);
  }
});

test('reader - corrupt lengths and references are refused before any allocation', () => {
  const pcap = pcapFile(LinkType.ETHERNET, RECS);
  const huge = Buffer.from(pcap);
  huge.writeUInt32LE(0x7fff_ffff, 24 + 8);
  assert.match(fails(huge).message, /^corrupt pcap record: captured length 2147483647 exceeds 16777216 bytes at offset 0x18/);

  const le = true;
  const odd = Buffer.concat([shb(le), idb(le, 1)]);
  const bad = Buffer.concat([odd, Buffer.from('06000000 0d000000'.replace(/ /g, ''), 'hex'), Buffer.alloc(8)]);
  assert.match(fails(bad).message, /^corrupt pcapng block: total length 13 at offset/);

  const trail = Buffer.concat([odd, epb(le, { data: Buffer.from('01', 'hex') })]);
  trail.writeUInt32LE(99, trail.length - 4);
  assert.match(fails(trail).message, /trailing length 99 differs from \d+ at offset/);

  const noIf = Buffer.concat([shb(le), epb(le, { data: Buffer.from('01', 'hex'), iface: 2 })]);
  assert.match(fails(noIf).message, /interface 2, but the section has 0 at offset 0x1c \(28\)$/);

  const capTooBig = Buffer.concat([odd, epb(le, { data: Buffer.from('01020304', 'hex') })]);
  capTooBig.writeUInt32LE(1000, odd.length + 20);
  assert.match(fails(capTooBig).message, /captured length 1000 in a block of \d+ at offset/);

  const v2 = shb(le);
  v2.writeUInt16LE(2, 12);
  assert.match(fails(v2).message, /^unsupported pcapng version 2\.0 at offset 0x0/);
});
