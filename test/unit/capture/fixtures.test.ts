// Captures of our host against our target on loopback (test/fixtures/captures/, made by
// scripts/make-captures.ts): what the analyzer finds must be what Debian's tshark 4.0.17
// finds in the same files. Every expected number below was taken from tshark:
//   tshark -r F [-d tcp.port==36635,nvme-tcp] -Y nvme-tcp -T fields -e tcp.stream -e tcp.srcport -e nvme-tcp.type
//   tshark -r F ... -Y 'nvme.cmd.opc == 2 && nvme-tcp.cmd.qid > 0' -T fields -e tcp.stream -e nvme.cmd.cid -e nvme.cmd.nlb
//   tshark -r F -Y tcp.analysis.retransmission -T fields -e tcp.stream -e tcp.len
//   tshark -r F -Y tcp -T fields -e frame.len -e frame.cap_len -e tcp.len   (summed, for the snaplen cut)
// (test/interop/capture-tshark.test.ts runs tshark itself on these files and on new captures.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type AnalyzeResult, analyzeCapture, Dir } from '../../../src/capture/index.ts';
import { PduType } from '../../../src/protocol/constants.ts';

const DIR = fileURLToPath(new URL('../../fixtures/captures/', import.meta.url));

const T = PduType;
/** tshark's PDU counts per TCP stream (0-based, = our flow id - 1) and direction, both sessions alike. */
const TSHARK_PDUS: Record<string, number>[] = [
  { [`h2c ${T.ICReq}`]: 1, [`h2c ${T.CapsuleCmd}`]: 12, [`c2h ${T.ICResp}`]: 1, [`c2h ${T.CapsuleResp}`]: 12, [`c2h ${T.C2HData}`]: 3 },
  { [`h2c ${T.ICReq}`]: 1, [`h2c ${T.CapsuleCmd}`]: 4, [`c2h ${T.ICResp}`]: 1, [`c2h ${T.CapsuleResp}`]: 4, [`c2h ${T.C2HData}`]: 5 },
  {
    [`h2c ${T.ICReq}`]: 1,
    [`h2c ${T.CapsuleCmd}`]: 4,
    [`h2c ${T.H2CData}`]: 2,
    [`c2h ${T.ICResp}`]: 1,
    [`c2h ${T.CapsuleResp}`]: 4,
    [`c2h ${T.C2HData}`]: 3,
    [`c2h ${T.R2T}`]: 1,
  },
];
/** tshark's I/O-queue reads: stream, CID, blocks of 512 bytes. */
const TSHARK_READS: [number, number, number][] = [
  [1, 0x0002, 8],
  [2, 0x0002, 64],
  [1, 0x0003, 128],
  [2, 0x0003, 16],
];

interface Found {
  res: AnalyzeResult;
  pdus: Record<string, number>[];
  reads: [number, number, number][];
  segments: number;
}

async function run(src: string | NodeJS.ReadableStream): Promise<Found> {
  const reads: [number, number, number][] = [];
  let segments = 0;
  const res = await analyzeCapture(src as string, {
    command: (f, c) => {
      if (c.isRead) reads.push([f.id - 1, c.cid, c.sglLen / 512]);
    },
    segment: () => {
      segments++;
    },
  });
  const pdus = res.nvmeFlows.map((f) => {
    const c: Record<string, number> = {};
    for (const dir of [Dir.H2C, Dir.C2H]) {
      f.side(dir)!.pduCounts.forEach((n, type) => {
        if (n > 0) c[`${dir === Dir.H2C ? 'h2c' : 'c2h'} ${type}`] = n;
      });
    }
    return c;
  });
  return { res, pdus, reads, segments };
}

