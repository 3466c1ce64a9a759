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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawClient } from '../test/helpers/raw-client.ts';
import { dataBudgetOf, openNonReadingQueues, rssOf, startTargetProc } from './target-proc.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:rss';
const NS_BYTES = 64 << 20;

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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-rss-'));
  const file = join(dir, 'ns.img');
  writeFileSync(file, Buffer.alloc(NS_BYTES, 0x5a));
  const { child, port, stats } = await startTargetProc({
    cli,
    nqn: NQN,
    file,
    ram: nsKind === 'ram' ? NS_BYTES : undefined,
    statsListen: true,
    extra,
  });
  let clients: RawClient[] = [];
  try {
    const base = rssOf(child.pid!);
    clients = await openNonReadingQueues({
      port,
      nqn: NQN,
      queues,
      qd,
      io,
      nsBytes: NS_BYTES,
      ...(mode === 'flood' ? { flood: { seconds } } : {}),
      ...(mode === 'burst' ? { burst } : {}),
    });
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
    const b = await dataBudgetOf(stats).catch(() => undefined);
    if (b !== undefined) process.stdout.write(`data budget: ${JSON.stringify(b)}\n`);
  } finally {
    for (const c of clients) c.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
