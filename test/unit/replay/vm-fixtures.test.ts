// replayCapture on the Linux kernel captures (test/fixtures/captures/linux-*.pcapng, made
// by scripts/make-vm-captures.ts in the interop VM: Debian's 6.1 kernel): its nvme-tcp host
// against our target, and our host against its nvmet-tcp target, each with one admin and
// one I/O queue, digests off and on. Exact values, as captured and re-cut at MSS 1448.
//
// The files were captured on lo, the host side of qemu's user-mode network (slirp): the
// NVMe/TCP bytes are the kernel's, but the TCP segments are this machine's kernel's, not
// the guest's (slirp carries the stream over a socket of its own). So "as captured" is
// loopback segmentation (up to 64 KiB a segment towards the kernel host; towards our host
// mostly slirp's writes of 1460 bytes, some coalesced), and only --mss 1448 models a link.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { replayCapture } from '../../../src/replay/replay.ts';

const DIR = join(import.meta.dirname, '../../fixtures/captures');

/** sk_add, ddp_setup, ddp_teardown, resync, packets, bytes, rx_packets, rx_bytes of the totals. */
const pick = (c: Record<string, number>) => [
  c.rx_nvmeotcp_sk_add,
  c.rx_nvmeotcp_ddp_setup,
  c.rx_nvmeotcp_ddp_teardown,
  c.rx_nvmeotcp_resync,
  c.rx_nvmeotcp_packets,
  c.rx_nvmeotcp_bytes,
  c.rx_packets,
  c.rx_bytes,
];

interface Expected {
  nqn: string;
  captured: number[];
  mss1448: number[];
  /** The I/O queue's READs: [CID, bytes, handed to the device]. */
  reads: [number, number, boolean][];
  pdus: { h2c: Record<string, number>; c2h: Record<string, number> };
}

const KERNEL_HOST_PDUS = {
  // 33 commands, 32 responses: the Asynchronous Event Request is still outstanding at disconnect.
  h2c: { ICReq: 2, CapsuleCmd: 33, H2CData: 1 },
  c2h: { ICResp: 2, CapsuleResp: 32, C2HData: 17, R2T: 1 },
};
const KERNEL_TARGET_PDUS = {
  // nvmet completes our AER after our host closed the admin queue (that socket answers with a RST).
  h2c: { ICReq: 2, CapsuleCmd: 21, H2CData: 1 },
  c2h: { ICResp: 2, CapsuleResp: 21, C2HData: 7, R2T: 1 },
};
const OURS = 'nqn.2024-01.io.nvmeotcp:vm-capture';
const NVMET = 'nqn.2024-01.io.nvmeotcp:kernel-target';

const EXPECTED: Record<string, Expected> = {
  // The kernel host: the partition scan's 4 KiB read, then dd's 4, 32, 128 and 512 KiB;
  // our target's MDTS (128 KiB) makes the kernel split the 512 KiB read in four. Reads of
  // 32 KiB and more reach io_threshold: 6 of 8, 688128 bytes.
  'linux-host-plain.pcapng': {
    nqn: OURS,
    captured: [1, 6, 6, 0, 14, 662720, 19, 696776],
    mss1448: [1, 6, 6, 0, 477, 683880, 482, 696776],
    reads: [
      [1, 4096, false],
      [2, 4096, false],
      [3, 32768, true],
      [4, 131072, true],
      [5, 131072, true],
      [6, 131072, true],
      [7, 131072, true],
      [8, 131072, true],
    ],
    pdus: KERNEL_HOST_PDUS,
  },
  // Digests: the same session; the kernel picked other CIDs (its blk-mq tags).
  'linux-host-digests.pcapng': {
    nqn: OURS,
    captured: [1, 6, 6, 0, 16, 635628, 21, 696884],
    mss1448: [1, 6, 6, 0, 477, 684220, 482, 696884],
    reads: [
      [49, 4096, false],
      [50, 4096, false],
      [51, 32768, true],
      [52, 131072, true],
      [53, 131072, true],
      [54, 131072, true],
      [55, 131072, true],
      [56, 131072, true],
    ],
    pdus: KERNEL_HOST_PDUS,
  },
  // Our host against nvmet (MDTS unlimited): the four reads as issued, 3 offloadable; the
  // 1460-byte segments carry one PDU each, so every placeable byte is placed.
  'linux-target-plain.pcapng': {
    nqn: NVMET,
    captured: [1, 3, 3, 0, 449, 688128, 455, 692488],
    mss1448: [1, 3, 3, 0, 477, 686456, 479, 692488],
    reads: [
      [1, 4096, false],
      [2, 32768, true],
      [3, 131072, true],
      [4, 524288, true],
    ],
    pdus: KERNEL_TARGET_PDUS,
  },
  'linux-target-digests.pcapng': {
    nqn: NVMET,
    captured: [1, 3, 3, 0, 465, 688128, 475, 692548],
    mss1448: [1, 3, 3, 0, 477, 686532, 479, 692548],
    reads: [
      [1, 4096, false],
      [2, 32768, true],
      [3, 131072, true],
      [4, 524288, true],
    ],
    pdus: KERNEL_TARGET_PDUS,
  },
};

