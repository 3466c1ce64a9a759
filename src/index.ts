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
  type HostConfig,
  type ListenAddress,
  type ListenOptions,
  type NamespaceConfig,
  NvmeTarget,
  type SubsystemConfig,
  type TargetOptions,
  type TlsKeyConfig,
  type TlsMode,
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

// Replay: the NIC model on captured traffic (`nvmeotcp replay`)
export {
  IMPAIR_WINDOW,
  type PduCounts,
  type ReplayCounters,
  type ReplayFlowResult,
  type ReplayImpairments,
  type ReplayOptions,
  type ReplayResult,
  replayCapture,
} from './replay/replay.ts';

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
export { IO_OPS, type IoOp, type IoOpValues, type IoSnapshot, IoStats, LATENCY_BOUNDS_SECONDS } from './stats/io.ts';

// Exporters: ethtool -S text, JSON, Prometheus text exposition, ulp-ddp netlink
// replies (one snapshot each), and the HTTP endpoint serving /metrics and /stats
export { type EthtoolOptions, formatEthtool } from './exporters/ethtool.ts';
export { type JsonOptions, type StatsJson, statsToJson } from './exporters/json.ts';
export {
  formatBuildInfo,
  formatHostPrometheus,
  formatIoPrometheus,
  formatPrometheus,
  formatTargetPrometheus,
  type HostMetrics,
  PROMETHEUS_CONTENT_TYPE,
  type TargetMetrics,
} from './exporters/prometheus.ts';
export { type BuildInfo, buildInfo, packageVersion } from './exporters/build-info.ts';
export { type CapsGetReply, capsGetReply, type StatsGetReply, statsGetReply } from './exporters/netlink.ts';
export {
  type HostStatsSource,
  hostEndpoints,
  type ReconnectCounter,
  reconnectsOf,
  type SnapshotSource,
  type StatsEndpoints,
  type StatsServer,
  snapshotEndpoints,
  startStatsServer,
} from './exporters/http.ts';

// Workload generator (fio-style) used by `nvmeotcp perf`
export { LatencyHistogram } from './workload/histogram.ts';
export type { SampleSummary } from './workload/samples.ts';
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
  AuthenticationError,
  ConnectionError,
  ControllerLostError,
  FastIoFailError,
  InvalidArgumentError,
  NamespaceGoneError,
  NegotiationError,
  NvmeStatusError,
  NvmeTcpError,
  ProtocolError,
  TermReqError,
  TimeoutError,
  UnsupportedError,
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
export { type DiscoveryEntry, SecType, SubType, Treq } from './protocol/discovery.ts';
// TLS pre-shared keys (NVMe TCP TP 8011): interchange format, identities, derivation
export {
  type CipherHash,
  type ConfiguredPsk,
  deriveRetainedPsk,
  deriveTlsPsk,
  formatPskInterchange,
  type PskIdentity,
  parsePskIdentity,
  parsePskInterchange,
  PskHash,
  pskIdentity,
  type TlsPsk,
} from './protocol/tls-psk.ts';
// In-band authentication (DH-HMAC-CHAP): secrets in nvme-cli's DHHC-1 form, hash and group IDs, failure reasons
export {
  AuthHash,
  DhGroup,
  type DhchapKey,
  dhGroupName,
  formatDhchapKey,
  hashName,
  parseDhchapKey,
  parseDhGroupName,
  parseHashName,
} from './protocol/dhchap.ts';
export { FAILURE_EXP_TEXT, FailureExp } from './protocol/auth.ts';
export type { IdentifyController, IdentifyNamespace } from './protocol/identify.ts';
// Digests: which CRC32C implementation runs (for start-up logs and stats output)
export { crc32c, crc32cImplementation, crc32cSkipped, crc32cUpdate } from './protocol/crc32c.ts';
