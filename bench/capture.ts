// Micro-benchmark of the capture layer: reading + decoding + reassembling + PDU scanning
// of a capture, in MB/s and packets/s, with the peak RSS; optionally against tshark's
// `tshark -r F -Y nvme-tcp -T fields -e nvme-tcp.type` on the same file. Not run by tests.
//
//   node --import tsx bench/capture.ts [--size 200m] [--mss 1448] [--acks] [--format pcap|pcapng]
//        [--file F] [--keep] [--tshark]
//
// Without --file it writes a synthetic capture of --size bytes to bench/results/: one
// NVMe/TCP connection on 4420 over Ethernet (ICReq/ICResp, an I/O queue Connect), then
// 128 KiB reads (CapsuleCmd, one C2HData, CapsuleResp) cut into --mss byte segments, with a pure ACK every two data segments
// when --acks is given.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyzeCapture, Dir } from '../src/capture/index.ts';
import { parseSize } from '../src/workload/workload.ts';
import { generate } from './capture-gen.ts';

const { values: a } = parseArgs({
  options: {
    size: { type: 'string', default: '200m' },
    mss: { type: 'string', default: '1448' },
    acks: { type: 'boolean', default: false },
    format: { type: 'string', default: 'pcap' },
    file: { type: 'string' },
    keep: { type: 'boolean', default: false },
    tshark: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const ng = a.format === 'pcapng';
  let file = a.file;
  let generated = false;
  if (file === undefined) {
    const dir = join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    file = join(dir, `capture-${a.size}-mss${a.mss}${a.acks ? '-acks' : ''}.${ng ? 'pcapng' : 'pcap'}`);
    const t0 = performance.now();
    const n = generate(file, parseSize(a.size!), Number(a.mss), a.acks === true, ng);
    console.log(`generated ${file}: ${n} packets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    generated = true;
  }
  const bytes = statSync(file).size;
  let cmds = 0;
  let segs = 0;
  const t0 = performance.now();
  const res = await analyzeCapture(file, {
    command: () => {
      cmds++;
    },
    segment: () => {
      segs++;
    },
  });
  const s = (performance.now() - t0) / 1000;
  const pdus = res.nvmeFlows.reduce((n, f) => n + f.side(Dir.C2H)!.pduCounts.reduce((x, y) => x + y, 0), 0);
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(
    `capture: ${(bytes / 2 ** 20).toFixed(0)} MiB, ${res.packets} packets, ${res.nvmeFlows.length} NVMe/TCP flows, ${cmds} commands, ${pdus} c2h PDUs, ${segs} segments`,
  );
  console.log(
    `  ${s.toFixed(2)} s: ${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s, ${(res.packets / s / 1e6).toFixed(2)} M packets/s, max RSS ${rss.toFixed(0)} MiB`,
  );
  if (a.tshark) {
    const t1 = performance.now();
    execFileSync('sh', ['-c', `tshark -r '${file}' -Y nvme-tcp -T fields -e nvme-tcp.type > /dev/null`], { stdio: 'inherit' });
    const ts = (performance.now() - t1) / 1000;
    console.log(`  tshark: ${ts.toFixed(2)} s (${(bytes / 2 ** 20 / ts).toFixed(1)} MiB/s): ours is ${(ts / s).toFixed(1)}x faster`);
  }
  if (generated && !a.keep) rmSync(file);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
