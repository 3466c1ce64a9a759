// Profiles one NVMe/TCP case over the measured window only: the host workload runs
// in this process and the target in its peer process, both under the inspector's
// CPU profiler; prints the top self-time functions of each side and writes
// host.cpuprofile / target.cpuprofile (open them in Chrome DevTools).
//   node --import tsx bench/profile.ts [--rw read] [--bs 131072] [--qd 32] [--seconds 3]
//        [--offload] [--digests] [--queues 1] [--top 25] [--dir /tmp/nvmeotcp-prof] [--pin] [--region 256m]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NvmeController } from '../src/host/index.ts';
import { createSocketDevice } from '../src/offload/socket-device.ts';
import { parseSize, type RwMode, runWorkload } from '../src/workload/workload.ts';
import { spawnPeer } from './proc.ts';

const { values: a } = parseArgs({
  options: {
    rw: { type: 'string', default: 'read' },
    bs: { type: 'string', default: '131072' },
    qd: { type: 'string', default: '32' },
    queues: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '3' },
    offload: { type: 'boolean', default: false },
    digests: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    dir: { type: 'string', default: '/tmp/nvmeotcp-prof' },
    pin: { type: 'boolean', default: false },
    region: { type: 'string', default: '256m' },
  },
});

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (url:line name), in ms, largest first. */
export function topSelf(p: Profile, n: number): string[] {
  const byId = new Map<number, ProfNode>();
  for (const nd of p.nodes) byId.set(nd.id, nd);
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const nd = byId.get(p.samples[i])!;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const f = nd.callFrame;
    const file = f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/');
    const key = `${f.functionName || '(anon)'} ${file}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const rows = [...self.entries()].sort((x, y) => y[1] - x[1]).slice(0, n);
  return [`total ${total.toFixed(0)} ms`, ...rows.map(([k, v]) => `${v.toFixed(0).padStart(7)} ms ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`)];
}

async function main(): Promise<void> {
  const dir = a.dir!;
  mkdirSync(dir, { recursive: true });
  if (a.pin) execFileSync('taskset', ['-apc', '0', String(process.pid)], { stdio: 'ignore' });
  const region = parseSize(a.region);
  const peer = await spawnPeer('target-peer.ts', [String(region), '512'], a.pin ? 1 : undefined);
  const dev = a.offload ? createSocketDevice() : undefined;
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: peer.port,
    subnqn: 'nqn.2024-01.io.nvmeotcp:bench',
    nrIoQueues: Number(a.queues),
    queueSize: Math.max(64, Number(a.qd) + 1),
    hdgst: a.digests,
    ddgst: a.digests,
    ...(dev ? { offload: dev } : {}),
  });
  const ns = ctrl.namespace(1);
  const rw = a.rw as RwMode;
  await runWorkload(ns, { rw: 'write', bs: 1 << 20, iodepth: 4, regionBytes: region }); // as nvme-case.ts
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await peer.profile('prof-start');
  const tcpu0 = await peer.cpu();
  const cpu0 = process.cpuUsage();
  const r = await runWorkload(ns, { rw, bs: Number(a.bs), iodepth: Number(a.qd), runtimeMs: Number(a.seconds) * 1000, regionBytes: region });
  const u = process.cpuUsage(cpu0);
  const tcpu = (await peer.cpu()) - tcpu0;
  const tfile = join(dir, 'target.cpuprofile');
  await peer.profile(`prof-stop ${tfile}`);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(join(dir, 'host.cpuprofile'), JSON.stringify(profile));
  await ctrl.disconnect();
  await peer.stop();
  const gb = (r.readBytes + r.writeBytes) / 1e9;
  const host = (u.user + u.system) / 1e6;
  console.log(`${rw} bs ${a.bs} qd ${a.qd}: ${r.mbps.toFixed(0)} MB/s ${r.iops.toFixed(0)} IOPS ${r.error ?? ''}`);
  console.log(`CPU: host ${host.toFixed(2)} s (${(host / gb).toFixed(3)} s/GB, user ${(u.user / 1e6).toFixed(2)}), target ${tcpu.toFixed(2)} s (${(tcpu / gb).toFixed(3)} s/GB)`);
  const top = Number(a.top);
  console.log('\n== host self time');
  for (const l of topSelf(profile as unknown as Profile, top)) console.log(l);
  console.log('\n== target self time');
  for (const l of topSelf(JSON.parse(readFileSync(tfile, 'utf8')) as Profile, top)) console.log(l);
}

await main();
