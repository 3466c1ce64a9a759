// `npm run reliability`: the host's error recovery and the target's bounds under faults,
// on loopback only, bounded in count and time. Not part of npm test. Three parts:
//   faults    a proxy cuts, stalls or resets the host<->target stream at a random byte
//             of a random connection, again and again, under a verifying random
//             read/write workload with reconnect on; at the end every block written is
//             read back
//   restarts  kill -9 of a target process (file namespace) and a restart on the same
//             port, again and again, under the same workload; then the read-back
//   rss       the target process's RSS with idle sockets that never handshake, then
//             with I/O queues that never read their responses, against its data budget
// Goal: zero acknowledged writes lost and zero wrong reads (one verify error would
// stop the workload and be printed), zero hangs past ctrlLossTmo, zero unhandled
// exceptions, RSS under the budget plus RSS_SLACK. Prints the counts; exit code 1 if
// a goal is missed.
//
// Usage: node --import tsx bench/reliability.ts [--faults 1000] [--restarts 50]
//   [--idle-sockets 10000] [--nonreading 100] [--parts faults,restarts,rss]
//   [--max-seconds 1200] [--seed 1]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectOptions, NvmeController } from '../src/host/index.ts';
import { NvmeTarget } from '../src/target/index.ts';
import { prng, runWorkload, type WorkloadResult } from '../src/workload/workload.ts';
import { type Fault, FaultProxy } from '../test/helpers/fault-proxy.ts';
import type { RawClient } from '../test/helpers/raw-client.ts';
import { dataBudgetOf, openNonReadingQueues, rssOf, startTargetProc, TARGET_LBA } from './target-proc.ts';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const FAULTS = Number(flag('faults', '1000'));
const RESTARTS = Number(flag('restarts', '50'));
const IDLE_SOCKETS = Number(flag('idle-sockets', '10000'));
const NONREADING = Number(flag('nonreading', '100'));
const PARTS = flag('parts', 'faults,restarts,rss').split(',');
const MAX_SECONDS = Number(flag('max-seconds', '1200'));
const rand = prng(Number(flag('seed', '1')));
const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const NQN = 'nqn.2024-01.io.nvmeotcp:reliability';
/** Host recovery settings: reconnect fast, time out stalled commands soon, never give up within a run. */
const CTRL_LOSS_TMO_MS = 30_000;
const RECOVERY: Partial<ConnectOptions> = { reconnectDelayMs: 10, ctrlLossTmoMs: CTRL_LOSS_TMO_MS, ioTimeoutMs: 300, kato: 1000 };
/** What the target's RSS may exceed its data budget by (code, heap, sockets, pools). */
const RSS_SLACK = 160 << 20;
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

