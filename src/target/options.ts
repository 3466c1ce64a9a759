// Target options and their resolved (validated, defaulted) form.
import { MIN_MAXH2CDATA } from '../protocol/constants.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import type { RxPlacementFactory } from '../transport/reader.ts';
import { type HostAuth, type HostConfig, resolveHostAuth } from './auth.ts';
import { classSize } from './data-pool.ts';
import type { SubsystemConfig } from './subsystem.ts';
import { type TlsKeyConfig, TlsKeyring } from './tls-keys.ts';

export interface TargetOptions {
  subsystems?: SubsystemConfig[];
  /**
   * Hosts with in-band authentication settings (nvmet's hosts/<nqn> dhchap_* attributes):
   * a host with a dhchapKey must authenticate every queue with DH-HMAC-CHAP.
   * Which subsystems a host may use is still the subsystems' allowedHosts.
   */
  hosts?: HostConfig[];
  /** In-capsule data accepted on I/O queues (IOCCSZ = (64 + this) / 16). Default 8192. */
  inCapsuleDataSize?: number;
  /** MAXH2CDATA announced in ICResp: largest H2CData payload. Default 131072. */
  maxH2CData?: number;
  /** Largest C2HData payload; longer reads are split into several PDUs. Default 131072. */
  c2hMaxData?: number;
  /** CAP.MQES: largest queue size, 0's based. Default 127. */
  mqes?: number;
  /** I/O queues granted per controller. Default 8. */
  maxIoQueues?: number;
  /** Identify MDTS: largest transfer = 4096 << mdts bytes (0 = 4 MiB here). Default 5 (128 KiB). */
  mdts?: number;
  /** Largest RAM namespace in bytes. Default 1 GiB. */
  maxRamSize?: number;
  /** Identify AERL: outstanding AERs allowed, 0's based. Default 3. */
  aerl?: number;
  /** Firmware revision (Identify FR, 8 ASCII characters). */
  firmware?: string;
  /**
   * Busy-poll the event loop while any I/O queue is connected (SPDK's reactors run
   * this way): commands are read as soon as they land, without a sleeping thread's
   * wake-up, at the price of a core at 100% while hosts are connected. Default false.
   */
  poll?: boolean;
  /**
   * A connection must complete ICReq and Connect within this many ms of being
   * accepted, or it is closed (a socket that never speaks holds memory). Default 10000.
   */
  handshakeTimeoutMs?: number;
  /** Connections open at once (every queue is one); more are closed at accept. Default 1024. */
  maxConnections?: number;
  /** Connections not yet associated with a controller (before their Connect); more are closed at accept. Default 128. */
  maxPendingConnections?: number;
  /**
   * Bytes of data buffers (write data, Connect and DSM data, file-namespace read
   * buffers, free buffers kept for reuse) across all connections; over it, commands
   * wait for buffers. At least the largest transfer (MDTS). Default 256 MiB.
   * In-capsule data cannot wait (it arrives with its command): it is charged over the
   * limit if need be, at most queue depth × in-capsule data size per queue.
   */
  dataBudgetBytes?: number;
  /**
   * The most one connection (queue) may hold of dataBudgetBytes, so that queues which
   * never read their responses cannot starve the others: k of them pin at most k times
   * this. At least the largest transfer (MDTS). Default an eighth of dataBudgetBytes.
   */
  queueDataBudgetBytes?: number;
  /**
   * Report a volatile write cache (Identify VWC bit 0) that the host may switch off
   * (Set Features 06h) and flush. false: no cache is reported, every write is durable
   * before its completion (as with VWC switched off), and hosts send no Flush. Default true.
   */
  volatileWriteCache?: boolean;
  /**
   * Configured TLS PSKs (interchange format), per host or for any host, for listeners
   * with `tls: 'optional' | 'required'` (NVMe TCP TP 8011). A host's key authenticates
   * it: its Connect must name the host and subsystem of its PSK identity.
   */
  tlsKeys?: TlsKeyConfig[];
  /** Derive TLS PSKs as libnvme did before its 2025 HKDF-Expand-Label fix (see protocol/tls-psk.ts). */
  tlsCompat?: boolean;
  /**
   * How every connection's socket reads land (default: one reused staging buffer,
   * as large reads as the kernel has). For benchmarks that model another target's
   * receive path, e.g. SPDK's fixed-size reads of one PDU part at a time.
   */
  rxPlacement?: RxPlacementFactory | undefined;
}

