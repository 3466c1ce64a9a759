// NVMe/TCP host (initiator): controllers, namespaces (block API) and discovery.
export {
  type ControllerEvents,
  type ControllerState,
  type LostEvent,
  MAX_RETRIES,
  NvmeController,
  type ReconnectedEvent,
  type ReconnectingEvent,
  type RecoveryStats,
} from './controller.ts';
export type { ConnectOptions } from './options.ts';
export { type DiscoverLogResult, type DiscoverOptions, discover, discoverLog } from './discover.ts';
export { type IoDone, type LbaRange, Namespace, type NamespaceInfo } from './namespace.ts';
export type { HostDdpDevice } from './offload.ts';
export type { DigestChecks } from './queue.ts';