const deadline = performance.now() + MAX_SECONDS * 1000;
let unhandled = 0;
process.on('uncaughtException', (e) => {
  unhandled++;
  process.stderr.write(`reliability: uncaught exception: ${e.stack ?? e}\n`);
});
process.on('unhandledRejection', (e) => {
  unhandled++;
  process.stderr.write(`reliability: unhandled rejection: ${String(e)}\n`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

interface Recovery {
  recoveries: number;
  /** Recoveries that did not end live within ctrlLossTmo. */
  hangs: number;
  lost: number;
  maxRecoveryMs: number;
}

/**
 * Waits for the controller, hit by a fault when it had made `before` reconnects, to
 * have reconnected (a stall is noticed by a command or keep-alive timeout first); a
 * recovery that takes longer than ctrlLossTmo (plus a margin for a loaded machine)
 * is a hang.
 */
async function recovered(ctrl: NvmeController, r: Recovery, before: number, t0: number): Promise<boolean> {
  const limit = CTRL_LOSS_TMO_MS + 10_000;
  while (ctrl.state !== 'live' || ctrl.recovery.reconnects <= before) {
    if (ctrl.state === 'lost') {
      r.lost++;
      return false;
    }
    if (performance.now() - t0 > limit) {
      r.hangs++;
      return false;
    }
    await sleep(2);
  }
  r.recoveries++;
  r.maxRecoveryMs = Math.max(r.maxRecoveryMs, performance.now() - t0);
  return true;
}

/** The verifying workload, stopped by `stop`; read-back of every block written at the end. */
function workload(ctrl: NvmeController, stop: AbortSignal): Promise<WorkloadResult> {
  return runWorkload(ctrl.namespace(1), {
    rw: 'randrw',
    bs: 8192,
    iodepth: 16,
    verify: true,
    readBack: true,
    // 4 MiB: a short prefill, and blocks are rewritten and read again often.
    regionBytes: 4 << 20,
    runtimeMs: MAX_SECONDS * 1000,
    signal: stop,
    seed: Math.floor(rand() * 1e9),
  });
}

function report(name: string, lines: [string, string | number][]): void {
  process.stdout.write(`${name}:\n`);
  for (const [k, v] of lines) process.stdout.write(`  ${k.padEnd(34)} ${v}\n`);
}

let failed = false;
const goal = (ok: boolean): string => {
  if (!ok) failed = true;
  return ok ? 'ok' : 'MISSED';
};

// ------------------------------------------------------------------ faults

async function faults(): Promise<void> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 16 << 20 }, lbaSize: 512 }] }],
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  const proxy = new FaultProxy(port);
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: await proxy.listen(),
    subnqn: NQN,
    nrIoQueues: 2,
    ...RECOVERY,
  });
  const stop = new AbortController();
  const run = workload(ctrl, stop.signal);
  const r: Recovery = { recoveries: 0, hangs: 0, lost: 0, maxRecoveryMs: 0 };
  const kinds: Record<Fault, number> = { cut: 0, reset: 0, stall: 0 };
  const t0 = performance.now();
  try {
    for (let i = 0; i < FAULTS && performance.now() < deadline; i++) {
      const kind = pick<Fault>(['cut', 'reset', 'stall']);
      const before = ctrl.recovery.reconnects;
      await proxy.arm(kind, Math.floor(rand() * 256 * 1024));
      kinds[kind]++;
      if (!(await recovered(ctrl, r, before, performance.now()))) break;
      if (i % 100 === 99) process.stderr.write(`reliability: ${i + 1} faults\n`);
    }
  } finally {
    stop.abort();
  }
  const res = await run;
  const secs = (performance.now() - t0) / 1000;
  await ctrl.disconnect({ timeoutMs: 5000 });
  await proxy.close();
  await tgt.close();
  const rec = ctrl.recovery;
  report('faults (proxy cut / reset / stall under a verifying randrw workload)', [
    ['faults injected', `${proxy.faults} (cut ${kinds.cut}, reset ${kinds.reset}, stall ${kinds.stall})`],
    ['resets / reconnects', `${rec.resets} / ${rec.reconnects} in ${rec.attempts} attempts`],
    ['I/O resent after a reset', rec.requeued],
    ['I/O completed', `${res.readOps + res.writeOps} (${res.readOps} reads, ${res.writeOps} writes) in ${secs.toFixed(1)} s`],
    ['blocks verified', res.verifiedBlocks],
    ['I/O errors', res.ioErrors],
    ['wrong reads / lost acked writes', `${res.error?.startsWith('verify') ? 1 : 0} ${goal(!res.error?.startsWith('verify'))}`],
    ['hangs past ctrl_loss_tmo', `${r.hangs} ${goal(r.hangs === 0)}`],
    ['controllers lost', `${r.lost} ${goal(r.lost === 0)}`],
    ['longest recovery', `${r.maxRecoveryMs.toFixed(0)} ms`],
  ]);
  if (res.error !== undefined) process.stdout.write(`  first error: ${res.error}\n`);
  if (proxy.faults < FAULTS) failed = true;
}

// ------------------------------------------------------------------ restarts

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function restarts(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-reliability-'));
  const file = join(dir, 'ns.img');
  writeFileSync(file, Buffer.alloc(32 << 20));
  const port = await freePort();
  const start = () => startTargetProc({ cli: CLI, nqn: NQN, file, listen: `127.0.0.1:${port}` });
  let tp = await start();
  let crashes = 0;
  let stopping = false;
  const watch = (c: typeof tp.child): void => {
    c.once('exit', (code, signal) => {
      if (signal === 'SIGKILL' || stopping) return;
      crashes++;
      process.stderr.write(`reliability: target exited by itself (code ${code}, signal ${signal})\n`);
    });
  };
  watch(tp.child);
  // A command timeout of seconds: the file backend on a loaded machine is slow, and kill -9 resets the sockets anyway.
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    subnqn: NQN,
    nrIoQueues: 2,
    ...RECOVERY,
    ioTimeoutMs: 5000,
    kato: 5000,
  });
  const stop = new AbortController();
  const run = workload(ctrl, stop.signal);
  const r: Recovery = { recoveries: 0, hangs: 0, lost: 0, maxRecoveryMs: 0 };
  let kills = 0;
  const t0 = performance.now();
  try {
    for (let i = 0; i < RESTARTS && performance.now() < deadline; i++) {
      await sleep(50 + rand() * 250);
      const exited = new Promise((res) => tp.child.once('exit', res));
      const before = ctrl.recovery.reconnects;
      tp.child.kill('SIGKILL');
      kills++;
      await exited;
      const t = performance.now();
      tp = await start();
      watch(tp.child);
      if (!(await recovered(ctrl, r, before, t))) break;
      if (i % 10 === 9) process.stderr.write(`reliability: ${i + 1} restarts\n`);
    }
  } finally {
    stop.abort();
  }
  const res = await run;
  const secs = (performance.now() - t0) / 1000;
  await ctrl.disconnect({ timeoutMs: 5000 });
  stopping = true;
  tp.child.kill('SIGTERM');
  await new Promise((res) => tp.child.once('exit', res));
  rmSync(dir, { recursive: true, force: true });
  const rec = ctrl.recovery;
  report('restarts (kill -9 of a file-namespace target process, restarted on the same port)', [
    ['kill -9 + restart', kills],
    ['resets / reconnects', `${rec.resets} / ${rec.reconnects} in ${rec.attempts} attempts`],
    ['I/O resent after a reset', rec.requeued],
    ['I/O completed', `${res.readOps + res.writeOps} in ${secs.toFixed(1)} s`],
    ['blocks verified', res.verifiedBlocks],
    ['wrong reads / lost acked writes', `${res.error?.startsWith('verify') ? 1 : 0} ${goal(!res.error?.startsWith('verify'))}`],
    ['I/O errors', res.ioErrors],
    ['hangs past ctrl_loss_tmo', `${r.hangs} ${goal(r.hangs === 0)}`],
    ['controllers lost', `${r.lost} ${goal(r.lost === 0)}`],
    ['target exits not by our signal', `${crashes} ${goal(crashes === 0)}`],
    ['longest recovery (restart included)', `${r.maxRecoveryMs.toFixed(0)} ms`],
  ]);
  if (res.error !== undefined) process.stdout.write(`  first error: ${res.error}\n`);
  if (kills < RESTARTS) failed = true;
}

