// NvmeTarget: the NVMe/TCP controller side. Listeners accept TCP connections (one
// per queue); each becomes a Connection; an admin Connect creates a Controller of
// a subsystem (dynamic CNTLID). The discovery subsystem is served on every listener.
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { DEFAULT_PORT, NQN_DISCOVERY } from '../protocol/constants.ts';
import type { DiscoveryEntry } from '../protocol/discovery.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import type { IoSnapshot } from '../stats/io.ts';
import { type BudgetStats, DataBudget } from './budget.ts';
import type { CmdQueue } from './cmd.ts';
import { Connection } from './connection.ts';
import type { TargetContext } from './context.ts';
import type { Controller } from './controller.ts';
import { discoveryEntries } from './discovery.ts';
import { type ResolvedOptions, resolveOptions, type TargetOptions } from './options.ts';
import type { ListenerInfo, TlsMode } from './port.ts';
import { type NamespaceConfig, Subsystem } from './subsystem.ts';
import { BusyPoller } from '../transport/poller.ts';
import type { SendQueueStats } from '../transport/queue.ts';
import { peekFirstBytes, TLS_HANDSHAKE_RECORD } from '../transport/tls.ts';

/** Payload of the 'connect' and 'disconnect' events (one of each per controller). */
export interface ControllerInfo {
  cntlid: number;
  subnqn: string;
  hostnqn: string;
  /** Host identifier as 32 hex digits. */
  hostid: string;
  remoteAddress: string;
  /** 'disconnect' only: why the controller went away. */
  reason?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Where to listen, and what to serve there. */
export interface ListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 4420; 0 picks a free port. */
  port?: number;
  /**
   * NQNs of the NVM subsystems served on this listener (nvmet's port links): a host
   * connecting here can reach, and discover, only these. Default: every subsystem.
   */
  subsystems?: readonly string[];
  /**
   * TLS 1.3 with PSKs (TargetOptions.tlsKeys): 'none' (default) plaintext only;
   * 'required' TLS only (a plaintext ICReq fails the handshake); 'optional' both on
   * the same port, told apart by the first byte (a TLS record 0x16, an ICReq 0x00).
   */
  tls?: TlsMode;
}

export class NvmeTarget extends EventEmitter {
  readonly options: ResolvedOptions;
  private readonly subsystems = new Map<string, Subsystem>();
  private readonly disc: Subsystem;
  private readonly servers: Server[] = [];
  private readonly listenerInfos: ListenerInfo[] = [];
  private readonly connections = new Set<CmdQueue>();
  private readonly controllers = new Map<number, Controller>();
  private genctr = 0;
  private opened: Promise<void> | undefined;
  private closing = false;
  private readonly ctx: TargetContext;
  /** Connections accepted whose Connect has not succeeded yet (bounded by maxPendingConnections). */
  private readonly pending = new Set<CmdQueue>();
  /** Connections closed at accept because a limit was reached. */
  private refusedCount = 0;
  /** Connections carrying an I/O queue (the busy poller runs while there are any). */
  private readonly ioQueues = new Set<CmdQueue>();
  private readonly poller: BusyPoller | undefined;
  private readonly budget: DataBudget;
  /** Sockets of 'optional' listeners whose first byte has not arrived yet (count as pending). */
  private readonly peeking = new Set<Socket>();

  constructor(options: TargetOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.poller = this.options.poll ? new BusyPoller(() => this.ioQueues.size > 0) : undefined;
    this.budget = new DataBudget(this.options.dataBudgetBytes, this.options.queueDataBudgetBytes);
    for (const cfg of options.subsystems ?? []) {
      if (cfg.nqn === NQN_DISCOVERY) throw new InvalidArgumentError('the discovery subsystem is built in');
      if (this.subsystems.has(cfg.nqn)) throw new InvalidArgumentError(`duplicate subsystem ${cfg.nqn}`);
      this.subsystems.set(cfg.nqn, new Subsystem(cfg, this.options.maxRamSize));
    }
    this.disc = new Subsystem({ nqn: NQN_DISCOVERY, allowAnyHost: true }, this.options.maxRamSize);
    const self = this;
    this.ctx = {
      opts: this.options,
      discovery: this.disc,
      budget: this.budget,
      get genctr() {
        return self.genctr;
      },
      subsystem: (nqn) => this.subsystems.get(nqn),
      addController: (c) => this.addController(c),
      controller: (cntlid) => this.controllers.get(cntlid),
      controllerGone: (c, reason) => this.controllerGone(c, reason),
      connectionClosed: (q) => {
        this.connections.delete(q);
        this.pending.delete(q);
        this.ioQueues.delete(q);
      },
      queueAssociated: (q) => {
        this.pending.delete(q);
      },
      ioQueueUp: (q) => {
        this.ioQueues.add(q);
        this.poller?.kick();
      },
      discoveryEntries: (hostnqn, q) => this.discoveryEntries(hostnqn, q),
    };
  }

