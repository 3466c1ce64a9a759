// The offload counters, each named once (mlx5 counter_desc style): the seed's
// ethtool key, the netlink (ulp-ddp family, v30) attribute name and a one-line
// help. Index constants are derived from the tables, so a counter's position,
// its names and its help can never drift apart. Extra counters go after the
// seed's ten, never instead of them (the series' struct ulp_ddp_stats and the
// mlx5e nvmeotcp_sw_stats_desc table; docs/ARCHITECTURE.md, Statistics): the flow
// totals (rx_packets, rx_bytes) are ours, so they have no netlink attribute and
// never appear in get_stats or the ulp-ddp stats-get reply.

export interface CounterDesc {
  /** Index-constant key. */
  readonly key: string;
  /** The seed's key (struct ulp_ddp_stats field, ethtool -S name, summed value). */
  readonly name: string;
  /** Attribute name of the ulp-ddp netlink family's stats-get reply (v30 spelling); none for our extras. */
  readonly netlink?: string;
  readonly help: string;
}

export interface ChannelCounterDesc extends CounterDesc {
  /** mlx5e_rq_stats field: the per-queue ethtool line is `rx<N>_<rq>`. */
  readonly rq: string;
}

/** Control path (sk_add/sk_del/setup/teardown): one device-wide block. */
export const GLOBAL_COUNTERS = [
  {
    key: 'skAdd',
    name: 'rx_nvmeotcp_sk_add',
    netlink: 'rx-nvme-tcp-sk-add',
    help: 'I/O queues (sockets) successfully attached to the offload device.',
  },
  {
    key: 'skAddFail',
    name: 'rx_nvmeotcp_sk_add_fail',
    netlink: 'rx-nvme-tcp-sk-add-fail',
    help: 'I/O queues the device refused to attach (they run without offload).',
  },
  {
    key: 'skDel',
    name: 'rx_nvmeotcp_sk_del',
    netlink: 'rx-nvme-tcp-sk-del',
    help: 'I/O queues detached from the offload device.',
  },
  {
    key: 'ddpSetup',
    name: 'rx_nvmeotcp_ddp_setup',
    netlink: 'rx-nvme-tcp-setup',
    help: 'Commands whose destination buffers were registered for direct data placement.',
  },
  {
    key: 'ddpSetupFail',
    name: 'rx_nvmeotcp_ddp_setup_fail',
    netlink: 'rx-nvme-tcp-setup-fail',
    help: 'Commands whose buffer registration failed (placed in software instead).',
  },
  {
    key: 'ddpTeardown',
    name: 'rx_nvmeotcp_ddp_teardown',
    netlink: 'rx-nvme-tcp-teardown',
    help: 'Buffer registrations released after their command finished.',
  },
] as const satisfies readonly CounterDesc[];

/** The seed's data-path counters (struct ulp_ddp_stats, after the global six). */
export const SEED_CHANNEL_COUNTERS = [
  {
    key: 'drop',
    name: 'rx_nvmeotcp_drop',
    rq: 'nvmeotcp_drop',
    netlink: 'rx-nvme-tcp-drop',
    help: 'Received pieces dropped because no offload queue context was found.',
  },
  {
    key: 'resync',
    name: 'rx_nvmeotcp_resync',
    rq: 'nvmeotcp_resync',
    netlink: 'rx-nvme-tcp-resync',
    help: 'Resync requests the device sent to the ULP after losing PDU sync.',
  },
  {
    key: 'packets',
    name: 'rx_nvmeotcp_packets',
    rq: 'nvmeotcp_packets',
    netlink: 'rx-nvme-tcp-packets',
    help: 'Received TCP segments (one NIC completion each) whose payload was placed directly in a command buffer.',
  },
  {
    key: 'bytes',
    name: 'rx_nvmeotcp_bytes',
    rq: 'nvmeotcp_bytes',
    netlink: 'rx-nvme-tcp-bytes',
    help: 'Payload bytes placed directly in command buffers (the sum of cclen).',
  },
] as const satisfies readonly ChannelCounterDesc[];

/**
 * Ours, not the seed's: the flow's own totals on offloaded queues, so the share
 * offloaded can be computed (blktests nvme/055 judges packets and bytes against
 * them). Spelled as mlx5's per-RQ `rx<N>_packets` / `rx<N>_bytes`.
 */
export const FLOW_COUNTERS = [
  {
    key: 'rxPackets',
    name: 'rx_packets',
    rq: 'packets',
    help: 'TCP segments received on offloaded queues, placed or not.',
  },
  {
    key: 'rxBytes',
    name: 'rx_bytes',
    rq: 'bytes',
    help: 'TCP payload bytes received on offloaded queues, placed or not.',
  },
] as const satisfies readonly ChannelCounterDesc[];

/** Data path: one block per receive channel and per queue, summed when read (seed four, then ours). */
export const CHANNEL_COUNTERS = [...SEED_CHANNEL_COUNTERS, ...FLOW_COUNTERS] as const;

export type GlobalCounterName = (typeof GLOBAL_COUNTERS)[number]['name'];
export type SeedChannelCounterName = (typeof SEED_CHANNEL_COUNTERS)[number]['name'];
export type ChannelCounterName = (typeof CHANNEL_COUNTERS)[number]['name'];
/** The ten of struct ulp_ddp_stats. */
export type CounterName = GlobalCounterName | SeedChannelCounterName;

type IndexOf<T extends readonly { key: string }[]> = { readonly [K in T[number]['key']]: number };

function indexOf<T extends readonly { key: string }[]>(table: T): IndexOf<T> {
  const out: Record<string, number> = {};
  table.forEach((d, i) => {
    out[d.key] = i;
  });
  return Object.freeze(out) as IndexOf<T>;
}

/** Global counter indexes: `g[G.ddpSetup] += 1`. */
export const G = indexOf(GLOBAL_COUNTERS);
/** Data-path counter indexes: `q[C.bytes] += n`. */
export const C = indexOf(CHANNEL_COUNTERS);

/** All ten in get_stats order (struct ulp_ddp_stats): global first, then the data-path sums. */
export const ALL_COUNTERS: readonly (CounterDesc | ChannelCounterDesc)[] = [...GLOBAL_COUNTERS, ...SEED_CHANNEL_COUNTERS];
