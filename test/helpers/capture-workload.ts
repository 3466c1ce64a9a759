// The NVMe/TCP session recorded in the capture fixtures (scripts/make-captures.ts) and
// in the live tshark comparison (test/interop/capture-tshark.test.ts): our host against
// our target over 127.0.0.1, two I/O queues, in-capsule and R2T writes, reads split in
// several C2HData PDUs, then a clean disconnect.
import { analyzeCapture } from '../../src/capture/index.ts';
import { NvmeController } from '../../src/host/index.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { Prng } from './prng.ts';

export const CAPTURE_NQN = 'nqn.2024-01.io.nvmeotcp:capture';

/** Reads the workload issues on namespace 1 (512-byte blocks): [lba, blocks]. */
export const CAPTURE_READS: readonly (readonly [number, number])[] = [
  [0, 8], // 4 KiB
  [64, 64], // 32 KiB: two C2HData PDUs of 16 KiB
  [0, 128], // 64 KiB: four
  [200, 16], // 8 KiB
];

export interface WorkloadOptions {
  hdgst: boolean;
  ddgst: boolean;
  /** Listen port (0: any free one). */
  port: number;
}

/** Starts the target on 127.0.0.1 and returns its port and a stop function. */
export async function startCaptureTarget(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const tgt = new NvmeTarget({
    inCapsuleDataSize: 4096,
    maxH2CData: 16384,
    c2hMaxData: 16384,
    subsystems: [{ nqn: CAPTURE_NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 1 << 20 }, lbaSize: 512 }] }],
  });
  const addr = await tgt.listen({ host: '127.0.0.1', port });
  return { port: addr.port, close: () => tgt.close() };
}

/** One session: connect, write 4 KiB in-capsule and 32 KiB through R2T, the reads above, disconnect. */
export async function runCaptureWorkload(port: number, o: { hdgst: boolean; ddgst: boolean }): Promise<void> {
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: CAPTURE_NQN, nrIoQueues: 2, ...o });
  try {
    const ns = ctrl.namespace(1);
    const rng = new Prng(7);
    await ns.write(0, rng.bytes(4096));
    await ns.write(64, rng.bytes(32768));
    for (const [lba, n] of CAPTURE_READS) await ns.read(lba, n);
  } finally {
    await ctrl.disconnect();
  }
}

/**
 * Throws unless every NVMe/TCP connection in the capture is there from its SYN to its end:
 * a FIN both ways, or a RST (nvmet-tcp completes the admin queue's outstanding Asynchronous
 * Event Request after our host has closed, and our host's kernel answers with a RST).
 * A fixture that lost a connection's start or end is useless.
 */
export async function assertCapturedWhole(file: string, name: string): Promise<void> {
  const res = await analyzeCapture(file);
  if (res.nvmeFlows.length === 0) throw new Error(`${name}: no NVMe/TCP connection captured`);
  for (const f of res.nvmeFlows) {
    if (!f.sides[0].reasm.synSeen || !((f.sides[0].fin && f.sides[1].fin) || f.rst)) {
      throw new Error(`${name}: flow ${f.describe()} not captured from SYN to FIN or RST; run again`);
    }
  }
}
