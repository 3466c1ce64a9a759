// Host sessions for the verbs: read the discovery log, pick the subsystem when -n is
// not given, connect a controller with the connection flags.
import { type ConnectOptions, discover, type HostDdpDevice, NvmeController } from '../host/index.ts';
import { LogId, NQN_DISCOVERY } from '../protocol/constants.ts';
import {
  DISC_ENTRY_LEN,
  DISC_HDR_LEN,
  DISC_HDR_MIN,
  type DiscoveryEntry,
  parseDiscoveryEntry,
  parseDiscoveryLogHeader,
  SubType,
} from '../protocol/discovery.ts';
import { type ConnectionFlags, targetLabel } from './connection.ts';
import { CliError, describeError } from './errors.ts';

/** Bounds for a CLI: fail within seconds when the target is not there. */
const CONNECT_TIMEOUT_MS = 5000;
const IO_TIMEOUT_MS = 30_000;
/** Refuse absurd NUMREC values before allocating. */
const MAX_RECORDS = 4096;

export interface DiscoveryLog {
  genctr: number;
  entries: DiscoveryEntry[];
}

/** Wraps a connect failure in one line that names the target. */
async function reaching<T>(f: ConnectionFlags, what: string, p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw new CliError(`${what} ${targetLabel(f)}: ${describeError(e)}`);
  }
}

/**
 * The whole discovery log with its generation counter (`nvme discover` prints it).
 * As libnvme: header, entries in 4 KiB reads, header again; a changed GENCTR means
 * the log changed underneath, so read it again.
 */
export async function readDiscoveryLog(f: ConnectionFlags): Promise<DiscoveryLog> {
  const ctrl = await reaching(f, 'cannot reach the discovery controller at', () =>
    NvmeController.connect({ ...baseOptions(f), subnqn: NQN_DISCOVERY, kato: 0 }),
  );
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      const hdr = parseDiscoveryLogHeader(await ctrl.getLogPage(LogId.Discovery, DISC_HDR_MIN, 0, { rae: true }));
      if (hdr.numrec > MAX_RECORDS) throw new CliError(`discovery log of ${targetLabel(f)}: ${hdr.numrec} records is too many`);
      const raw = Buffer.alloc(hdr.numrec * DISC_ENTRY_LEN);
      for (let off = 0; off < raw.length; off += 4096) {
        const n = Math.min(4096, raw.length - off);
        (await ctrl.getLogPage(LogId.Discovery, n, DISC_HDR_LEN + off, { rae: true })).copy(raw, off);
      }
      const again = parseDiscoveryLogHeader(await ctrl.getLogPage(LogId.Discovery, DISC_HDR_MIN, 0));
      if (again.genctr === hdr.genctr && again.numrec === hdr.numrec) {
        const entries = Array.from({ length: hdr.numrec }, (_, i) => parseDiscoveryEntry(raw, i * DISC_ENTRY_LEN));
        return { genctr: hdr.genctr, entries };
      }
    }
    throw new CliError(`the discovery log of ${targetLabel(f)} kept changing while being read`);
  } finally {
    await ctrl.disconnect();
  }
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
    ioTimeoutMs: IO_TIMEOUT_MS,
  };
}

/** -n, or else the first NVM subsystem the target's discovery log lists. */
export async function resolveSubnqn(f: ConnectionFlags): Promise<string> {
  if (f.nqn !== undefined) return f.nqn;
  const entries = await reaching(f, 'cannot reach the discovery controller at', () =>
    discover({ traddr: f.traddr, trsvcid: f.trsvcid, hostnqn: f.hostnqn, hostid: f.hostid, connectTimeoutMs: CONNECT_TIMEOUT_MS }),
  );
  const nvm = entries.find((e) => e.subtype === SubType.Nvme);
  if (nvm === undefined) throw new CliError(`${targetLabel(f)} offers no NVM subsystem to this host (give one with -n)`);
  return nvm.subnqn;
}

export async function connectController(f: ConnectionFlags, subnqn: string, offload?: HostDdpDevice): Promise<NvmeController> {
  return reaching(f, `cannot connect to ${subnqn} at`, () =>
    NvmeController.connect({
      ...baseOptions(f),
      subnqn,
      nrIoQueues: f.nrIoQueues,
      queueSize: f.queueSize,
      kato: f.keepAliveTmo * 1000,
      ...(offload ? { offload } : {}),
    }),
  );
}
