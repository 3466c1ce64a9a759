// nvmeotcp: NVMe over TCP for Node.js. Public entry point.

// Host (initiator)
export {
  type ConnectOptions,
  type ControllerEvents,
  type ControllerState,
  type DigestChecks,
  type DiscoverLogResult,
  type DiscoverOptions,
  discover,
  discoverLog,
  type HostDdpDevice,
  type IoDone,
  type LbaRange,
  type LostEvent,
  Namespace,
  type NamespaceInfo,
  NvmeController,
  type ReconnectedEvent,
  type ReconnectingEvent,
  type RecoveryStats,
} from './host/index.ts';

// Target (controller)
export {
  type BackendConfig,
  type BudgetStats,
  type ControllerInfo,
  type ListenAddress,
  type NamespaceConfig,
  NvmeTarget,
  type SubsystemConfig,
  type TargetOptions,
} from './target/index.ts';

// Offload: the device contract (ulp_ddp ops) and the socket device
export {
  type DdpCaps,
  type DdpCapsState,
  type DdpDevice,
  type DdpLimits,
  type DdpQueue,
  type DdpQueueConfig,
  Errno,
  type SocketDdpDevice,
  type UlpDdpStats,
  type UlpOps,
} from './offload/types.ts';
export type { RxPlacement, RxPlacementFactory } from './transport/reader.ts';
export { type DeviceOptions, NIC_PROFILES, type NicProfile } from './offload/core.ts';
export { createSocketDevice, DEFAULT_MSS, SocketDevice, type SocketDeviceOptions } from './offload/socket-device.ts';
export {
  createPacketDevice,
  PacketDevice,
  type RxPiece,
  type RxSegment,
  type TcpSegment,
} from './offload/packet-device.ts';
export { PacketRx, type PacketRxOptions } from './offload/packet-rx.ts';
export { type Impairments, impair, segmentStream } from './offload/inject.ts';

// Captures (pcap/pcapng): NVMe/TCP flows, commands and segments of recorded traffic
export {
  type AnalyzeOptions,
  type AnalyzeResult,
  analyzeCapture,
  CaptureAnalyzer,
  CaptureError,
  type CaptureFormat,
  type CaptureHandlers,
  type CapturePacket,
  CaptureReader,
  type CaptureSource,
  type CaptureSummary,
  type CommandView,
  DEFAULT_CAPTURE_PORTS,
  Dir,
  FlowKind,
  FlowSide,
  LinkType,
  type PduHeaderView,
  readCapture,
  type SegmentView,
  TcpFlow,
} from './capture/index.ts';

// Statistics
export {
  ALL_COUNTERS,
  CHANNEL_COUNTERS,
  type ChannelCounterName,
  type CounterDesc,
  type CounterName,
  FLOW_COUNTERS,
  GLOBAL_COUNTERS,
  type GlobalCounterName,
  SEED_CHANNEL_COUNTERS,
} from './stats/counters.ts';
export { type ChannelValues, type QueueSnapshot, type StatsSnapshot, StatsRegistry, seedValues } from './stats/registry.ts';

// Exporters: ethtool -S text, JSON, Prometheus text exposition, ulp-ddp netlink
// replies (one snapshot each), and the HTTP endpoint serving /metrics and /stats
export { type EthtoolOptions, formatEthtool } from './exporters/ethtool.ts';
export { type JsonOptions, type StatsJson, statsToJson } from './exporters/json.ts';
export { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from './exporters/prometheus.ts';
export { type CapsGetReply, capsGetReply, type StatsGetReply, statsGetReply } from './exporters/netlink.ts';
export {
  type SnapshotSource,
  type StatsEndpoints,
  type StatsServer,
  snapshotEndpoints,
  startStatsServer,
} from './exporters/http.ts';

// Workload generator (fio-style) used by `nvmeotcp perf`
export {
  type BlockDevice,
  parseSize,
  RW_MODES,
  type RwMode,
  runWorkload,
  type WorkloadOptions,
  type WorkloadProgress,
  type WorkloadResult,
} from './workload/workload.ts';

// Protocol: errors, constants, wire structures users see
export {
  ConnectionError,
  ControllerLostError,
  FastIoFailError,
  InvalidArgumentError,
  NegotiationError,
  NvmeStatusError,
  NvmeTcpError,
  ProtocolError,
  TermReqError,
  TimeoutError,
} from './protocol/errors.ts';
export {
  DEFAULT_PORT,
  DISCOVERY_PORT,
  Fes,
  NQN_DISCOVERY,
  PduType,
  Sc,
  ScCmd,
  Sct,
} from './protocol/constants.ts';
export { type DiscoveryEntry, SubType } from './protocol/discovery.ts';
export type { IdentifyController, IdentifyNamespace } from './protocol/identify.ts';
// Digests: which CRC32C implementation runs (for start-up logs and stats output)
export { crc32c, crc32cImplementation, crc32cSkipped, crc32cUpdate } from './protocol/crc32c.ts';
