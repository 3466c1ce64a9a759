// The connection flags, spelled as nvme-cli spells them (nvme connect / discover):
// -t/--transport, -a/--traddr, -s/--trsvcid, -n/--nqn, -q/--hostnqn, -I/--hostid,
// -g/--hdr-digest, -G/--data-digest, -i/--nr-io-queues, -Q/--queue-size,
// -d/--disable-sqflow, -k/--keep-alive-tmo (seconds), -v/--verbose, -S/--dhchap-secret,
// -C/--dhchap-ctrl-secret (DH-HMAC-CHAP secrets as `nvme gen-dhchap-key` prints them),
// --tls, --tls-key (nvme-cli also spells it --tls_key; we have no kernel keyring, so
// TLS needs the key itself); error recovery: -c/--reconnect-delay, -l/--ctrl-loss-tmo,
// --fast_io_fail_tmo (also --fast-io-fail-tmo), and --io-timeout (the kernel's
// nvme_core.io_timeout), all in seconds.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parsePskInterchange } from '../index.ts';
import { dhchapSecretArg, formatHostPort, intArg, secondsArg, traddrArg } from './args.ts';
import { CliError } from './errors.ts';

export interface ConnectionFlags {
  traddr: string;
  trsvcid: number;
  nqn?: string;
  hostnqn: string;
  hostid: string;
  hdrDigest: boolean;
  dataDigest: boolean;
  nrIoQueues: number;
  queueSize: number;
  /** Ask the controller to disable SQ flow control (Connect CATTR bit 2). */
  disableSqflow: boolean;
  keepAliveTmo: number;
  /** Error recovery, in seconds (see ConnectOptions): delay between attempts, loss timeout (-1 forever), fast I/O fail (-1 off). */
  reconnectDelay: number;
  ctrlLossTmo: number;
  fastIoFailTmo: number;
  /** Command timeout in seconds. */
  ioTimeout: number;
  /** TLS 1.3 with this configured PSK (interchange format); set by --tls-key. */
  tlsKey?: string;
  /** DH-HMAC-CHAP: the host's secret, and the controller's for bidirectional authentication. */
  dhchapSecret?: string;
  dhchapCtrlSecret?: string;
  /** -v: say on stderr what is being done (each connection, each log read). */
  verbose: boolean;
}

/** nvme-cli's and the kernel's defaults (seconds). */
export const RECOVERY_DEFAULTS = { reconnectDelay: 10, ctrlLossTmo: 600, fastIoFailTmo: -1, ioTimeout: 30 } as const;

const DEFAULT_TRSVCID = 4420;

