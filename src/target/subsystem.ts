// Subsystems and their namespaces, built from the target options.
import { createHash } from 'node:crypto';
import { NQN_DISCOVERY } from '../protocol/constants.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import { IoStats } from '../stats/io.ts';
import { FileBackend } from './backends/file.ts';
import { RamBackend } from './backends/ram.ts';
import type { Backend } from './backends/types.ts';

export type BackendConfig =
  | { kind: 'ram'; size: number }
  /** `sync`: write-through (O_DSYNC): every write is on stable storage before it completes. */
  | { kind: 'file'; path: string; size?: number; sync?: boolean };

export interface NamespaceConfig {
  /** 1-based; defaults to the next free NSID. */
  nsid?: number;
  backend: BackendConfig;
  lbaSize?: 512 | 4096;
}

export interface SubsystemConfig {
  nqn: string;
  /** Any host NQN may connect (the default when allowedHosts is not given). */
  allowAnyHost?: boolean;
  allowedHosts?: string[];
  namespaces?: NamespaceConfig[];
  serial?: string;
  model?: string;
}

export class Namespace {
  readonly lbaSize: number;
  /** log2(lbaSize). */
  readonly lbaShift: number;
  /** Size in logical blocks (NSZE); changes with resize(). */
  nlba: number;
  /** Stable unique identifiers derived from the subsystem NQN and the NSID. */
  readonly nguid: Buffer;
  readonly eui64: Buffer;
  /** Commands, bytes, errors and latency of this namespace's I/O (written as commands complete). */
  readonly io: IoStats;

  constructor(
    readonly nsid: number,
    readonly backend: Backend,
    lbaSize: number,
    subnqn: string,
  ) {
    this.lbaSize = lbaSize;
    this.lbaShift = lbaSize === 4096 ? 12 : 9;
    this.nlba = Math.floor(backend.size / lbaSize);
    const h = createHash('sha256').update(`${subnqn}\0${nsid}`).digest();
    this.nguid = h.subarray(0, 16);
    this.eui64 = h.subarray(16, 24);
    this.io = new IoStats({ subsystem: subnqn, namespace: String(nsid) });
  }

  /** True when [slba, slba + nlb) lies inside the namespace. */
  inRange(slba: number, nlb: number): boolean {
    return slba + nlb <= this.nlba;
  }

  /** Grows or shrinks the namespace to `bytes` (a multiple of the block size, checked by the caller). */
  async resize(bytes: number): Promise<void> {
    await this.backend.resize(bytes);
    this.nlba = Math.floor(this.backend.size / this.lbaSize);
  }
}

export class Subsystem {
  readonly nqn: string;
  readonly allowAnyHost: boolean;
  readonly allowedHosts: ReadonlySet<string>;
  readonly serial: string;
  readonly model: string;
  readonly namespaces = new Map<number, Namespace>();
  /** Ascending NSIDs. */
  readonly nsids: number[] = [];
  readonly isDiscovery: boolean;

  constructor(
    cfg: SubsystemConfig,
    private readonly maxRamSize: number,
  ) {
    if (typeof cfg.nqn !== 'string' || cfg.nqn.length === 0 || Buffer.byteLength(cfg.nqn) > 223) {
      throw new InvalidArgumentError(`subsystem nqn: ${JSON.stringify(cfg.nqn)} must be 1..223 bytes`);
    }
    this.nqn = cfg.nqn;
    this.isDiscovery = cfg.nqn === NQN_DISCOVERY;
    this.allowAnyHost = cfg.allowAnyHost ?? cfg.allowedHosts === undefined;
    this.allowedHosts = new Set(cfg.allowedHosts ?? []);
    this.serial = cfg.serial ?? createHash('sha256').update(cfg.nqn).digest('hex').slice(0, 20);
    this.model = cfg.model ?? 'nvmeotcp';
    for (const nc of cfg.namespaces ?? []) this.addNamespace(nc);
  }

