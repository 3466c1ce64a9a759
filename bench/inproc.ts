// Host and target in ONE process (pin it to one CPU with taskset): the CPU time per
// operation of both sides together, without the scheduling of two processes, which
// on a shared 2-vCPU VM moves the two-process per-op figures by up to 2× between runs.
// Several short rounds; prints each round and the median.
//   taskset -c 0 node --import tsx bench/inproc.ts [--rw randread] [--bs 4096] [--qd 64] [--seconds 2] [--rounds 5] [--digests]
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
const per: number[] = [];
for (let i = 0; i < Number(a.rounds); i++) {
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
  const us = (c.user + c.system) / (r.readOps + r.writeOps);
  per.push(us);
  console.log(`round ${i + 1}: ${r.iops.toFixed(0)} IOPS, ${us.toFixed(2)} µs CPU/op (host + target)${r.error ? ` ${r.error}` : ''}`);
}
per.sort((x, y) => x - y);
console.log(
  `${rw} ${a.bs} qd${qd}: median ${per[per.length >> 1].toFixed(2)} µs/op (min ${per[0].toFixed(2)}, max ${per[per.length - 1].toFixed(2)})`,
);
await ctrl.disconnect();
await tgt.close();