// ------------------------------------------------------------------ rss

async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from(
      { length: Math.min(500, n - i) },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port }, () => resolve());
          s.on('error', () => resolve());
          out.push(s);
        }),
    );
    await Promise.all(batch);
  }
  return out;
}

async function rss(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-reliability-rss-'));
  const file = join(dir, 'ns.img');
  const nsBytes = 64 << 20;
  writeFileSync(file, Buffer.alloc(nsBytes, 0x5a));
  const tp = await startTargetProc({ cli: CLI, nqn: NQN, file, statsListen: true });
  const pid = tp.child.pid!;
  let idle: net.Socket[] = [];
  let clients: RawClient[] = [];
  try {
    const base = rssOf(pid);
    const budget = ((await dataBudgetOf(tp.stats)) as { limit?: number } | undefined)?.limit ?? 256 << 20;
    idle = await openIdle(tp.port, IDLE_SOCKETS);
    await sleep(1000);
    const idleRss = rssOf(pid);
    const idleOpen = idle.filter((s) => !s.destroyed && s.readyState === 'open').length;
    // The idle sockets hold the target's pending-connection slots until its handshake
    // deadline: let them go before the queues connect.
    for (const s of idle) s.destroy();
    await sleep(500);
    clients = await openNonReadingQueues({ port: tp.port, nqn: NQN, queues: NONREADING, qd: 128, io: 128 * 1024, nsBytes });
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      await sleep(100);
      peak = Math.max(peak, rssOf(pid));
    }
    const b = (await dataBudgetOf(tp.stats)) as { used?: number; peak?: number; waiting?: number } | undefined;
    const bound = base + budget + RSS_SLACK;
    report(`rss (target process: ${IDLE_SOCKETS} idle sockets, then ${NONREADING} non-reading queues x QD 128 x 128 KiB reads)`, [
      ['RSS at start', MiB(base)],
      [
        'RSS with the idle sockets',
        `${MiB(idleRss)} (${idleOpen} of ${IDLE_SOCKETS} still open after 1 s: the target closes the rest at accept)`,
      ],
      ['peak RSS with non-reading queues', MiB(peak)],
      ['data budget', `${MiB(budget)} (peak used ${MiB(b?.peak ?? 0)}, waiting now ${b?.waiting ?? '?'})`],
      [`bound (start + budget + ${MiB(RSS_SLACK)})`, `${MiB(bound)} ${goal(Math.max(peak, idleRss) <= bound)}`],
    ]);
  } finally {
    for (const s of idle) s.destroy();
    for (const c of clients) c.close();
    tp.child.kill('SIGTERM');
    await new Promise((r) => tp.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main

const t0 = performance.now();
for (const [name, part] of [
  ['faults', faults],
  ['restarts', restarts],
  ['rss', rss],
] as const) {
  if (!PARTS.includes(name)) continue;
  try {
    await part();
  } catch (e) {
    failed = true;
    process.stdout.write(`${name}: FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}
await sleep(100);
report('summary', [
  ['unhandled exceptions (host process)', `${unhandled} ${goal(unhandled === 0)}`],
  ['wall time', `${((performance.now() - t0) / 1000).toFixed(0)} s (bound ${MAX_SECONDS} s)`],
  ['LBA of the file namespaces', TARGET_LBA],
]);
process.exitCode = failed ? 1 : 0;
