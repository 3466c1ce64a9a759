// Resident memory of a target process under hosts that never read their responses.
//
// Starts `nvmeotcp target` (a child process) with one file (or RAM) namespace, opens
// QUEUES I/O queues, has each send reads of IO bytes and never read a byte back, and
// samples the target's RSS (/proc/<pid>/status VmRSS, Linux) and its /stats every 100 ms
// for SECONDS. Three kinds of host:
//   once   each queue sends QD reads (its whole SQ, SQSIZE = QD - 1) and stops: a host
//          within the protocol
//   burst  each queue sends BURST reads in one go and stops: within the protocol on a
//          RAM namespace (its reads complete as they are taken, so the queue depth does
//          not stop them; the target's send queue bound does)
//   flood  each queue sends a batch of QD reads every 20 ms whatever became of the last
//          ones: a host outside it (the target may end such a queue with a TermReq)
// Not part of npm test. Usage:
//   node --import tsx bench/target-rss.ts [--queues 20] [--qd 128] [--io 131072]
//     [--seconds 5] [--mode once|flood|burst] [--burst 3500] [--ns file|ram]
//     [--cli src/cli/main.ts] [-- extra target flags]
// e.g. 100 non-reading queues of 3,500 16 KiB RAM reads each:
//   --ns ram --mode burst --queues 100 --io 16384
// --cli points at another tree's CLI (e.g. an export of main) to measure it the same way.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildRwSqe } from '../src/protocol/admin.ts';
import { IoOpc } from '../src/protocol/constants.ts';
import { RawClient } from '../test/helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:rss';
const LBA = 4096;
const NS_BYTES = 64 << 20;
/** I/O queues per controller (the target's default maxIoQueues). */
const QUEUES_PER_CTRL = 8;

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const end = process.argv.indexOf('--');
  return i > 0 && (end < 0 || i < end) ? process.argv[i + 1] : dflt;
}

const queues = Number(flag('queues', '20'));
const qd = Number(flag('qd', '128'));
const io = Number(flag('io', '131072'));
const seconds = Number(flag('seconds', '5'));
const mode = flag('mode', 'once');
const burst = Number(flag('burst', '3500'));
const nsKind = flag('ns', 'file');
const cli = flag('cli', new URL('../src/cli/main.ts', import.meta.url).pathname);
const extra = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
if (mode !== 'once' && mode !== 'flood' && mode !== 'burst') throw new Error('--mode: once, flood or burst');
if (nsKind !== 'file' && nsKind !== 'ram') throw new Error('--ns: file or ram');

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Starts the target; resolves with its child process, port and stats address. */
async function startTarget(file: string): Promise<{ child: ChildProcess; port: number; stats: string }> {
  const args = ['--import', 'tsx', cli, 'target', '--listen', '127.0.0.1:0', '--nqn', NQN, '--lba', '4096'];
  args.push('--ns', nsKind === 'ram' ? `ram:${NS_BYTES}` : `file:${file}`, '--stats-listen', '127.0.0.1:0', ...extra);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let port = 0;
  let stats = '';
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const l = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
    if (l !== null) port = Number(l[1]);
    const s = /stats: (http:\/\/\S+)\/metrics/.exec(line);
    if (s !== null) stats = s[1];
    if (port > 0 && stats !== '') break;
  }
  return { child, port, stats };
}

async function budgetOf(stats: string): Promise<unknown> {
  const r = await fetch(`${stats}/stats`);
  const j = (await r.json()) as { data_budget?: unknown };
  return j.data_budget;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-rss-'));
  const file = join(dir, 'ns.img');
  writeFileSync(file, Buffer.alloc(NS_BYTES, 0x5a));
  const { child, port, stats } = await startTarget(file);
  const clients: RawClient[] = [];
  try {
    const base = rssOf(child.pid!);
    let cntlid = 0;
    for (let i = 0; i < queues; i++) {
      if (i % QUEUES_PER_CTRL === 0) {
        const admin = await RawClient.open(port);
        clients.push(admin);
        cntlid = await admin.adminConnect(NQN);
      }
      const q = await RawClient.open(port);
      clients.push(q);
      const cqe = await q.connectQueue({ qid: 1 + (i % QUEUES_PER_CTRL), subnqn: NQN, cntlid, sqsize: qd - 1 });
      if (cqe.status !== 0) throw new Error(`I/O queue connect: status 0x${cqe.status.toString(16)}`);
      // From here on this host never reads: the target's responses pile up.
      q.socket.pause();
      const nlb = io / LBA;
      const batch = (): void => {
        const sqes: Buffer[] = [];
        for (let k = 0; k < (mode === 'burst' ? burst : qd); k++) {
          const slba = Math.floor(Math.random() * (NS_BYTES / io)) * nlb;
          const sqe = buildRwSqe({ cid: q.cid(), opc: IoOpc.Read, nsid: 1, slba, nlb, len: io, inCapsule: false });
          sqes.push(...q.capsule(sqe));
        }
        if (!q.socket.destroyed) q.send(...sqes);
      };
      batch();
      if (mode === 'flood') {
        const t = setInterval(batch, 20);
        q.socket.on('close', () => clearInterval(t));
        q.closed.then(() => clearInterval(t));
        setTimeout(() => clearInterval(t), seconds * 1000).unref();
      }
    }
    let peak = 0;
    let last = 0;
    for (let t = 0; t < seconds * 10; t++) {
      await new Promise((r) => setTimeout(r, 100));
      last = rssOf(child.pid!);
      peak = Math.max(peak, last);
    }
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    const open = clients.filter((c) => !c.socket.destroyed).length;
    process.stdout.write(
      `${nsKind} namespace, mode ${mode}, ${queues} queues x ${mode === 'burst' ? burst : `QD ${qd}`} x ${io} B reads, never read: target RSS ` +
        `${mb(base)} before, peak ${mb(peak)}, last ${mb(last)}; host sockets still open ${open}/${clients.length}\n`,
    );
    const b = await budgetOf(stats).catch(() => undefined);
    if (b !== undefined) process.stdout.write(`data budget: ${JSON.stringify(b)}\n`);
  } finally {
    for (const c of clients) c.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