  /** Starts a listener (repeatable: one per address). Resolves with the bound address. */
  async listen(addr: ListenOptions = {}): Promise<ListenAddress> {
    if (this.closing) throw new InvalidArgumentError('target is closed');
    const tls = addr.tls ?? 'none';
    if (tls !== 'none' && tls !== 'optional' && tls !== 'required') {
      throw new InvalidArgumentError(`tls: ${String(tls)} is not none, optional or required`);
    }
    if (tls !== 'none' && this.options.tlsKeys.size === 0) throw new InvalidArgumentError(`tls ${tls}: no TLS keys configured (tlsKeys)`);
    for (const nqn of addr.subsystems ?? []) {
      if (!this.subsystems.has(nqn)) throw new InvalidArgumentError(`listen: no subsystem ${nqn} to serve`);
    }
    const info: ListenerInfo = {
      host: addr.host ?? '127.0.0.1',
      port: 0,
      portid: this.listenerInfos.length + 1,
      subsystems: addr.subsystems === undefined ? undefined : new Set(addr.subsystems),
      tls,
    };
    await this.open();
    const host = info.host;
    // pauseOnConnect: a Connection re-wraps each socket to read through `onread` before any read.
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
      const o = this.options;
      const open = this.connections.size + this.peeking.size;
      if (this.closing || open >= o.maxConnections || this.pending.size + this.peeking.size >= o.maxPendingConnections) {
        if (!this.closing) this.refusedCount++;
        socket.destroy();
        return;
      }
      if (tls === 'optional') this.acceptOptional(socket, info);
      else this.accept(socket, info, tls === 'required');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port ?? DEFAULT_PORT, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
    info.port = port;
    info.portid = this.listenerInfos.length + 1;
    this.servers.push(server);
    this.listenerInfos.push(info);
    this.discoveryChanged();
    return { host, port };
  }

  private accept(socket: Socket, info: ListenerInfo, tls: boolean): void {
    const q = new Connection(this.ctx, socket, info, tls ? this.options.tlsKeys : undefined);
    this.connections.add(q);
    this.pending.add(q);
  }

  /** An 'optional' listener's socket: TLS if its first byte starts a TLS record, plaintext otherwise. */
  private acceptOptional(socket: Socket, info: ListenerInfo): void {
    this.peeking.add(socket);
    void peekFirstBytes(socket, this.options.handshakeTimeoutMs).then((first) => {
      this.peeking.delete(socket);
      if (first === undefined || this.closing) socket.destroy();
      else this.accept(socket, info, first[0] === TLS_HANDSHAKE_RECORD);
    });
  }

  /** Connections open now, those of them not yet associated with a controller, and those refused at accept so far. */
  get connectionCounts(): { open: number; pending: number; refused: number } {
    const peeking = this.peeking.size;
    return { open: this.connections.size + peeking, pending: this.pending.size + peeking, refused: this.refusedCount };
  }

  /** I/O queues connected now (connections installed as a queue ID > 0). */
  get ioQueueCount(): number {
    return this.ioQueues.size;
  }

  /** I/O counters of every namespace of every subsystem (labels `subsystem`, `namespace`), as of now. */
  ioStats(): IoSnapshot[] {
    const out: IoSnapshot[] = [];
    for (const s of this.subsystems.values()) for (const nsid of s.nsids) out.push(s.namespaces.get(nsid)!.io.snapshot());
    return out;
  }

  /**
   * The data buffer budget shared by all connections (options.dataBudgetBytes): bytes
   * held by commands now (`used`) and at most so far (`peak`), commands waiting for a
   * buffer, and free buffers kept for reuse (`pooled`, within the limit too).
   */
  bufferBudget(): BudgetStats {
    return this.budget.stats();
  }

  /**
   * Every open connection's send queue (bytes waiting for the kernel, the most seen,
   * pauses of its receiver; see SEND_QUEUE_LIMIT), with its queue ID (-1 before
   * Connect) and its controller's CNTLID (0 before Connect).
   */
  sendQueues(): (SendQueueStats & { qid: number; cntlid: number })[] {
    const out: (SendQueueStats & { qid: number; cntlid: number })[] = [];
    for (const q of this.connections) out.push({ ...q.sendQueue(), qid: q.qid, cntlid: q.ctrl?.cntlid ?? 0 });
    return out;
  }

  /** True while the event loop is being busy-polled (options.poll and an I/O queue connected). */
  get polling(): boolean {
    return this.poller?.polling === true;
  }

  /** Stops listening, closes every connection and flushes and closes the namespaces. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const q of this.connections) q.close();
    for (const s of this.peeking) s.destroy();
    for (const c of [...this.controllers.values()]) c.destroy('target closed');
    await Promise.all(closed);
    await this.opened?.catch(() => undefined);
    const all = [...this.subsystems.values()].flatMap((s) => [...s.namespaces.values()]);
    await Promise.all(all.map((ns) => ns.backend.close()));
  }

  /** A copy of what the target holds for namespace `nsid` of `nqn` at [offset, offset+len) (tests, tools). */
  async namespaceBytes(nqn: string, nsid: number, offset: number, len: number): Promise<Buffer> {
    const ns = this.subsystems.get(nqn)?.namespaces.get(nsid);
    if (ns === undefined) throw new InvalidArgumentError(`no namespace ${nsid} in ${nqn}`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset + len > ns.backend.size) {
      throw new InvalidArgumentError(`range [${offset}, ${offset + len}) outside namespace ${nsid} (${ns.backend.size} bytes)`);
    }
    return Buffer.concat(await ns.backend.read(offset, len), len);
  }

