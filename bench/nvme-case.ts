// One NVMe/TCP benchmark case: our target in a child process, our host in this
// process running a workload; CPU seconds of each side, RSS and latency percentiles.
import { randomBytes } from 'node:crypto';
import { NvmeController } from '../src/host/index.ts';
import { createSocketDevice } from '../src/offload/socket-device.ts';
import { formatPskInterchange, PskHash } from '../src/protocol/tls-psk.ts';
import { type RwMode, runWorkload } from '../src/workload/workload.ts';
import { BENCH_NQN, cpuSince, type Peer, spawnPeer } from './proc.ts';

export interface CaseSpec {
  rw: RwMode;
  bs: number;
  iodepth: number;
  queues: number;
  digests: boolean;
  offload: boolean;
  seconds: number;
  /** Unmeasured run of the same workload before the window (default 1 s). */
  rampSeconds?: number;
  /** Both sides busy-poll (host ConnectOptions.poll, target TargetOptions.poll). */
  poll?: boolean;
  /** Connect with SQ flow control disabled. */
  disableSqFlow?: boolean;
  /** Bytes of the namespace the workload covers (default DEFAULT_REGION). */
  region?: number;
  /** The target reads like SPDK's (bench/fixed-read.ts). */
  fixedRead?: boolean;
  /** Pin host and target to these CPUs (taskset). */
  cpus?: [number, number];
  /** TLS 1.3 (PSK, TLS_AES_128_GCM_SHA256) on every queue; no offload then. */
  tls?: boolean;
}

export interface CaseResult {
  mbps: number;
  iops: number;
  p50us: number;
  p99us: number;
  hostCpuPerGB: number;
  targetCpuPerGB: number;
  hostRssMB: number;
  targetRssMB: number;
  placedBytes: number;
  readBytes: number;
  /** Commands per socket write of the host's I/O queues over the window. */
  cmdsPerWrite: number;
}

/** Default region: 256 MiB, random offsets across it (cold in the CPU caches, as a RAM disk's reads are). */
export const DEFAULT_REGION = 256 << 20;

/** Runs just around the measured window (the profiler uses them); the window's CPU includes them. */
export interface WindowHooks {
  before(peer: Peer): Promise<void>;
  after(peer: Peer): Promise<void>;
}

export async function runCase(c: CaseSpec, hooks?: WindowHooks): Promise<CaseResult> {
  const REGION = c.region ?? DEFAULT_REGION;
  const tlsKey = c.tls === true ? formatPskInterchange({ hash: PskHash.Sha256, key: randomBytes(32) }) : undefined;
  const peer = await spawnPeer(
    'target-peer.ts',
    [String(REGION), '512', c.poll ? 'poll' : 'nopoll', c.fixedRead ? 'fixed' : 'ours', tlsKey ?? 'notls'],
    c.cpus?.[1],
  );
  const dev = c.offload ? createSocketDevice() : undefined;
  try {
    const ctrl = await NvmeController.connect({
      traddr: '127.0.0.1',
      trsvcid: peer.port,
      subnqn: BENCH_NQN,
      nrIoQueues: c.queues,
      queueSize: Math.max(64, c.iodepth + 1),
      hdgst: c.digests,
      ddgst: c.digests,
      disableSqFlow: c.disableSqFlow === true,
      poll: c.poll === true,
      ...(dev ? { offload: dev } : {}),
      ...(tlsKey ? { tlsKey } : {}),
    });
    const ns = ctrl.namespace(1);
    // Write the region once before measuring: reads of never-written RAM return
    // zeros without touching memory on the target, and the first write of each
    // page faults it in (about 10 µs per 4 KiB page on this VM), which a RAM disk
    // that allocates up front (SPDK's malloc bdev) never pays in its measurements.
    await runWorkload(ns, { rw: 'write', bs: 1 << 20, iodepth: 4, regionBytes: REGION });
    // Ramp (fio's ramp_time): the same workload, unmeasured, so both fresh processes have
    // compiled the path and grown their heaps before the window opens.
    const ramp = c.rampSeconds ?? 1;
    if (ramp > 0)
      await runWorkload(ns, {
        rw: c.rw,
        bs: c.bs,
        iodepth: c.iodepth,
        runtimeMs: ramp * 1000,
        timeBased: true,
        regionBytes: REGION,
        seed: 2,
      });
    // Placed bytes of the window only (the prefill and the ramp placed some too).
    const placed0 = dev?.getStats().rx_nvmeotcp_bytes ?? 0;
    await hooks?.before(peer);
    const tcpu0 = await peer.cpu();
    const cpu0 = process.cpuUsage();
    const writes0 = ctrl.ioWriteBatches();
    const r = await runWorkload(ns, {
      rw: c.rw,
      bs: c.bs,
      iodepth: c.iodepth,
      runtimeMs: c.seconds * 1000,
      timeBased: true,
      regionBytes: REGION,
    });
    const hostCpu = cpuSince(cpu0);
    const writes = ctrl.ioWriteBatches() - writes0;
    const targetCpu = (await peer.cpu()) - tcpu0;
    await hooks?.after(peer);
    const rss = process.memoryUsage().rss;
    const targetRss = await peer.rss();
    const stats = dev?.getStats();
    await ctrl.disconnect();
    await peer.stop();
    if (r.error) throw new Error(r.error);
    const gb = (r.readBytes + r.writeBytes) / 1e9;
    return {
      mbps: r.mbps,
      iops: r.iops,
      p50us: r.lat.p50,
      p99us: r.lat.p99,
      hostCpuPerGB: hostCpu / gb,
      targetCpuPerGB: targetCpu / gb,
      hostRssMB: rss / 1e6,
      targetRssMB: targetRss / 1e6,
      placedBytes: (stats?.rx_nvmeotcp_bytes ?? 0) - placed0,
      readBytes: r.readBytes,
      cmdsPerWrite: (r.readOps + r.writeOps) / Math.max(1, writes),
    };
  } catch (e) {
    peer.child.kill();
    throw e;
  }
}
