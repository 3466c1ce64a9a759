// Public API of the NVMe/TCP target.
export { NvmeTarget, type ControllerInfo, type ListenAddress, type ListenOptions } from './target.ts';
export type { TlsMode } from './port.ts';
export type { TlsKeyConfig } from './tls-keys.ts';
export type { BudgetStats } from './budget.ts';
export type { TargetOptions } from './options.ts';
export type { HostConfig } from './auth.ts';
export type { BackendConfig, NamespaceConfig, SubsystemConfig } from './subsystem.ts';
