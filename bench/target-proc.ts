// A target child process for the memory and reliability scripts: start `nvmeotcp
// target` with a file namespace, read its RSS (/proc/<pid>/status VmRSS, Linux) and
// its /stats, and open I/O queues whose hosts never read a response.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { buildRwSqe } from '../src/protocol/admin.ts';
import { IoOpc } from '../src/protocol/constants.ts';
import { RawClient } from '../test/helpers/raw-client.ts';

export const TARGET_LBA = 4096;
/** I/O queues per controller (the target's default maxIoQueues). */
const QUEUES_PER_CTRL = 8;

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

export interface TargetProc {
  child: ChildProcess;
  port: number;
  /** http://addr:port of /stats and /metrics ('' without statsListen). */
  stats: string;
}

/**
 * Starts the target on `listen` (port 0 picks one) with the file namespace `file` (or a
 * RAM namespace of `ram` bytes);
 * resolves once it printed its address (and its stats address with `statsListen`).
 */
export async function startTargetProc(o: {
  cli: string;
  nqn: string;
  file: string;
  ram?: number | undefined;
  listen?: string;
  statsListen?: boolean;
  extra?: readonly string[];
}): Promise<TargetProc> {
  const args = ['--import', 'tsx', o.cli, 'target', '--listen', o.listen ?? '127.0.0.1:0', '--nqn', o.nqn, '--lba', String(TARGET_LBA)];
  args.push(
    '--ns',
    o.ram !== undefined ? `ram:${o.ram}` : `file:${o.file}`,
    ...(o.statsListen ? ['--stats-listen', '127.0.0.1:0'] : []),
    ...(o.extra ?? []),
  );
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let port = 0;
  let stats = '';
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const l = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
    if (l !== null) port = Number(l[1]);
    const s = /stats: (http:\/\/\S+)\/metrics/.exec(line);
    if (s !== null) stats = s[1];
    if (port > 0 && (stats !== '' || !o.statsListen)) break;
  }
  if (port === 0) throw new Error(`target exited before listening (code ${child.exitCode}, signal ${child.signalCode})`);
  // Keep draining its stdout so it never blocks on a full pipe.
  child.stdout!.resume();
  return { child, port, stats };
}

export async function dataBudgetOf(stats: string): Promise<unknown> {
  const r = await fetch(`${stats}/stats`);
  const j = (await r.json()) as { data_budget?: unknown };
  return j.data_budget;
}

/**
 * Opens `queues` I/O queues (a controller per 8), each sends `qd` reads of `io` bytes
 * over the first `nsBytes` and never reads a byte back. `flood`: a batch every 20 ms
 * for `seconds`, whatever became of the last ones; `burst`: that many reads in one go
 * instead of `qd`. Returns every client (admin ones too).
 */
export async function openNonReadingQueues(o: {
  port: number;
  nqn: string;
  queues: number;
  qd: number;
  io: number;
  nsBytes: number;
  flood?: { seconds: number };
  burst?: number;
}): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  let cntlid = 0;
  for (let i = 0; i < o.queues; i++) {
    if (i % QUEUES_PER_CTRL === 0) {
      const admin = await RawClient.open(o.port);
      clients.push(admin);
      cntlid = await admin.adminConnect(o.nqn);
    }
    const q = await RawClient.open(o.port);
    clients.push(q);
    const cqe = await q.connectQueue({ qid: 1 + (i % QUEUES_PER_CTRL), subnqn: o.nqn, cntlid, sqsize: o.qd - 1 });
    if (cqe.status !== 0) throw new Error(`I/O queue connect: status 0x${cqe.status.toString(16)}`);
    // From here on this host never reads: the target's responses pile up.
    q.socket.pause();
    const nlb = o.io / TARGET_LBA;
    const batch = (): void => {
      const sqes: Buffer[] = [];
      for (let k = 0; k < (o.burst ?? o.qd); k++) {
        const slba = Math.floor(Math.random() * (o.nsBytes / o.io)) * nlb;
        const sqe = buildRwSqe({ cid: q.cid(), opc: IoOpc.Read, nsid: 1, slba, nlb, len: o.io, inCapsule: false });
        sqes.push(...q.capsule(sqe));
      }
      if (!q.socket.destroyed) q.send(...sqes);
    };
    batch();
    if (o.flood !== undefined) {
      const t = setInterval(batch, 20);
      q.socket.on('close', () => clearInterval(t));
      q.closed.then(() => clearInterval(t));
      setTimeout(() => clearInterval(t), o.flood.seconds * 1000).unref();
    }
  }
  return clients;
}
