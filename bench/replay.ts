// `npm run bench -- --suite replay [--size 1g]`: replay speed (the NIC model on a
// capture, src/replay/) against tshark's NVMe/TCP decode of the same file,
//   tshark -r FILE -Y nvme-tcp -T fields -e nvme-tcp.type > /dev/null
// and the replay's peak RSS. The capture is synthetic (bench/capture-gen.ts: 128 KiB
// reads at MSS 1448, a pure ACK every two segments) and deleted afterwards. Goal
// (issue 11): replay at least 5x faster than tshark, RSS under 200 MiB at any size.
// The replay runs in a child process so its RSS is its own.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from './capture-gen.ts';

export interface ReplayBenchResult {
  bytes: number;
  packets: number;
  replaySeconds: number;
  replayMiBps: number;
  replayRssMiB: number;
  placedShare: number;
  tsharkSeconds: number | undefined;
  speedup: number | undefined;
}

/** The replay side, run as `node --import tsx bench/replay.ts --child FILE`: one JSON line. */
async function child(file: string): Promise<void> {
  const { replayCapture } = await import('../src/replay/replay.ts');
  const t0 = performance.now();
  const r = await replayCapture(file);
  const s = (performance.now() - t0) / 1000;
  const c = r.total.counters;
  process.stdout.write(
    `${JSON.stringify({ seconds: s, packets: r.packets, rssMiB: process.resourceUsage().maxRSS / 1024, placed: c.rx_bytes > 0 ? c.rx_nvmeotcp_bytes / c.rx_bytes : 0 })}\n`,
  );
}

export async function replayBench(size: number, o: { tshark: boolean; dir: string }): Promise<ReplayBenchResult> {
  mkdirSync(o.dir, { recursive: true });
  const file = join(o.dir, `replay-bench-${size}.pcap`);
  try {
    generate(file, size, 1448, true, false);
    const bytes = statSync(file).size;
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/replay.ts', '--child', file], { encoding: 'utf8' });
    const j = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; packets: number; rssMiB: number; placed: number };
    let tsharkSeconds: number | undefined;
    if (o.tshark) {
      const t1 = performance.now();
      execFileSync('sh', ['-c', `tshark -r '${file}' -Y nvme-tcp -T fields -e nvme-tcp.type > /dev/null`], { stdio: 'inherit' });
      tsharkSeconds = (performance.now() - t1) / 1000;
    }
    return {
      bytes,
      packets: j.packets,
      replaySeconds: j.seconds,
      replayMiBps: bytes / 2 ** 20 / j.seconds,
      replayRssMiB: j.rssMiB,
      placedShare: j.placed,
      tsharkSeconds,
      speedup: tsharkSeconds === undefined ? undefined : tsharkSeconds / j.seconds,
    };
  } finally {
    rmSync(file, { force: true });
  }
}

export function formatReplayBench(r: ReplayBenchResult): string {
  const mib = (r.bytes / 2 ** 20).toFixed(0);
  const lines = [
    `replay: ${mib} MiB capture, ${r.packets} packets: ${r.replaySeconds.toFixed(2)} s (${r.replayMiBps.toFixed(0)} MiB/s), max RSS ${r.replayRssMiB.toFixed(0)} MiB, ${(r.placedShare * 100).toFixed(1)}% of bytes placed`,
  ];
  if (r.tsharkSeconds !== undefined) {
    lines.push(
      `tshark -Y nvme-tcp: ${r.tsharkSeconds.toFixed(2)} s (${(r.bytes / 2 ** 20 / r.tsharkSeconds).toFixed(0)} MiB/s): replay is ${r.speedup!.toFixed(1)}x faster`,
    );
  }
  return lines.join('\n');
}

if (process.argv[2] === '--child') await child(process.argv[3]);
