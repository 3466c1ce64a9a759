// Profiles one NVMe/TCP case over the measured window only: the host workload runs
// in this process and the target in its peer process, both under the inspector's
// CPU profiler; prints the top self-time functions of each side and writes
// host.cpuprofile / target.cpuprofile (open them in Chrome DevTools).
//   node --import tsx bench/profile.ts [--rw read] [--bs 131072] [--qd 32] [--seconds 3]
//        [--offload] [--digests] [--queues 1] [--top 25] [--dir /tmp/nvmeotcp-prof] [--pin] [--region 256m]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize, type RwMode } from '../src/workload/workload.ts';
import { type CaseSpec, runCase } from './nvme-case.ts';
import { pinSelf } from './proc.ts';

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
function topSelf(p: Profile, n: number): string[] {
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
  return [
    `total ${total.toFixed(0)} ms`,
    ...rows.map(([k, v]) => `${v.toFixed(0).padStart(7)} ms ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`),
  ];
}

async function main(): Promise<void> {
  const dir = a.dir!;
  mkdirSync(dir, { recursive: true });
  if (a.pin) pinSelf(0);
  const tfile = join(dir, 'target.cpuprofile');
  const session = new Session();
  let profile: unknown;
  // The same case as `npm run bench` (prefill, ramp, window), profiled over the window.
  const c: CaseSpec = {
    rw: a.rw as RwMode,
    bs: Number(a.bs),
    iodepth: Number(a.qd),
    queues: Number(a.queues),
    digests: a.digests === true,
    offload: a.offload === true,
    seconds: Number(a.seconds),
    region: parseSize(a.region!),
    ...(a.pin ? { cpus: [0, 1] as [number, number] } : {}),
  };
  const r = await runCase(c, {
    before: async (peer) => {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await peer.profile('prof-start');
    },
    after: async (peer) => {
      await peer.profile(`prof-stop ${tfile}`);
      profile = (await session.post('Profiler.stop')).profile;
      session.disconnect();
    },
  });
  writeFileSync(join(dir, 'host.cpuprofile'), JSON.stringify(profile));
  console.log(`${c.rw} bs ${c.bs} qd ${c.iodepth}: ${r.mbps.toFixed(0)} MB/s ${r.iops.toFixed(0)} IOPS`);
  console.log(`CPU s/GB: host ${r.hostCpuPerGB.toFixed(3)}, target ${r.targetCpuPerGB.toFixed(3)} (profilers running)`);
  const top = Number(a.top);
  console.log('\n== host self time');
  for (const l of topSelf(profile as Profile, top)) console.log(l);
  console.log('\n== target self time');
  for (const l of topSelf(JSON.parse(readFileSync(tfile, 'utf8')) as Profile, top)) console.log(l);
}

await main();