export interface ResolvedOptions {
  /** Hosts that must authenticate, by host NQN. */
  hostAuth: ReadonlyMap<string, HostAuth>;
  inCapsuleDataSize: number;
  /** In-capsule data accepted on the admin queue and for fabrics commands. */
  adminInCapsuleDataSize: number;
  maxH2CData: number;
  c2hMaxData: number;
  mqes: number;
  maxIoQueues: number;
  mdts: number;
  /** Largest data transfer of one command, in bytes. */
  maxTransfer: number;
  maxRamSize: number;
  aerl: number;
  firmware: string;
  poll: boolean;
  handshakeTimeoutMs: number;
  maxConnections: number;
  maxPendingConnections: number;
  dataBudgetBytes: number;
  queueDataBudgetBytes: number;
  volatileWriteCache: boolean;
  tlsKeys: TlsKeyring;
  rxPlacement: RxPlacementFactory | undefined;
}

/** Fabrics and admin commands may always carry 8 KiB in the capsule (Linux NVME_TCP_ADMIN_CCSZ). */
export const ADMIN_ICD = 8192;
const DEFAULT_MAX_TRANSFER = 4 << 20;
export const DEFAULT_DATA_BUDGET = 256 << 20;

function int(what: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min || x > max) {
    throw new InvalidArgumentError(`${what}: ${x} must be an integer in ${min}..${max}`);
  }
  return x;
}

/** A budget must hold the largest buffer one command waits for, or that command would wait forever. */
function dataBudget(what: string, v: number | undefined, dflt: number, maxTransfer: number, max: number): number {
  const x = int(what, v, dflt, 1, max);
  const min = classSize(maxTransfer);
  if (x < min) throw new InvalidArgumentError(`${what}: ${x} is below ${min}, the largest transfer (MDTS)`);
  return x;
}

export function resolveOptions(o: TargetOptions): ResolvedOptions {
  const inCapsuleDataSize = int('inCapsuleDataSize', o.inCapsuleDataSize, 8192, 0, 1 << 20);
  if (inCapsuleDataSize % 16 !== 0) throw new InvalidArgumentError('inCapsuleDataSize must be a multiple of 16');
  const maxH2CData = int('maxH2CData', o.maxH2CData, 131072, MIN_MAXH2CDATA, 1 << 24);
  if (maxH2CData % 4 !== 0) throw new InvalidArgumentError('maxH2CData must be a multiple of 4');
  const mdts = int('mdts', o.mdts, 5, 0, 10);
  const maxTransfer = mdts === 0 ? DEFAULT_MAX_TRANSFER : 4096 * 2 ** mdts;
  const budget = dataBudget('dataBudgetBytes', o.dataBudgetBytes, DEFAULT_DATA_BUDGET, maxTransfer, Number.MAX_SAFE_INTEGER);
  const queueBudgetDefault = Math.max(classSize(maxTransfer), Math.floor(budget / 8));
  const firmware = o.firmware ?? '0.1.0';
  if (!/^[\x20-\x7e]{0,8}$/.test(firmware)) throw new InvalidArgumentError('firmware: at most 8 printable ASCII');
  return {
    hostAuth: resolveHostAuth(o.hosts),
    inCapsuleDataSize,
    adminInCapsuleDataSize: Math.max(ADMIN_ICD, inCapsuleDataSize),
    maxH2CData,
    c2hMaxData: int('c2hMaxData', o.c2hMaxData, 131072, 4, 1 << 24),
    mqes: int('mqes', o.mqes, 127, 1, 0xffff),
    maxIoQueues: int('maxIoQueues', o.maxIoQueues, 8, 1, 0xfffe),
    mdts,
    maxTransfer,
    maxRamSize: int('maxRamSize', o.maxRamSize, 1 << 30, 512, Number.MAX_SAFE_INTEGER),
    aerl: int('aerl', o.aerl, 3, 0, 255),
    firmware,
    poll: o.poll === true,
    handshakeTimeoutMs: int('handshakeTimeoutMs', o.handshakeTimeoutMs, 10_000, 1, 3_600_000),
    maxConnections: int('maxConnections', o.maxConnections, 1024, 1, 1 << 20),
    maxPendingConnections: int('maxPendingConnections', o.maxPendingConnections, 128, 1, 1 << 20),
    dataBudgetBytes: budget,
    queueDataBudgetBytes: dataBudget('queueDataBudgetBytes', o.queueDataBudgetBytes, queueBudgetDefault, maxTransfer, budget),
    volatileWriteCache: o.volatileWriteCache !== false,
    tlsKeys: new TlsKeyring(o.tlsKeys ?? [], o.tlsCompat === true),
    rxPlacement: o.rxPlacement,
  };
}