for (const [file, format, port, detectedBy, dgst] of [
  ['plain-4420.pcapng', 'pcapng', 4420, 'port', 0],
  ['plain-4420.pcap', 'pcap', 4420, 'port', 0],
  ['digests.pcapng', 'pcapng', 36635, 'icreq', 3],
  ['digests-ns.pcap', 'pcap', 36635, 'icreq', 3],
] as const) {
  test(`fixtures - ${file}: the PDUs and READ commands tshark finds`, async () => {
    const { res, pdus, reads } = await run(join(DIR, file));
    assert.equal(res.format, format);
    assert.equal(res.tcpFlows, 3);
    assert.equal(res.decode.tcp, file.startsWith('plain') ? 79 : 80, 'tshark -Y tcp frames');
    assert.deepEqual(pdus, TSHARK_PDUS);
    assert.deepEqual(reads, TSHARK_READS);
    for (const f of res.nvmeFlows) {
      assert.equal(f.detectedBy, detectedBy);
      assert.equal(f.port[1 - f.hostSide], port);
      assert.equal(f.dgst, dgst);
      assert.equal(f.closed, true);
      for (const s of f.sides) {
        assert.equal(s.reasm.synSeen, true);
        assert.equal(s.reasm.stats.gaps, 0);
        assert.equal(s.scan.desyncs, 0);
      }
    }
    assert.deepEqual(
      res.nvmeFlows.map((f) => f.qid),
      [0, 1, 2],
    );
    // tshark flags one retransmission in the digests session: 12956 bytes on stream 1.
    const dups = res.nvmeFlows.map((f) => [f.c2h!.reasm.stats.dupSegments, f.c2h!.reasm.stats.dupBytes]);
    assert.deepEqual(
      dups,
      file.startsWith('digests')
        ? [
            [0, 0],
            [1, 12956],
            [0, 0],
          ]
        : [
            [0, 0],
            [0, 0],
            [0, 0],
          ],
    );
  });
}

test('fixtures - the same file as a path, as a stream in small chunks (stdin-like): the same result', async () => {
  const path = join(DIR, 'digests.pcapng');
  const a = await run(path);
  const b = await run(createReadStream(path, { highWaterMark: 1000 }));
  assert.deepEqual(b.pdus, a.pdus);
  assert.deepEqual(b.reads, a.reads);
  assert.equal(b.segments, a.segments);
  assert.equal(a.segments, 51);
});

test('fixtures - digests-snap128.pcap: cut at 128 bytes, the flows are still found and the missing bytes counted', async () => {
  const { res } = await run(join(DIR, 'digests-snap128.pcap'));
  assert.equal(res.nvmeFlows.length, 3);
  for (const f of res.nvmeFlows) assert.equal(f.detectedBy, 'icreq', 'by the CH of the cut ICReq');
  // tshark, over TCP frames: sum(frame.len - frame.cap_len) = 176394, sum(tcp.len) = 179080.
  assert.equal(res.decode.missingPayload, 176394);
  const captured = res.nvmeFlows.reduce((n, f) => n + f.sides[0].bytes + f.sides[1].bytes, 0);
  assert.equal(captured + res.decode.missingPayload, 179080);
  // Only the CapsuleResps, R2T and H2C/C2HData headers fit in the 62 payload bytes left: a
  // CapsuleCmd (72 bytes + digest) and the 128-byte ICs never do.
  for (const f of res.nvmeFlows) {
    assert.equal(f.h2c!.pduCounts[PduType.CapsuleCmd], 0);
    assert.ok(f.h2c!.scan.cutHeaders > 0);
  }
});

test("fixtures - '-' reads stdin: a capture piped into a child process", async (t) => {
  const code = [
    "import { analyzeCapture } from './src/capture/index.ts';",
    "const r = await analyzeCapture('-');",
    'console.log(JSON.stringify([r.format, r.packets, r.nvmeFlows.map((f) => f.commands)]));',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill());
  createReadStream(join(DIR, 'plain-4420.pcap'), { highWaterMark: 4096 }).pipe(child.stdin);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d;
  });
  const status = await new Promise<number | null>((res) => child.on('close', res));
  assert.equal(status, 0, err);
  assert.deepEqual(JSON.parse(out), ['pcap', 96, [12, 4, 4]]);
});
