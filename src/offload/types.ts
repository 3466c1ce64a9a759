// The offload device contract, mirroring the kernel's struct ulp_ddp_dev_ops
// (the ulp_ddp series, include/net/ulp_ddp.h) and the two up-calls of struct ulp_ddp_ulp_ops.
//
//   kernel op   ours                meaning
//   limits      limits()            max SGL entries, io_threshold, max I/O
//   set_caps    setCaps()           DDP / CRC-rx on or off at run time
//   get_caps    getCaps()
//   sk_add      addQueue()          attach a queue; returns its context or an errno
//   sk_del      DdpQueue.remove()   detach; pending placements end
//   setup       DdpQueue.setup()    register one command's destination buffers
//   teardown    DdpQueue.teardown() release them; completes asynchronously
//   resync      DdpQueue.resync()   the ULP confirms a PDU start (a wrong guess gets no answer)
//   get_stats   getStats()          the ten seed counters, summed on read
//               snapshot()          the same plus per-queue and per-channel values
import type { RxView } from '../protocol/receiver.ts';
import type { StatsSnapshot } from '../stats/registry.ts';
import type { CounterName } from '../stats/counters.ts';
import type { RxPlacement, RxPlacementFactory } from '../transport/reader.ts';

export interface DdpLimits {
  /** Largest number of SGL entries one command may register (mlx5: 128). 0 = no limit. */
  maxSgl: number;
  /** Smallest payload worth offloading, in bytes (mlx5: 32 KiB). */
  ioThreshold: number;
  /** Largest I/O the device can place, in bytes. */
  maxIoSize: number;
  /** True if the device accepts the whole 16-bit command ID range. */
  fullCcidRange: boolean;
}

export interface DdpCaps {
  /** ULP_DDP_CAP_NVME_TCP: direct data placement. */
  ddp: boolean;
  /** ULP_DDP_CAP_NVME_TCP_DDGST_RX: data digest checked by the device. */
  crcRx: boolean;
}

/** struct nvme_tcp_ddp_config + ulp_ddp_config. */
export interface DdpQueueConfig {
  pfv: number;
  cpda: number;
  /** DigestOpt bits: 1 header digest, 2 data digest. */
  dgst: number;
  queueSize: number;
  queueId: number;
  /** Affinity hint; the device maps it to a receive channel (io_cpu % channels). */
  ioCpu: number;
  /** Controller label of the queue's per-queue counters (several controllers may share a device). */
  ctrl?: string;
  /**
   * Stream sequence number (mod 2^32) of the next PDU start when the queue is added
   * (the kernel's tcp copied_seq at sk_add): where a packet device starts tracking. Default 0.
   */
  rxSeq?: number;
}

/** Up-calls from the device to the ULP (struct ulp_ddp_ulp_ops). */
export interface UlpOps {
  /**
   * The device asks: does a PDU start at stream sequence `seq`? It replaces any
   * earlier request. The ULP answers through DdpQueue.resync(seq) when it parses a
   * PDU starting exactly there, and never otherwise (nvme_tcp_resync_response).
   */
  resyncRequest(seq: number): boolean;
  /** An asynchronous teardown finished; the command may now complete. */
  ddpTeardownDone(cid: number): void;
}

/** errno-style results of setup and addQueue (negative = failure). */
export const Errno = { EINVAL: -22, ENOSPC: -28, EOPNOTSUPP: -95, EBUSY: -16, ENOMEM: -12 } as const;

/** Per-queue offload context returned by addQueue (the sk_add'ed socket). */
export interface DdpQueue {
  readonly queueId: number;
  /** Receive channel this queue's data-path counters are written to. */
  readonly channel: number;
  /** Register the destination buffers of command `cid` before it is sent. 0 or a negative Errno. */
  setup(cid: number, sgl: readonly Buffer[]): number;
  /** Release them; ulp.ddpTeardownDone(cid) follows asynchronously. */
  teardown(cid: number): void;
  /**
   * Confirm a resync request: a PDU starts exactly at `seq`. There is no denial in
   * the kernel's API: a wrong guess is simply never confirmed, and the device's
   * next request replaces it.
   */
  resync(seq: number): void;
  /** sk_del: detach the queue. */
  remove(): void;
}

/** struct ulp_ddp_dev_caps: what the hardware can do and what is switched on. */
export interface DdpCapsState {
  hw: DdpCaps;
  active: DdpCaps;
}

/** struct ulp_ddp_stats: the ten seed counters, global then summed over channels. */
export type UlpDdpStats = Record<CounterName, number>;

/** struct ulp_ddp_dev_ops of one device (a NIC, possibly shared by several controllers). */
export interface DdpDevice {
  limits(): DdpLimits;
  getCaps(): DdpCapsState;
  /**
   * Switch capabilities (ethtool -K / caps-set analogue): fields left out keep their
   * value; bits the hardware lacks stay off. 0, or a negative Errno. Disabling is lazy
   * as in mlx5: queues already attached keep their offload, new ones are refused.
   */
  setCaps(wanted: Partial<DdpCaps>): number;
  /**
   * sk_add: attach an I/O queue (never the admin queue). `rx` is the queue's receiver:
   * for a socket device it identifies the socket (the kernel's `sk`) whose placement,
   * made earlier by rxPlacement(rx), starts placing for this queue. Returns the queue
   * context, or a negative Errno (the queue then runs in software).
   */
  addQueue(cfg: DdpQueueConfig, ulp: UlpOps, rx?: RxView): DdpQueue | number;
  /** get_stats: the ten counters, computed now. */
  getStats(): UlpDdpStats;
  /** The counters with their per-queue and per-channel breakdown, computed now. */
  snapshot(): StatsSnapshot;
}

/** A device that places live socket reads (see socket-device.ts). */
export interface SocketDdpDevice extends DdpDevice {
  /** The placement of a queue's socket, made before the queue is added (bound by addQueue(cfg, ulp, rx)). */
  readonly rxPlacement: RxPlacementFactory;
  /** The placement of an already added queue (or a plain staging placement for `undefined`). */
  placementFor(queue: DdpQueue | undefined, rx: RxView): RxPlacement;
}