for (const [name, want] of Object.entries(EXPECTED)) {
  test(`replay vm fixtures - ${name}: counters as captured and at MSS 1448, flows, PDUs, READs, CRC`, async () => {
    const file = join(DIR, name);
    const trace: Record<string, number | boolean>[] = [];
    const r = await replayCapture(file, { trace: (l) => trace.push(JSON.parse(l)) });
    assert.deepEqual(pick(r.total.counters), want.captured);
    const m = await replayCapture(file, { mss: 1448 });
    assert.deepEqual(pick(m.total.counters), want.mss1448);
    const c = r.total.counters;
    assert.deepEqual([c.rx_nvmeotcp_sk_add_fail, c.rx_nvmeotcp_sk_del, c.rx_nvmeotcp_ddp_setup_fail, c.rx_nvmeotcp_drop], [0, 1, 0, 0]);
    assert.deepEqual(
      r.flows.map((f) => [f.id, f.qid, f.subnqn, f.offloaded, f.reads, f.eligibleReads]),
      [
        [1, 0, want.nqn, false, 0, 0],
        [2, 1, want.nqn, true, want.reads.length, want.reads.filter((x) => x[2]).length],
      ],
    );
    assert.deepEqual(r.total.pdus, want.pdus);
    assert.deepEqual([r.snaplenCut, r.total.gapBytes, r.total.missingBytes], [0, 0, 0]);
    assert.deepEqual(
      trace.filter((x) => 'read_cid' in x).map((x) => [x.flow, x.read_cid, x.read_len, x.ddp]),
      want.reads.map(([cid, len, ddp]) => [2, cid, len, ddp]),
    );
    // Nothing lost, reordered or retransmitted on lo: no resync, and the placed bytes are
    // at most the offloadable READs' data.
    const offloadable = want.reads.filter((x) => x[2]).reduce((n, x) => n + x[1], 0);
    assert.equal(offloadable, 688128);
    assert.ok(c.rx_nvmeotcp_bytes <= offloadable && m.total.counters.rx_nvmeotcp_bytes <= offloadable);
    // The trace: one line per segment fed (rx_packets), the placed ones sum to rx_nvmeotcp_bytes;
    // with digests the device checked every segment's CRC (mlx5: DDP and CRC-rx together).
    const segs = trace.filter((x) => 'seq' in x);
    assert.equal(segs.length, c.rx_packets);
    assert.equal(
      segs.reduce((n, x) => n + ((x.cclen as number | undefined) ?? 0), 0),
      c.rx_nvmeotcp_bytes,
    );
    assert.equal(segs.filter((x) => x.cclen).length, c.rx_nvmeotcp_packets);
    assert.deepEqual([...new Set(segs.map((x) => x.crc))], [name.includes('digests')]);
  });
}
