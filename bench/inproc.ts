// Host and target in ONE process (pin it to one CPU with taskset): the CPU time per
// operation of both sides together, without the scheduling of two processes, which
// on a shared 2-vCPU VM moves the two-process per-op figures by up to 2× between runs.
// Several short rounds; prints each round and the median. With --alloc, every round
// runs under V8's sampling heap profiler (objects the GC collected included) and also
// prints the bytes allocated per operation; the last round's top allocation sites follow.
//   taskset -c 0 node --import tsx bench/inproc.ts [--rw randread] [--bs 4096] [--qd 64] [--seconds 2] [--rounds 5] [--digests] [--alloc]
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { NvmeController } from '../src/host/index.ts';
import { NvmeTarget } from '../src/target/index.ts';
import { type RwMode, runWorkload } from '../src/workload/workload.ts';
import { BENCH_NQN } from './proc.ts';

const { values: a } = parseArgs({
  options: {
    rw: { type: 'string', default: 'randread' },
    bs: { type: 'string', default: '4096' },
    qd: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    digests: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
    top: { type: 'string', default: '15' },
  },
});

const REGION = 64 << 20;
const tgt = new NvmeTarget({
  subsystems: [{ nqn: BENCH_NQN, allowAnyHost: true, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: REGION }, lbaSize: 512 }] }],
  maxRamSize: REGION,
});
const addr = await tgt.listen({ host: '127.0.0.1', port: 0 });
const qd = Number(a.qd);
const ctrl = await NvmeController.connect({
  traddr: '127.0.0.1',
  trsvcid: addr.port,
  subnqn: BENCH_NQN,
  queueSize: Math.max(64, qd + 1),
  hdgst: a.digests,
  ddgst: a.digests,
});
const ns = ctrl.namespace(1);
await runWorkload(ns, { rw: 'write', bs: 1 << 20, iodepth: 4, regionBytes: REGION });
const rw = a.rw as RwMode;
interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}
/** Bytes sampled per allocation site (function url:line), and their total. */
function sites(head: HeapNode): { total: number; by: Map<string, number> } {
  const by = new Map<string, number>();
  let total = 0;
  const name = (f: HeapNode['callFrame']): string =>
    `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}`;
  // Keyed by the function and its caller (the allocating function is often Node's own).
  const walk = (n: HeapNode, parent = ''): void => {
    if (n.selfSize > 0) {
      const key = `${name(n.callFrame)} < ${parent}`;
      by.set(key, (by.get(key) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, name(n.callFrame));
  };
  walk(head);
  return { total, by };
}
const session = new Session();
if (a.alloc) {
  session.connect();
  await session.post('HeapProfiler.enable');
}
const per: number[] = [];
const bytesPer: number[] = [];
let lastSites: Map<string, number> | undefined;
for (let i = 0; i < Number(a.rounds); i++) {
  if (a.alloc) {
    // includeObjectsCollectedBy*: count what the scavenger freed too (all allocation, not what survived).
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
  }
  const c0 = process.cpuUsage();
  const r = await runWorkload(ns, {
    rw,
    bs: Number(a.bs),
    iodepth: qd,
    runtimeMs: Number(a.seconds) * 1000,
    timeBased: true,
    regionBytes: REGION,
  });
  const c = process.cpuUsage(c0);
  const ops = r.readOps + r.writeOps;
  const us = (c.user + c.system) / ops;
  per.push(us);
  let alloc = '';
  if (a.alloc) {
    const p = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: HeapNode } };
    const s = sites(p.profile.head);
    bytesPer.push(s.total / ops);
    lastSites = s.by;
    alloc = `, ${(s.total / ops).toFixed(0)} B allocated/op`;
  }
  console.log(
    `round ${i + 1}: ${r.iops.toFixed(0)} IOPS, ${us.toFixed(2)} µs CPU/op (host + target)${alloc}${r.error ? ` ${r.error}` : ''}`,
  );
}
if (a.alloc) {
  bytesPer.sort((x, y) => x - y);
  console.log(`allocated per op: median ${bytesPer[bytesPer.length >> 1].toFixed(0)} B`);
  const rows = [...lastSites!.entries()].sort((x, y) => y[1] - x[1]).slice(0, Number(a.top));
  const tot = [...lastSites!.values()].reduce((x, y) => x + y, 0);
  for (const [k, v] of rows) console.log(`${((v / tot) * 100).toFixed(1).padStart(6)}%  ${k}`);
  session.disconnect();
}
per.sort((x, y) => x - y);
console.log(
  `${rw} ${a.bs} qd${qd}: median ${per[per.length >> 1].toFixed(2)} µs/op (min ${per[0].toFixed(2)}, max ${per[per.length - 1].toFixed(2)})`,
);
await ctrl.disconnect();
await tgt.close();
