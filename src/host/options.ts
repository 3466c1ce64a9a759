// Host connect options and their resolved (validated, defaulted) form.
import { randomUUID } from 'node:crypto';
import { DEFAULT_PORT, NQN_DISCOVERY } from '../protocol/constants.ts';
import { InvalidArgumentError } from '../protocol/errors.ts';
import { parseDhchapKey } from '../protocol/dhchap.ts';
import { CATTR_DISABLE_SQFLOW } from '../protocol/fabrics.ts';
import { deriveRetainedPsk, deriveTlsPsk, parsePskInterchange, PskHash } from '../protocol/tls-psk.ts';
import type { TlsClientPsk } from '../transport/tls.ts';
import type { HostSecrets } from './auth.ts';
import type { HostDdpDevice } from './offload.ts';

export interface ConnectOptions {
  traddr: string;
  /** Default 4420. */
  trsvcid?: number | string | undefined;
  subnqn: string;
  /** Default nqn.2014-08.org.nvmexpress:uuid:<hostid>. */
  hostnqn?: string | undefined;
  /** 16 bytes or a UUID string; default a random UUID. */
  hostid?: Buffer | string | undefined;
  hdgst?: boolean | undefined;
  ddgst?: boolean | undefined;
  /** I/O queues to ask for (default 1); the controller may grant fewer. */
  nrIoQueues?: number | undefined;
  /** I/O queue entries (default 128); clamped to CAP.MQES+1 and MAXCMD. */
  queueSize?: number | undefined;
  /** Keep Alive Timeout in ms (default 5000; 0 = no keep-alive). */
  kato?: number | undefined;
  /**
   * Command timeout (default 30000 ms, the kernel's nvme_core.io_timeout); a timeout
   * tears the association down and starts error recovery.
   */
  ioTimeoutMs?: number | undefined;
  /**
   * Error recovery (the Linux host's): after a queue error (socket error, TermReq,
   * keep-alive or command timeout) every queue is torn down and the admin and I/O
   * queues are connected again every reconnectDelayMs (default 10000, nvme-cli
   * --reconnect-delay 10 s) until ctrlLossTmoMs has passed since the error (default
   * 600000, --ctrl-loss-tmo 600 s; -1 = forever; 0 = no reconnect: the controller is
   * lost at the first error). I/O waits meanwhile and is resent on the new association.
   */
  reconnectDelayMs?: number | undefined;
  ctrlLossTmoMs?: number | undefined;
  /**
   * While reconnecting, fail waiting and new I/O this long after the error instead of
   * letting it wait for the new association (--fast_io_fail_tmo; default -1 = off).
   */
  fastIoFailTmoMs?: number | undefined;
  /** TCP connect + ICResp bound (default 10000 ms). */
  connectTimeoutMs?: number | undefined;
  /**
   * Connect with CATTR.DISSQFC (SQ flow control disabled, Linux `disable_sqflow`): the
   * controller may then end successful reads with a C2HData SUCCESS and no CapsuleResp.
   */
  disableSqFlow?: boolean | undefined;
  /** How block I/O picks an I/O queue (default round-robin). */
  queuePolicy?: 'round-robin' | 'least-loaded' | undefined;
  /** Receive offload device for the I/O queues. */
  offload?: HostDdpDevice | undefined;
  /**
   * Busy-poll the event loop while small I/O (at most 16 KiB, POLL_MAX_IO) is
   * outstanding (fio's `hipri`, SPDK's polling): completions are read as soon as they
   * land, without a sleeping thread's wake-up, at the price of a core at 100% while
   * such I/O runs. Larger transfers do not poll (they would only read in smaller
   * pieces). Default false.
   */
  poll?: boolean | undefined;
  /**
   * TLS 1.3 with a pre-shared key on every queue (NVMe TCP TP 8011): the configured PSK
   * in the interchange format `NVMeTLSkey-1:<hh>:<base64>:` (what `nvme gen-tls-key`
   * prints). The receive offload does not apply to TLS queues.
   */
  tlsKey?: string | undefined;
  /** PSK identity version sent: 0 `NVMe0R01 <hostnqn> <subnqn>` (default) or 1 (with the PSK digest). */
  tlsIdentityVersion?: 0 | 1 | undefined;
  /** Derive the TLS PSK as libnvme did before its 2025 HKDF-Expand-Label fix (see protocol/tls-psk.ts). */
  tlsCompat?: boolean | undefined;
  /**
   * The host's DH-HMAC-CHAP secret (nvme-cli's --dhchap-secret), `DHHC-1:..:` as
   * `nvme gen-dhchap-key` prints it: every queue authenticates when the controller asks.
   */
  dhchapSecret?: string | undefined;
  /**
   * The controller's secret (nvme-cli's --dhchap-ctrl-secret): bidirectional
   * authentication, the controller must prove it knows it (on every queue, asked or not).
   */
  dhchapCtrlSecret?: string | undefined;
}

/** Parses the two DH-HMAC-CHAP secrets (InvalidArgumentError naming the option). */
function resolveSecrets(host: string | undefined, ctrl: string | undefined): HostSecrets | undefined {
  if (host === undefined) {
    if (ctrl !== undefined) throw new InvalidArgumentError('dhchapCtrlSecret: needs dhchapSecret as well');
    return undefined;
  }
  return {
    hostKey: parseDhchapKey(host, 'dhchapSecret'),
    ctrlKey: ctrl === undefined ? undefined : parseDhchapKey(ctrl, 'dhchapCtrlSecret'),
  };
}

