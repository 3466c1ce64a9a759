// npm run bench [-- options]
//   --suite offload|matrix|all   offload: 128 KiB reads QD32, offload on/off × digests off/on, and TLS 1.3 (no offload)
//                                matrix: the full issue-5 matrix (seq 128 KiB r/w QD32, 4 KiB
//                                randread/randwrite QD1 and QD64, 1 and 4 queues, digests, offload)
//   --seconds N   per run (default 3)     --reps N   repetitions (default 3)
//   --pin         pin the host process (every thread) to CPU 0 and peers to CPU 1 (taskset)
//   --filter S    only cases whose label contains S (comma-separated: any of them)
//   --out FILE    write the results as JSON (default bench/results/<suite>-<time>.json)
//   --ramp N      unmeasured seconds of the same workload before each window (default 1)
//   --poll        host and target busy-poll (fio hipri / SPDK style; each side then shows a full core)
//   --fixed-read  the target reads like SPDK's nvmf/tcp: one PDU part per read (bench/fixed-read.ts)
//   --disable-sqflow  connect with SQ flow control disabled (reads end with C2HData SUCCESS, no CapsuleResp)
//   --region SIZE bytes of the namespace the workload covers (default 256m; e.g. 1m keeps
//                 random 4 KiB reads in the CPU caches, to separate memory from protocol costs)
//   --suite replay [--size SIZE]  nvmeotcp replay on a synthetic capture of SIZE (default 1g)
//                 against tshark's NVMe/TCP decode of it, and the replay's RSS (bench/replay.ts)
// Baselines measured in the same run: raw socket stream; raw ping-pongs at QD64 of
// 72/24 bytes (command/completion), 72/4144 (shaped as a 4 KiB read), the same with
// each 4 KiB copied from a random block of the region (a RAM disk's random read, the
// baseline 4 KiB reads are compared with) and 4168/24 (a 4 KiB write with in-capsule data).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize, type RwMode } from '../src/workload/workload.ts';
import { rawPingPong, rawStream } from './baselines.ts';
import { pinSelf } from './proc.ts';
import { type CaseResult, type CaseSpec, DEFAULT_REGION, runCase } from './nvme-case.ts';
import { formatReplayBench, replayBench } from './replay.ts';
import { formatVsSpdk, ratioToSpdk, spdkRef } from './spdk-ref.ts';

const { values: a } = parseArgs({
  options: {
    suite: { type: 'string', default: 'offload' },
    seconds: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    pin: { type: 'boolean', default: false },
    filter: { type: 'string' },
    out: { type: 'string' },
    region: { type: 'string' },
    'disable-sqflow': { type: 'boolean', default: false },
    ramp: { type: 'string', default: '1' },
    poll: { type: 'boolean', default: false },
    'fixed-read': { type: 'boolean', default: false },
    size: { type: 'string', default: '1g' },
  },
});
const seconds = Number(a.seconds);
const reps = Number(a.reps);
const region = a.region === undefined ? undefined : parseSize(a.region);
const cpus: [number, number] | undefined = a.pin ? [0, 1] : undefined;
// Pin this (host) process too: every thread, or V8's GC helpers run on the target's CPU.
if (cpus) pinSelf(cpus[0]);

function label(c: CaseSpec): string {
  return `${c.rw} ${c.bs >= 1024 ? `${c.bs / 1024}k` : c.bs} qd${c.iodepth} q${c.queues} dg${c.digests ? 'on' : 'off'} off${c.offload ? 'on' : 'off'}${c.tls ? ' tls' : ''}${c.disableSqFlow ? ' nosqflow' : ''}${c.poll ? ' poll' : ''}${c.fixedRead ? ' fixedread' : ''}`;
}

/** Request/response bytes of a 4 KiB read (CapsuleCmd → C2HData header + data + CapsuleResp) and write (CapsuleCmd with in-capsule data → CapsuleResp). */
const READ_SHAPE: [number, number] = [72, 24 + 4096 + 24];
const WRITE_SHAPE: [number, number] = [72 + 4096, 24];

/** What every case of this run shares. */
const common: Omit<CaseSpec, 'rw' | 'bs' | 'iodepth' | 'queues' | 'digests' | 'offload'> = {
  seconds,
  rampSeconds: Number(a.ramp),
  ...(cpus ? { cpus } : {}),
  ...(region ? { region } : {}),
  ...(a['disable-sqflow'] ? { disableSqFlow: true } : {}),
  ...(a.poll ? { poll: true } : {}),
  ...(a['fixed-read'] ? { fixedRead: true } : {}),
};

