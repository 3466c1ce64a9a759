// What the host needs from an offload device (src/offload/types.ts has the
// per-queue contract). The host calls addQueue for every I/O queue once its
// connection is set up (never for the admin queue), setup before sending a large
// enough READ, teardown when that READ's response arrives (the command completes
// in ulp.ddpTeardownDone), and remove when the queue closes. A socket device also
// hands out the receive placement of each queue's socket.
import type { DdpDevice, DdpLimits } from '../offload/types.ts';
import type { RxPlacementFactory } from '../transport/reader.ts';

/**
 * The part of a DdpDevice the host uses. addQueue (sk_add) gets the queue's receiver
 * too; a negative Errno means the queue runs without offload (the device counts it).
 */
export interface HostDdpDevice extends Pick<DdpDevice, 'limits' | 'addQueue'> {
  /** Socket device: the placement that replaces StagingPlacement on every I/O queue's socket. */
  readonly rxPlacement?: RxPlacementFactory;
}

/**
 * True when a READ of `len` bytes may be handed to the device. The host registers
 * one buffer per command, so its SGL (one entry) always fits maxSgl.
 */
export function ddpEligible(limits: DdpLimits, len: number): boolean {
  return len >= limits.ioThreshold && (limits.maxIoSize === 0 || len <= limits.maxIoSize);
}
