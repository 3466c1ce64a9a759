// Host sessions for the verbs: read the discovery log, pick the subsystem when -n is
// not given, connect a controller with the connection flags.
import { type ConnectOptions, discoverLog, type DiscoverLogResult, type HostDdpDevice, NvmeController, SubType, Treq } from '../index.ts';
import { type ConnectionFlags, targetLabel } from './connection.ts';
import { CliError, describeError } from './errors.ts';

/** Bound for a CLI: fail within seconds when the target is not there. */
const CONNECT_TIMEOUT_MS = 5000;

/** Seconds (-1 kept as it is) to the library's milliseconds. */
const ms = (sec: number): number => (sec < 0 ? -1 : Math.max(1, Math.round(sec * 1000)));

/** -v output: one line on stderr. */
function say(f: ConnectionFlags, line: string): void {
  if (f.verbose) process.stderr.write(`nvmeotcp: ${line}\n`);
}

/** Wraps a connect failure in one line that names the target. */
async function reaching<T>(f: ConnectionFlags, what: string, p: () => Promise<T>): Promise<T> {
  say(f, `${what.replace(/^cannot /, '')} ${targetLabel(f)} as ${f.hostnqn}`);
  try {
    return await p();
  } catch (e) {
    throw new CliError(`${what} ${targetLabel(f)}: ${describeError(e)}`);
  }
}

/** The whole discovery log with its generation counter (`nvme discover` prints it). */
export async function readDiscoveryLog(f: ConnectionFlags): Promise<DiscoverLogResult> {
  const log = await reaching(f, 'cannot reach the discovery controller at', () => discoverLog(baseOptions(f)));
  say(f, `discovery log: ${log.entries.length} record(s), generation counter ${log.genctr}`);
  return log;
}

function baseOptions(f: ConnectionFlags): Omit<ConnectOptions, 'subnqn'> {
  return {
    traddr: f.traddr,
    trsvcid: f.trsvcid,
    hostnqn: f.hostnqn,
    hostid: f.hostid,
    hdgst: f.hdrDigest,
    ddgst: f.dataDigest,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    ioTimeoutMs: ms(f.ioTimeout),
    reconnectDelayMs: ms(f.reconnectDelay),
    ctrlLossTmoMs: f.ctrlLossTmo === 0 ? 0 : ms(f.ctrlLossTmo),
    fastIoFailTmoMs: ms(f.fastIoFailTmo),
    ...(f.tlsKey !== undefined ? { tlsKey: f.tlsKey } : {}),
  };
}

/** -n, or else the first NVM subsystem the target's discovery log lists. */
export async function resolveSubnqn(f: ConnectionFlags): Promise<string> {
  if (f.nqn !== undefined) return f.nqn;
  const { entries } = await readDiscoveryLog(f);
  const nvm = entries.find((e) => e.subtype === SubType.Nvme);
  if (nvm === undefined) throw new CliError(`${targetLabel(f)} offers no NVM subsystem to this host (give one with -n)`);
  // The log says whether the port requires TLS (TREQ); a host with a key uses TLS
  // whatever the log says (NVMe TCP §3.6.1.6: it should attempt TLS nonetheless).
  if ((nvm.treq & Treq.Mask) === Treq.Required && f.tlsKey === undefined) {
    throw new CliError(`the discovery log says ${nvm.subnqn} at ${nvm.traddr}:${nvm.trsvcid} requires TLS: give --tls-key`);
  }
  return nvm.subnqn;
}

export async function connectController(
  f: ConnectionFlags,
  subnqn: string,
  offload?: HostDdpDevice,
  extra: { poll?: boolean } = {},
): Promise<NvmeController> {
  const ctrl = await reaching(f, `cannot connect to ${subnqn} at`, () =>
    NvmeController.connect({
      ...baseOptions(f),
      subnqn,
      nrIoQueues: f.nrIoQueues,
      queueSize: f.queueSize,
      disableSqFlow: f.disableSqflow,
      kato: f.keepAliveTmo * 1000,
      dhchapSecret: f.dhchapSecret,
      dhchapCtrlSecret: f.dhchapCtrlSecret,
      ...(offload ? { offload } : {}),
      ...(extra.poll ? { poll: true } : {}),
    }),
  );
  say(f, `controller ${ctrl.cntlid} of ${subnqn} is live: admin + ${ctrl.ioQueueCount} I/O queue(s)`);
  return ctrl;
}
