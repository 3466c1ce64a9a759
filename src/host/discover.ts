// Discovery: connect to the discovery controller (KATO 0, no I/O queues), read the
// discovery log page (LID 0x70) as libnvme does, disconnect.
//   1. header, 20 bytes at LPO 0 (GENCTR, NUMREC, RECFMT)
//   2. NUMREC entries of 1024 bytes from LPO 1024, in commands of ≤ 4096 bytes,
//      RAE = 1 on all but the last
//   3. header again: a changed GENCTR means the log changed underneath; retry.
import { DISCOVERY_PORT, LogId, NQN_DISCOVERY } from '../protocol/constants.ts';
import {
  DISC_ENTRY_LEN,
  DISC_HDR_LEN,
  DISC_HDR_MIN,
  type DiscoveryEntry,
  parseDiscoveryLog,
  parseDiscoveryLogHeader,
} from '../protocol/discovery.ts';
import { NegotiationError } from '../protocol/errors.ts';
import { NvmeController } from './controller.ts';

export interface DiscoverOptions {
  traddr: string;
  /** Default 8009 (the Linux host's default discovery port). */
  trsvcid?: number | string | undefined;
  hostnqn?: string | undefined;
  hostid?: Buffer | string | undefined;
  hdgst?: boolean | undefined;
  ddgst?: boolean | undefined;
  /** Command timeout (default 30000 ms). */
  ioTimeoutMs?: number | undefined;
  connectTimeoutMs?: number | undefined;
  /** TLS 1.3 with this configured PSK (interchange format), as ConnectOptions.tlsKey. */
  tlsKey?: string | undefined;
  tlsIdentityVersion?: 0 | 1 | undefined;
  tlsCompat?: boolean | undefined;
}

const CHUNK = 4096;
const MAX_RETRIES = 10;
/** Refuse absurd NUMREC values before allocating (4 MiB of entries). */
const MAX_RECORDS = 4096;

/** The discovery log as read: its generation counter, record count and entries. */
export interface DiscoverLogResult {
  genctr: number;
  numrec: number;
  entries: DiscoveryEntry[];
}

/** The discovery log's entries. */
export async function discover(o: DiscoverOptions): Promise<DiscoveryEntry[]> {
  return (await discoverLog(o)).entries;
}

/** The whole discovery log, with the GENCTR it was read under (`nvme discover` prints it). */
export async function discoverLog(o: DiscoverOptions): Promise<DiscoverLogResult> {
  const ctrl = await NvmeController.connect({
    traddr: o.traddr,
    trsvcid: o.trsvcid ?? DISCOVERY_PORT,
    subnqn: NQN_DISCOVERY,
    hostnqn: o.hostnqn,
    hostid: o.hostid,
    hdgst: o.hdgst,
    ddgst: o.ddgst,
    kato: 0,
    ioTimeoutMs: o.ioTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    tlsKey: o.tlsKey,
    tlsIdentityVersion: o.tlsIdentityVersion,
    tlsCompat: o.tlsCompat,
  });
  try {
    return await readDiscoveryLog(ctrl);
  } finally {
    await ctrl.disconnect();
  }
}

async function readDiscoveryLog(ctrl: NvmeController): Promise<DiscoverLogResult> {
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const first = await ctrl.getLogPage(LogId.Discovery, DISC_HDR_MIN, 0, { rae: true });
    const hdr = parseDiscoveryLogHeader(first);
    if (hdr.recfmt !== 0) throw new NegotiationError(`discovery log RECFMT ${hdr.recfmt} is not supported`);
    if (hdr.numrec > MAX_RECORDS) throw new NegotiationError(`discovery log NUMREC ${hdr.numrec} is too large`);
    const total = hdr.numrec * DISC_ENTRY_LEN;
    const log = Buffer.alloc(DISC_HDR_LEN + total);
    first.copy(log, 0);
    for (let off = 0; off < total; off += CHUNK) {
      const n = Math.min(CHUNK, total - off);
      const part = await ctrl.getLogPage(LogId.Discovery, n, DISC_HDR_LEN + off, { rae: off + n < total });
      part.copy(log, DISC_HDR_LEN + off);
    }
    const again = parseDiscoveryLogHeader(await ctrl.getLogPage(LogId.Discovery, DISC_HDR_MIN, 0));
    if (again.genctr === hdr.genctr) {
      if (again.numrec !== hdr.numrec) throw new NegotiationError('discovery log NUMREC changed with the same GENCTR');
      const { genctr, numrec, entries } = parseDiscoveryLog(log);
      return { genctr, numrec, entries };
    }
  }
  throw new NegotiationError(`discovery log kept changing over ${MAX_RETRIES} reads`);
}