  // ------------------------------------------------------------ namespaces at run time
  //
  // Each change raises Namespace Attribute Changed on every controller of the
  // subsystem (those that enabled the notice get an AEN; all of them list the NSID
  // in their Changed Namespace List log page), as nvmet does on enable, disable and
  // resize of a namespace.

  /** Adds a namespace to a subsystem of a running target; resolves with its NSID once its backend is open. */
  async addNamespace(nqn: string, cfg: NamespaceConfig): Promise<number> {
    const s = this.nvmSubsystem(nqn);
    const ns = s.addNamespace(cfg);
    try {
      if (this.opened !== undefined) await ns.backend.open();
    } catch (e) {
      s.removeNamespace(ns.nsid);
      throw new InvalidArgumentError(`subsystem ${nqn} nsid ${ns.nsid}: cannot open: ${(e as Error).message}`);
    }
    this.namespaceChanged(s, ns.nsid);
    return ns.nsid;
  }

  /** Grows or shrinks namespace `nsid` of `nqn` to `bytes` (rounded down to whole blocks). */
  async resizeNamespace(nqn: string, nsid: number, bytes: number): Promise<void> {
    const s = this.nvmSubsystem(nqn);
    const ns = s.namespaces.get(nsid);
    if (ns === undefined) throw new InvalidArgumentError(`subsystem ${nqn}: no namespace ${nsid}`);
    await ns.resize(s.checkResize(ns, bytes));
    this.namespaceChanged(s, nsid);
  }

  /** Takes namespace `nsid` out of `nqn`: new commands for it fail (Invalid Namespace); its backend is flushed and closed. */
  async removeNamespace(nqn: string, nsid: number): Promise<void> {
    const s = this.nvmSubsystem(nqn);
    const ns = s.removeNamespace(nsid);
    this.namespaceChanged(s, nsid);
    await ns.backend.close();
  }

  private nvmSubsystem(nqn: string): Subsystem {
    const s = this.subsystems.get(nqn);
    if (s === undefined) throw new InvalidArgumentError(`no subsystem ${nqn}`);
    if (this.closing) throw new InvalidArgumentError('target is closed');
    return s;
  }

  private namespaceChanged(s: Subsystem, nsid: number): void {
    for (const c of this.controllers.values()) if (c.subsys === s) c.namespaceChanged(nsid);
  }

  /** Live controllers (for tools and tests). */
  get controllerCount(): number {
    return this.controllers.size;
  }

  /**
   * Opens every namespace's store (files are opened, a missing one created). listen()
   * does it first; calling it before tells a namespace error apart from a listen error.
   */
  async open(): Promise<void> {
    if (this.closing) throw new InvalidArgumentError('target is closed');
    this.opened ??= this.openBackends();
    await this.opened;
  }

  private async openBackends(): Promise<void> {
    for (const s of this.subsystems.values()) {
      for (const ns of s.namespaces.values()) {
        try {
          await ns.backend.open();
        } catch (e) {
          throw new InvalidArgumentError(`subsystem ${s.nqn} nsid ${ns.nsid}: ${(e as Error).message}`);
        }
      }
    }
  }

  private discoveryChanged(): void {
    this.genctr++;
    for (const c of this.controllers.values()) c.discoveryChanged();
  }

  private discoveryEntries(hostnqn: string, q: CmdQueue): DiscoveryEntry[] {
    return discoveryEntries(this.subsystems.values(), q.port, hostnqn, q.localAddress, this.options.mqes + 1);
  }

  /** Gives `c` a free controller ID from its subsystem's range (cntlidMin..cntlidMax), or 0 when none is free. */
  private addController(c: Controller): number {
    const s = c.subsys;
    for (let i = s.cntlidMin; i <= s.cntlidMax; i++) {
      const id = s.nextCntlid;
      s.nextCntlid = id === s.cntlidMax ? s.cntlidMin : id + 1;
      if (!this.controllers.has(id)) {
        c.cntlid = id;
        this.controllers.set(id, c);
        this.emitLater('connect', info(c));
        return id;
      }
    }
    return 0;
  }

  private controllerGone(c: Controller, reason: string): void {
    if (this.controllers.get(c.cntlid) !== c) return;
    this.controllers.delete(c.cntlid);
    this.emitLater('disconnect', { ...info(c), reason });
  }

  /** Events leave the receive path first: a listener that throws cannot break a queue. */
  private emitLater(event: string, payload: ControllerInfo): void {
    process.nextTick(() => this.emit(event, payload));
  }
}

function info(c: Controller): ControllerInfo {
  return {
    cntlid: c.cntlid,
    subnqn: c.subsys.nqn,
    hostnqn: c.hostnqn,
    hostid: c.hostid.toString('hex'),
    remoteAddress: c.admin.remoteAddress,
  };
}