function transportArg(v: string): string {
  if (v !== 'tcp') throw new InvalidArgumentError('only tcp is supported');
  return v;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function tlsKeyArg(v: string): string {
  try {
    parsePskInterchange(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v.trim();
}

function hostidArg(v: string): string {
  if (!UUID.test(v.trim())) {
    throw new InvalidArgumentError('expected a UUID');
  }
  return v.trim();
}

export interface ConnectionFlagSet {
  /** Whether -n/--nqn must be given. */
  nqn: 'required' | 'optional' | 'none';
  /** Whether the I/O queue flags (-i, -Q) apply. */
  ioQueues: boolean;
  /** Whether the error recovery flags (-c, -l, --fast_io_fail_tmo, --io-timeout) apply. */
  recovery?: boolean;
  /** perf: -q and -t are spdk_nvme_perf's (depth, time), so --hostnqn and --transport have no short form. */
  spdkPerf?: boolean;
  /** Whether -v/--verbose is offered (the nvme-cli verbs). */
  verbose?: boolean;
}

export function addConnectionOptions(cmd: Command, set: ConnectionFlagSet): Command {
  cmd
    .addOption(
      new Option(`${set.spdkPerf ? '' : '-t, '}--transport <trtype>`, 'transport type (tcp only)').default('tcp').argParser(transportArg),
    )
    .option('-a, --traddr <addr>', 'transport address of the target (IPv6 as ::1 or [::1])', traddrArg, '127.0.0.1')
    .option('-s, --trsvcid <port>', 'transport service id (TCP port)', intArg(1, 65535), DEFAULT_TRSVCID);
  if (set.nqn === 'required') cmd.requiredOption('-n, --nqn <subnqn>', 'subsystem NQN');
  else if (set.nqn === 'optional')
    cmd.option('-n, --nqn <subnqn>', 'subsystem NQN (default: the first NVM subsystem the discovery log lists)');
  cmd
    .option(`${set.spdkPerf ? '' : '-q, '}--hostnqn <nqn>`, 'host NQN (default: /etc/nvme/hostnqn, else a generated one)')
    .option('-I, --hostid <uuid>', 'host identifier (default: /etc/nvme/hostid, else a generated one)', hostidArg)
    .option('-g, --hdr-digest', 'enable the transport header digest (CRC32C)', false)
    .option('-G, --data-digest', 'enable the transport data digest (CRC32C)', false)
    .option('-k, --keep-alive-tmo <sec>', 'keep-alive timeout in seconds (0 disables)', intArg(0, 65535), 5)
    .option('--tls', 'TLS 1.3 with a pre-shared key on every queue (needs --tls-key)', false)
    .option(
      '--tls-key <key>',
      'TLS PSK in the interchange format (NVMeTLSkey-1:01:...:, as `nvme gen-tls-key` prints); implies --tls',
      tlsKeyArg,
    )
    .addOption(new Option('--tls_key <key>').hideHelp().argParser(tlsKeyArg));
  if (set.nqn !== 'none') {
    cmd
      .option('-S, --dhchap-secret <secret>', 'DH-HMAC-CHAP host secret (DHHC-1:..: from `nvme gen-dhchap-key`)', dhchapSecretArg)
      .option('-C, --dhchap-ctrl-secret <secret>', 'DH-HMAC-CHAP controller secret: authenticate the controller too', dhchapSecretArg);
  }
  if (set.verbose) cmd.option('-v, --verbose', 'say on stderr what is being done', false);
  if (set.ioQueues) {
    cmd
      .option(
        '-i, --nr-io-queues <n>',
        'number of I/O queues (default: number of CPUs)',
        intArg(1, 128),
        Math.min(availableParallelism(), 128),
      )
      .option('-Q, --queue-size <n>', 'I/O queue size (entries)', intArg(2, 1024), 128)
      .option('-d, --disable-sqflow', 'disable SQ flow control (reads may complete with the last C2HData, no CapsuleResp)', false);
  }
  if (set.recovery) {
    const d = RECOVERY_DEFAULTS;
    cmd
      .option(
        '-c, --reconnect-delay <sec>',
        'after a connection error, try to reconnect every this many seconds',
        secondsArg(0.001),
        d.reconnectDelay,
      )
      .option(
        '-l, --ctrl-loss-tmo <sec>',
        'give the controller up this long after the error (-1: never, 0: no reconnect)',
        secondsArg(0, 'never'),
        d.ctrlLossTmo,
      )
      .option('--fast_io_fail_tmo <sec>', 'while reconnecting, fail I/O this long after the error (default -1: off)', secondsArg(0, 'off'))
      .addOption(new Option('--fast-io-fail-tmo <sec>').hideHelp().argParser(secondsArg(0, 'off')))
      .option(
        '--io-timeout <sec>',
        'command timeout (the kernel nvme_core.io_timeout); a timeout resets the association',
        secondsArg(0.001),
        d.ioTimeout,
      );
  }
  return cmd;
}

function readIdFile(path: string): string | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    return s === '' ? undefined : s;
  } catch {
    return undefined;
  }
}

/** Raw commander option values → ConnectionFlags (defaults filled as nvme-cli does). */
export function connectionFlags(o: Record<string, unknown>): ConnectionFlags {
  // As nvme-cli: the flags, else /etc/nvme/hostid and /etc/nvme/hostnqn, else generated
  // (the hostnqn from the hostid, the form `nvme gen-hostnqn` writes).
  const fileId = readIdFile('/etc/nvme/hostid');
  const hostid = (o.hostid as string | undefined) ?? (fileId !== undefined && UUID.test(fileId) ? fileId : randomUUID());
  const hostnqn = (o.hostnqn as string | undefined) ?? readIdFile('/etc/nvme/hostnqn') ?? `nqn.2014-08.org.nvmexpress:uuid:${hostid}`;
  const f: ConnectionFlags = {
    traddr: o.traddr as string,
    trsvcid: o.trsvcid as number,
    hostnqn,
    hostid,
    hdrDigest: o.hdrDigest === true,
    dataDigest: o.dataDigest === true,
    nrIoQueues: (o.nrIoQueues as number | undefined) ?? 1,
    queueSize: (o.queueSize as number | undefined) ?? 128,
    disableSqflow: o.disableSqflow === true,
    keepAliveTmo: o.keepAliveTmo as number,
    reconnectDelay: (o.reconnectDelay as number | undefined) ?? RECOVERY_DEFAULTS.reconnectDelay,
    ctrlLossTmo: (o.ctrlLossTmo as number | undefined) ?? RECOVERY_DEFAULTS.ctrlLossTmo,
    fastIoFailTmo: ((o.fast_io_fail_tmo ?? o.fastIoFailTmo) as number | undefined) ?? RECOVERY_DEFAULTS.fastIoFailTmo,
    ioTimeout: (o.ioTimeout as number | undefined) ?? RECOVERY_DEFAULTS.ioTimeout,
    verbose: o.verbose === true,
  };
  if (typeof o.nqn === 'string') f.nqn = o.nqn;
  const key = (o.tlsKey ?? o.tls_key) as string | undefined;
  if (key !== undefined) f.tlsKey = key;
  else if (o.tls === true) throw new CliError('--tls needs --tls-key (there is no kernel keyring to look the key up in)');
  if (typeof o.dhchapSecret === 'string') f.dhchapSecret = o.dhchapSecret;
  if (typeof o.dhchapCtrlSecret === 'string') f.dhchapCtrlSecret = o.dhchapCtrlSecret;
  return f;
}

/** "127.0.0.1:4420" / "[::1]:4420". */
export function targetLabel(f: Pick<ConnectionFlags, 'traddr' | 'trsvcid'>): string {
  return formatHostPort({ host: f.traddr, port: f.trsvcid });
}
