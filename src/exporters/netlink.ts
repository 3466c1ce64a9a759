// The replies of the ulp-ddp generic netlink family (the series' latest uAPI,
// Documentation/netlink/specs/ulp_ddp.yaml, v29/v30) as `ynl --family ulp_ddp --do <op> --json` prints
// them: attribute names as keys, in attribute order.
//
//   stats-get  ifindex, then the ten rx-nvme-tcp-* counters (exactly those: the
//              family has no per-queue values and none of our extras)
//   caps-get   ifindex, hw, active: the capability bits as flag-name lists
//              (enum `cap`: nvme-tcp, nvme-tcp-ddgst-rx)
import { GLOBAL_COUNTERS, SEED_CHANNEL_COUNTERS } from '../stats/counters.ts';
import type { StatsSnapshot } from '../stats/registry.ts';

/** ULP_DDP_CAP_* names, in enum order. */
export const CAP_NAMES = ['nvme-tcp', 'nvme-tcp-ddgst-rx'] as const;
export type CapName = (typeof CAP_NAMES)[number];

export type StatsGetReply = { ifindex: number } & Record<string, number>;

/** The two capability bits (the shape of the offload layer's DdpCaps). */
export interface CapBits {
  ddp: boolean;
  crcRx: boolean;
}

/** struct ulp_ddp_dev_caps: what the hardware can do and what is switched on (DdpCapsState). */
export interface CapsState {
  hw: CapBits;
  active: CapBits;
}

export interface CapsGetReply {
  ifindex: number;
  hw: CapName[];
  active: CapName[];
}

/** The stats-get reply: ifindex and the ten counters (global, then the data-path sums). */
export function statsGetReply(s: StatsSnapshot, ifindex: number): StatsGetReply {
  const out: StatsGetReply = { ifindex };
  for (const d of GLOBAL_COUNTERS) out[d.netlink] = s.global[d.name];
  for (const d of SEED_CHANNEL_COUNTERS) out[d.netlink] = s.sum[d.name];
  return out;
}

function capList(c: CapBits): CapName[] {
  const out: CapName[] = [];
  if (c.ddp) out.push('nvme-tcp');
  if (c.crcRx) out.push('nvme-tcp-ddgst-rx');
  return out;
}

/** The caps-get reply. */
export function capsGetReply(caps: CapsState, ifindex: number): CapsGetReply {
  return { ifindex, hw: capList(caps.hw), active: capList(caps.active) };
}