  /**
   * Adds a namespace (its backend not opened yet): NSID `nc.nsid`, or the one after the
   * highest in use. Throws InvalidArgumentError for a bad or taken NSID or a bad backend.
   */
  addNamespace(nc: NamespaceConfig): Namespace {
    const nsid = nc.nsid ?? this.nn + 1;
    const what = `subsystem ${this.nqn} nsid ${nsid}`;
    if (!Number.isInteger(nsid) || nsid < 1 || nsid >= 0xffff_fffe || this.namespaces.has(nsid)) {
      throw new InvalidArgumentError(`subsystem ${this.nqn}: bad or duplicate nsid ${nsid}`);
    }
    const lbaSize = nc.lbaSize ?? 512;
    if (lbaSize !== 512 && lbaSize !== 4096) throw new InvalidArgumentError(`${what}: lbaSize must be 512 or 4096`);
    const be = makeBackend(nc.backend, lbaSize, this.maxRamSize, what);
    const ns = new Namespace(nsid, be, lbaSize, this.nqn);
    this.namespaces.set(nsid, ns);
    this.nsids.push(nsid);
    this.nsids.sort((a, b) => a - b);
    return ns;
  }

  /** Takes namespace `nsid` out of the subsystem (the caller closes its backend). */
  removeNamespace(nsid: number): Namespace {
    const ns = this.namespaces.get(nsid);
    if (ns === undefined) throw new InvalidArgumentError(`subsystem ${this.nqn}: no namespace ${nsid}`);
    this.namespaces.delete(nsid);
    this.nsids.splice(this.nsids.indexOf(nsid), 1);
    return ns;
  }

  /** The new size of a namespace for resize(): whole blocks, within what its backend allows. */
  checkResize(ns: Namespace, bytes: number): number {
    const what = `subsystem ${this.nqn} nsid ${ns.nsid}`;
    const max = ns.backend.kind === 'ram' ? this.maxRamSize : Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(bytes) || bytes < ns.lbaSize || bytes > max) {
      throw new InvalidArgumentError(`${what}: size ${bytes} must be ${ns.lbaSize}..${max} bytes`);
    }
    return bytes - (bytes % ns.lbaSize);
  }

  /** The highest NSID (Identify Controller NN). */
  get nn(): number {
    return this.nsids.length > 0 ? this.nsids[this.nsids.length - 1] : 0;
  }

  /** Flushes every namespace: the flushes still running (file namespaces). */
  flushAll(): Promise<void>[] {
    const pending: Promise<void>[] = [];
    for (const ns of this.namespaces.values()) {
      const r = ns.backend.flush();
      if (r !== undefined) pending.push(r);
    }
    return pending;
  }

  allowsHost(hostnqn: string): boolean {
    return this.allowAnyHost || this.allowedHosts.has(hostnqn);
  }
}

function makeBackend(c: BackendConfig, lbaSize: number, maxRamSize: number, what: string): Backend {
  if (c.kind === 'ram') {
    if (!Number.isSafeInteger(c.size) || c.size < lbaSize || c.size > maxRamSize) {
      throw new InvalidArgumentError(`${what}: RAM size ${c.size} must be ${lbaSize}..${maxRamSize} bytes`);
    }
    return new RamBackend(c.size - (c.size % lbaSize));
  }
  if (c.kind === 'file') {
    if (typeof c.path !== 'string' || c.path.length === 0) throw new InvalidArgumentError(`${what}: file path required`);
    const size = c.size ?? FileBackend.existingSize(c.path);
    if (!Number.isSafeInteger(size) || size < lbaSize) {
      throw new InvalidArgumentError(`${what}: file size ${size} must be at least one block (${lbaSize})`);
    }
    return new FileBackend(c.path, size - (size % lbaSize), c.sync === true);
  }
  throw new InvalidArgumentError(`${what}: unknown backend kind ${(c as { kind: string }).kind}`);
}