function cases(): CaseSpec[] {
  const out: CaseSpec[] = [];
  const add = (rw: RwMode, bs: number, iodepth: number, queues: number, digests: boolean, offload: boolean, tls = false) =>
    out.push({ rw, bs, iodepth, queues, digests, offload, ...common, ...(tls ? { tls } : {}) });
  if (a.suite === 'offload' || a.suite === 'all') {
    for (const dg of [false, true]) for (const off of [false, true]) add('read', 128 * 1024, 32, 1, dg, off);
    // TLS beside plaintext: the offload does not apply inside TLS records.
    for (const dg of [false, true]) add('read', 128 * 1024, 32, 1, dg, false, true);
  }
  if (a.suite === 'matrix' || a.suite === 'all') {
    for (const q of [1, 4])
      for (const dg of [false, true])
        for (const off of [false, true]) {
          add('read', 128 * 1024, 32, q, dg, off);
          add('write', 128 * 1024, 32, q, dg, off);
          add('randread', 4096, 1, q, dg, off);
          add('randread', 4096, 64, q, dg, off);
          add('randwrite', 4096, 1, q, dg, off);
          add('randwrite', 4096, 64, q, dg, off);
        }
  }
  // The offload suite's cases are also in the matrix: run each label once.
  const seen = new Set<string>();
  const wanted = a.filter?.split(',') ?? [];
  return out.filter((c) => {
    const l = label(c);
    if (seen.has(l) || (wanted.length > 0 && !wanted.some((f) => l.includes(f)))) return false;
    seen.add(l);
    return true;
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

async function main(): Promise<void> {
  if (a.suite === 'replay') {
    const r = await replayBench(parseSize(a.size!), { tshark: true, dir: 'bench/results' });
    console.log(formatReplayBench(r));
    const out = a.out ?? `bench/results/replay-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2));
    return;
  }
  const todo = cases();
  console.log(`nvmeotcp bench: suite ${a.suite}, ${todo.length} cases × ${reps} reps × ${seconds}s${cpus ? ', pinned' : ''}`);
  const streamRuns: number[] = [];
  const streamCpu: { host: number; peer: number }[] = [];
  const ppRuns: number[] = [];
  const ppCpu: number[] = [];
  const rdRuns: number[] = [];
  const ramRuns: number[] = [];
  const wrRuns: number[] = [];
  const shapedCpu: { read: [number, number]; write: [number, number]; ram: [number, number] }[] = [];
  const results = new Map<string, CaseResult[]>();
  for (let r = 0; r < reps; r++) {
    const st = await rawStream(128 * 1024, seconds, cpus);
    streamRuns.push(st.mbps);
    streamCpu.push({ host: st.hostCpuPerGB, peer: st.peerCpuPerGB });
    const pp = await rawPingPong(64, seconds, cpus);
    ppRuns.push(pp.opsPerSec);
    ppCpu.push(pp.hostCpuPerMop);
    const rd = await rawPingPong(64, seconds, cpus, READ_SHAPE[0], READ_SHAPE[1]);
    const wr = await rawPingPong(64, seconds, cpus, WRITE_SHAPE[0], WRITE_SHAPE[1]);
    const ram = await rawPingPong(64, seconds, cpus, READ_SHAPE[0], READ_SHAPE[1], region ?? DEFAULT_REGION);
    rdRuns.push(rd.opsPerSec);
    wrRuns.push(wr.opsPerSec);
    ramRuns.push(ram.opsPerSec);
    shapedCpu.push({
      read: [rd.hostCpuPerMop, rd.peerCpuPerMop],
      write: [wr.hostCpuPerMop, wr.peerCpuPerMop],
      ram: [ram.hostCpuPerMop, ram.peerCpuPerMop],
    });
    // Alternate the order each repetition so slow drift does not favour one side.
    const order = r % 2 === 0 ? todo : [...todo].reverse();
    for (const c of order) {
      const res = await runCase(c);
      const l = label(c);
      results.set(l, [...(results.get(l) ?? []), res]);
      process.stdout.write(
        `  rep ${r + 1} ${l}: ${res.mbps.toFixed(0)} MB/s ${res.iops.toFixed(0)} IOPS host ${res.hostCpuPerGB.toFixed(3)} target ${res.targetCpuPerGB.toFixed(3)} s/GB, ${res.cmdsPerWrite.toFixed(1)} commands per host write\n`,
      );
    }
  }
  const streamMbps = median(streamRuns);
  const ppOps = median(ppRuns);
  console.log(
    `\nraw socket stream (128 KiB writes → onread): ${streamMbps.toFixed(0)} MB/s (${spread(streamRuns)}); CPU s/GB reader ${median(streamCpu.map((c) => c.host)).toFixed(3)}, writer ${median(streamCpu.map((c) => c.peer)).toFixed(3)}`,
  );
  const rdOps = median(rdRuns);
  const ramOps = median(ramRuns);
  const wrOps = median(wrRuns);
  const cpuOf = (f: (x: (typeof shapedCpu)[number]) => number) => median(shapedCpu.map(f)).toFixed(2);
  console.log(
    `raw ping-pong 72/24 B at QD64: ${ppOps.toFixed(0)} ops/s (${spread(ppRuns)}); requester CPU ${median(ppCpu).toFixed(2)} µs/op`,
  );
  console.log(
    `raw ping-pong ${READ_SHAPE.join('/')} B (4 KiB read shape) at QD64: ${rdOps.toFixed(0)} ops/s (${spread(rdRuns)}); CPU µs/op requester ${cpuOf((x) => x.read[0])}, responder ${cpuOf((x) => x.read[1])}`,
  );
  console.log(
    `raw ping-pong ${READ_SHAPE.join('/')} B with each 4 KiB copied from a random block of ${((region ?? DEFAULT_REGION) / 2 ** 20).toFixed(0)} MiB (RAM-disk read shape) at QD64: ${ramOps.toFixed(0)} ops/s (${spread(ramRuns)}); CPU µs/op requester ${cpuOf((x) => x.ram[0])}, responder ${cpuOf((x) => x.ram[1])}`,
  );
  console.log(
    `raw ping-pong ${WRITE_SHAPE.join('/')} B (4 KiB write shape) at QD64: ${wrOps.toFixed(0)} ops/s (${spread(wrRuns)}); CPU µs/op requester ${cpuOf((x) => x.write[0])}, responder ${cpuOf((x) => x.write[1])}\n`,
  );
  console.log(
    '| case | MB/s (spread) | IOPS | p50 µs | p99 µs | host CPU s/GB | target CPU s/GB | host µs/op | target µs/op | host RSS MB | target RSS MB | placed/read | vs baseline | vs shaped ping-pong | SPDK → SPDK | vs SPDK |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rows: Record<string, unknown>[] = [];
  for (const c of todo) {
    const l = label(c);
    const rs = results.get(l) ?? [];
    const m = (f: (x: CaseResult) => number) => median(rs.map(f));
    const mbps = m((x) => x.mbps);
    const iops = m((x) => x.iops);
    const base = c.bs >= 65536 ? mbps / streamMbps : iops / ppOps;
    // 4 KiB reads against the RAM-disk-shaped ping-pong (the same memory cost), writes against the write shape.
    const shaped = c.bs === 4096 ? (c.rw.endsWith('read') ? iops / ramOps : iops / wrOps) : Number.NaN;
    const placed = m((x) => x.readBytes) > 0 ? m((x) => x.placedBytes) / m((x) => x.readBytes) : 0;
    const ref = spdkRef(c);
    const vsSpdk =
      ref === undefined
        ? undefined
        : ratioToSpdk(
            ref,
            mbps,
            iops,
            m((x) => x.p50us),
          );
    console.log(
      `| ${l} | ${mbps.toFixed(0)} (${spread(rs.map((x) => x.mbps))}) | ${iops.toFixed(0)} | ${m((x) => x.p50us).toFixed(0)} | ${m((x) => x.p99us).toFixed(0)} | ${m((x) => x.hostCpuPerGB).toFixed(3)} | ${m((x) => x.targetCpuPerGB).toFixed(3)} | ${m((x) => x.hostCpuPerGB * c.bs * 1e-3).toFixed(1)} | ${m((x) => x.targetCpuPerGB * c.bs * 1e-3).toFixed(1)} | ${m((x) => x.hostRssMB).toFixed(0)} | ${m((x) => x.targetRssMB).toFixed(0)} | ${(placed * 100).toFixed(0)}% | ${base.toFixed(2)} | ${Number.isNaN(shaped) ? '' : shaped.toFixed(2)} | ${ref === undefined ? '' : `${ref.spdk} ${ref.metric}`} | ${ref === undefined || vsSpdk === undefined ? '' : formatVsSpdk(ref, vsSpdk)} |`,
    );
    rows.push({
      case: l,
      ...c,
      runs: rs,
      median: { mbps, iops },
      ratioToBaseline: base,
      ...(Number.isNaN(shaped) ? {} : { ratioToShaped: shaped }),
      ...(ref === undefined ? {} : { spdk: ref, ratioToSpdk: vsSpdk }),
    });
  }
  const out = a.out ?? `bench/results/${a.suite}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        seconds,
        reps,
        baselines: {
          streamMbps,
          streamRuns,
          streamCpu,
          pingPongOps: ppOps,
          ppRuns,
          ppCpu,
          readShapeOps: rdOps,
          rdRuns,
          ramReadShapeOps: ramOps,
          ramRuns,
          writeShapeOps: wrOps,
          wrRuns,
          shapedCpu,
        },
        rows,
      },
      null,
      2,
    ),
  );
  console.log(`\nresults: ${out}`);
}

await main();