/** ConnectOptions validated, with every default filled in. */
export interface ResolvedOptions {
  host: string;
  port: number;
  subnqn: string;
  hostnqn: string;
  hostid: Buffer;
  hdgst: boolean;
  ddgst: boolean;
  nrIoQueues: number;
  queueSize: number;
  kato: number;
  ioTimeoutMs: number;
  reconnectDelayMs: number;
  /** -1: forever. */
  ctrlLossTmoMs: number;
  /** -1: off. */
  fastIoFailTmoMs: number;
  connectTimeoutMs: number;
  leastLoaded: boolean;
  cattr: number;
  offload: HostDdpDevice | undefined;
  discovery: boolean;
  poll: boolean;
  /** The PSK identity and TLS PSK every queue uses, if TLS is on. */
  tls: TlsClientPsk | undefined;
  /** DH-HMAC-CHAP secrets, when given. */
  auth: HostSecrets | undefined;
}

function parseHostId(h: Buffer | string | undefined): Buffer {
  if (h === undefined) return Buffer.from(randomUUID().replaceAll('-', ''), 'hex');
  if (typeof h === 'string') {
    const hex = h.replaceAll('-', '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new InvalidArgumentError(`hostid: ${JSON.stringify(h)} is not a UUID`);
    return Buffer.from(hex, 'hex');
  }
  if (!Buffer.isBuffer(h) || h.length !== 16) throw new InvalidArgumentError('hostid: expected 16 bytes');
  return h;
}

function uuidOf(b: Buffer): string {
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function intOpt(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min || x > max) {
    throw new InvalidArgumentError(`${name}: ${String(v)} is not an integer in ${min}..${max}`);
  }
  return x;
}

/** Validates ConnectOptions (InvalidArgumentError naming the option) and fills in the defaults. */
export function resolveOptions(o: ConnectOptions): ResolvedOptions {
  if (typeof o.traddr !== 'string' || o.traddr === '') throw new InvalidArgumentError('traddr: required');
  if (typeof o.subnqn !== 'string' || o.subnqn === '') throw new InvalidArgumentError('subnqn: required');
  const port = intOpt('trsvcid', o.trsvcid === undefined ? undefined : Number(o.trsvcid), DEFAULT_PORT, 1, 65535);
  const hostid = parseHostId(o.hostid);
  const discovery = o.subnqn === NQN_DISCOVERY;
  const hostnqn = o.hostnqn ?? `nqn.2014-08.org.nvmexpress:uuid:${uuidOf(hostid)}`;
  return {
    host: o.traddr,
    port,
    subnqn: o.subnqn,
    hostnqn,
    hostid,
    hdgst: o.hdgst === true,
    ddgst: o.ddgst === true,
    nrIoQueues: intOpt('nrIoQueues', o.nrIoQueues, 1, 1, 0xffff),
    queueSize: intOpt('queueSize', o.queueSize, 128, 2, 0x10000),
    kato: intOpt('kato', o.kato, discovery ? 0 : 5000, 0, 0xffff_ffff),
    ioTimeoutMs: intOpt('ioTimeoutMs', o.ioTimeoutMs, 30_000, 1, 0x7fff_ffff),
    reconnectDelayMs: intOpt('reconnectDelayMs', o.reconnectDelayMs, 10_000, 1, 0x7fff_ffff),
    ctrlLossTmoMs: intOpt('ctrlLossTmoMs', o.ctrlLossTmoMs, 600_000, -1, 0x7fff_ffff),
    fastIoFailTmoMs: intOpt('fastIoFailTmoMs', o.fastIoFailTmoMs, -1, -1, 0x7fff_ffff),
    connectTimeoutMs: intOpt('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1, 0x7fff_ffff),
    leastLoaded: o.queuePolicy === 'least-loaded',
    cattr: o.disableSqFlow === true ? CATTR_DISABLE_SQFLOW : 0,
    poll: o.poll === true,
    offload: o.offload,
    discovery,
    tls: o.tlsKey === undefined ? undefined : hostTlsPsk(o, hostnqn),
    auth: resolveSecrets(o.dhchapSecret, o.dhchapCtrlSecret),
  };
}

/**
 * The host's {PSK identity, TLS PSK} for TLS_AES_128_GCM_SHA256, the one suite Node can
 * negotiate with a PSK (transport/tls.ts): a key of either hash derives it.
 */
function hostTlsPsk(o: ConnectOptions, hostnqn: string): TlsClientPsk {
  const version = o.tlsIdentityVersion ?? 0;
  if (version !== 0 && version !== 1) throw new InvalidArgumentError(`tlsIdentityVersion: ${String(version)} is not 0 or 1`);
  const retained = deriveRetainedPsk(parsePskInterchange(o.tlsKey as string), hostnqn, o.tlsCompat === true);
  return deriveTlsPsk(retained, { version, cipher: PskHash.Sha256, hostnqn, subnqn: o.subnqn, compat: o.tlsCompat === true });
}
