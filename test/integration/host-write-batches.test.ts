// The write convoy (issue 14): a host that sends everything one event-loop turn queued
// in one socket write turns a burst of N completions into a burst of N commands, which
// a target that reads all it has answers as one burst again: host and target take
// turns (against our own target, 62 of QD 64 4 KiB writes per socket write) and each
// idles while the other handles the convoy. The host bounds its batches (HOST_FLUSH_AT)
// so that this cannot happen whatever the target's reads: checked here against our
// target (reads all there is) and one that reads like SPDK's (one PDU part per read),
// in counts of socket writes, not in time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixedReads, type FixedReadPlacement } from '../../bench/fixed-read.ts';
import { NvmeController } from '../../src/host/index.ts';
import { HOST_FLUSH_AT } from '../../src/host/queue.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import type { RxPlacementFactory } from '../../src/transport/reader.ts';
import { runWorkload } from '../../src/workload/workload.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:batches';
const REGION = 4 << 20;
const BS = 4096;
const QD = 64;
const OPS = 4000;
/** A 4 KiB write with in-capsule data: CapsuleCmd header (72) + data. */
const CAPSULE = 72 + BS;

async function run(t: import('node:test').TestContext, rxPlacement?: RxPlacementFactory) {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, allowAnyHost: true, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: REGION } }] }],
    maxRamSize: REGION,
    rxPlacement,
  });
  t.after(() => tgt.close());
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, queueSize: 128 });
  t.after(() => ctrl.disconnect());
  const ns = ctrl.namespace(1);
  const w0 = ctrl.ioWriteBatches();
  const r = await runWorkload(ns, { rw: 'randwrite', bs: BS, iodepth: QD, totalBytes: OPS * BS, regionBytes: REGION });
  assert.equal(r.error, undefined);
  assert.equal(r.writeOps, OPS);
  return { writes: ctrl.ioWriteBatches() - w0, ops: r.writeOps };
}

// A batch is handed over at the end of the PDU that reaches HOST_FLUSH_AT bytes.
const MAX_PER_WRITE = Math.ceil(HOST_FLUSH_AT / CAPSULE);

test('host write batches - against a target that reads all it has, 4 KiB writes at QD64 go out in batches of at most HOST_FLUSH_AT', async (t) => {
  const { writes, ops } = await run(t);
  assert.ok(ops / writes <= MAX_PER_WRITE, `${(ops / writes).toFixed(1)} commands per socket write, at most ${MAX_PER_WRITE} expected`);
});

test('host write batches - against a target that reads one PDU part at a time (SPDK-like), the same bound', async (t) => {
  const made: FixedReadPlacement[] = [];
  const { writes, ops } = await run(t, fixedReads(undefined, made));
  assert.ok(ops / writes <= MAX_PER_WRITE, `${(ops / writes).toFixed(1)} commands per socket write, at most ${MAX_PER_WRITE} expected`);
  // The target really read one PDU part per read: a CapsuleCmd with data is CH, the rest of its header, the data.
  const io = made.at(-1)!;
  assert.ok(io.reads >= 3 * ops, `${io.reads} reads for ${ops} writes`);
});
