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
  /** Namespace UUID (Namespace Identification Descriptor type 3), 32 hex digits with or without dashes. */
  uuid?: string;
  /** NGUID (Identify Namespace and descriptor type 2), 32 hex digits; default: derived from the NQN and NSID. */
  nguid?: string;
  /** Served write-protected: Identify NSATTR bit 0, and writes fail with Namespace Is Write Protected. */
  readOnly?: boolean;
}

export interface SubsystemConfig {
  nqn: string;
  /** Any host NQN may connect (the default when allowedHosts is not given). */
  allowAnyHost?: boolean;
  allowedHosts?: string[];
  namespaces?: NamespaceConfig[];
  serial?: string;
  model?: string;
  /** NVMe version the controllers report (VS, Identify VER), "major.minor[.tertiary]". Default "2.0". */
  version?: string;
  /** Controller IDs handed out for this subsystem: cntlidMin..cntlidMax (1..0xffef, the default). */
  cntlidMin?: number;
  cntlidMax?: number;
  /** Most I/O queues one controller of this subsystem gets (nvmet's qid_max); the target's maxIoQueues caps it. */
  qidMax?: number;
}

/** The largest controller ID (0xFFF0 and up are reserved). */
const MAX_CNTLID = 0xffef;

/** "1.3" → 0x00010300 (VS: major 31:16, minor 15:8, tertiary 7:0). */
export function parseNvmeVersion(v: string): number {
  const m = /^(\d{1,5})\.(\d{1,3})(?:\.(\d{1,3}))?$/.exec(v.trim());
  const [maj, min, ter] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [-1, -1, -1];
  if (maj < 1 || maj > 0xffff || min > 0xff || ter > 0xff) {
    throw new InvalidArgumentError(`version: ${JSON.stringify(v)} is not an NVMe version such as 1.3 or 2.0`);
  }
  return ((maj << 16) | (min << 8) | ter) >>> 0;
}

/** 32 hex digits (dashes allowed, as uuid and nvmet print them) → 16 bytes. */
function id128(what: string, v: string): Buffer {
  const hex = v.trim().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new InvalidArgumentError(`${what}: ${JSON.stringify(v)} is not 32 hex digits`);
  return Buffer.from(hex, 'hex');
}

function intIn(what: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min || x > max) throw new InvalidArgumentError(`${what}: ${x} must be an integer in ${min}..${max}`);
  return x;
}

/** VS / Identify VER unless configured: NVMe 2.0. */
const DEFAULT_VERSION = 0x0002_0000;

export class Namespace {
  readonly lbaSize: number;
  /** log2(lbaSize). */
  readonly lbaShift: number;
  /** Size in logical blocks (NSZE); changes with resize(). */
  nlba: number;
  /** Unique identifiers: configured, or stable ones derived from the subsystem NQN and the NSID (no UUID then). */
  readonly nguid: Buffer;
  readonly eui64: Buffer;
  readonly uuid: Buffer | undefined;
  /** Write-protected: NSATTR bit 0 set, writes refused. */
  readonly readOnly: boolean;
  /** Commands, bytes, errors and latency of this namespace's I/O (written as commands complete). */
  readonly io: IoStats;

  constructor(
    readonly nsid: number,
    readonly backend: Backend,
    lbaSize: number,
    subnqn: string,
    ids: Pick<NamespaceConfig, 'uuid' | 'nguid' | 'readOnly'> = {},
  ) {
    this.lbaSize = lbaSize;
    this.lbaShift = lbaSize === 4096 ? 12 : 9;
    this.nlba = Math.floor(backend.size / lbaSize);
    const h = createHash('sha256').update(`${subnqn}\0${nsid}`).digest();
    const what = `subsystem ${subnqn} nsid ${nsid}`;
    this.nguid = ids.nguid === undefined ? h.subarray(0, 16) : id128(`${what} nguid`, ids.nguid);
    this.eui64 = h.subarray(16, 24);
    this.uuid = ids.uuid === undefined ? undefined : id128(`${what} uuid`, ids.uuid);
    this.readOnly = ids.readOnly === true;
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
  /** VS / Identify VER of its controllers. */
  readonly version: number;
  readonly cntlidMin: number;
  readonly cntlidMax: number;
  /** I/O queues one controller may have at most (before the target's maxIoQueues). */
  readonly qidMax: number;
  /** Where the search for a free controller ID starts next. */
  nextCntlid: number;
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
    this.version = cfg.version === undefined ? DEFAULT_VERSION : parseNvmeVersion(cfg.version);
    this.cntlidMin = intIn(`subsystem ${cfg.nqn} cntlidMin`, cfg.cntlidMin, 1, 1, MAX_CNTLID);
    this.cntlidMax = intIn(`subsystem ${cfg.nqn} cntlidMax`, cfg.cntlidMax, MAX_CNTLID, this.cntlidMin, MAX_CNTLID);
    this.nextCntlid = this.cntlidMin;
    this.qidMax = intIn(`subsystem ${cfg.nqn} qidMax`, cfg.qidMax, 0xfffe, 1, 0xfffe);
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
    const be = makeBackend(nc.backend, lbaSize, this.maxRamSize, what, nc.readOnly === true);
    const ns = new Namespace(nsid, be, lbaSize, this.nqn, nc);
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

/** A size given for a namespace must be whole blocks: nothing is rounded away silently. */
function wholeBlocks(what: string, size: number, lbaSize: number): void {
  if (size % lbaSize !== 0) {
    throw new InvalidArgumentError(`${what}: size ${size} is not a multiple of the ${lbaSize}-byte block size`);
  }
}

function makeBackend(c: BackendConfig, lbaSize: number, maxRamSize: number, what: string, readOnly: boolean): Backend {
  if (c.kind === 'ram') {
    if (!Number.isSafeInteger(c.size) || c.size < lbaSize || c.size > maxRamSize) {
      throw new InvalidArgumentError(`${what}: RAM size ${c.size} must be ${lbaSize}..${maxRamSize} bytes (maxRamSize)`);
    }
    wholeBlocks(what, c.size, lbaSize);
    return new RamBackend(c.size);
  }
  if (c.kind === 'file') {
    if (typeof c.path !== 'string' || c.path.length === 0) throw new InvalidArgumentError(`${what}: file path required`);
    if (c.size !== undefined) wholeBlocks(what, c.size, lbaSize);
    let size: number;
    try {
      size = c.size ?? FileBackend.existingSize(c.path);
    } catch (e) {
      throw new InvalidArgumentError(`${what}: cannot open ${c.path}: ${(e as Error).message}`);
    }
    if (!Number.isSafeInteger(size) || size < lbaSize) {
      throw new InvalidArgumentError(`${what}: file size ${size} must be at least one block (${lbaSize})`);
    }
    // An existing file's last partial block is not served (as nvmet sizes a file namespace).
    return new FileBackend(c.path, size - (size % lbaSize), c.sync === true, readOnly);
  }
  throw new InvalidArgumentError(`${what}: unknown backend kind ${(c as { kind: string }).kind}`);
}
