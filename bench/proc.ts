// Child processes for benchmarks: each peer prints "port <n>" when ready, answers a
// "cpu" line on stdin with "cpu <seconds>" (its own user+system CPU time so far) and
// an "rss" line with "rss <bytes>", and prints its CPU time and exits when its stdin
// closes.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

/** The subsystem of every benchmark target (target-peer.ts, inproc.ts). */
export const BENCH_NQN = 'nqn.2024-01.io.nvmeotcp:bench';

export interface Peer {
  port: number;
  child: ChildProcess;
  /** The peer's CPU seconds so far. */
  cpu(): Promise<number>;
  /** The peer's resident set size in bytes. */
  rss(): Promise<number>;
  /** Sends a control line and waits for "prof-done" (see servePeerControl). */
  profile(line: string): Promise<void>;
  /** Closes stdin and resolves with the peer's CPU seconds. */
  stop(): Promise<number>;
}

/**
 * Peer side: answer "cpu" lines on stdin; "prof-start" / "prof-stop <file>" run the
 * inspector's CPU profiler over a window (answered by "prof-done"); report and exit
 * (after `onEnd`) when stdin closes.
 */
export function servePeerControl(onEnd: () => Promise<void> | void = () => {}): void {
  const report = () => {
    const u = process.cpuUsage();
    process.stdout.write(`cpu ${(u.user + u.system) / 1e6}\n`);
  };
  let session: Session | undefined;
  const command = async (line: string): Promise<void> => {
    if (line === 'cpu') {
      report();
    } else if (line === 'rss') {
      process.stdout.write(`rss ${process.memoryUsage.rss()}\n`);
    } else if (line === 'prof-start') {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      process.stdout.write('prof-done\n');
    } else if (line.startsWith('prof-stop ') && session !== undefined) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(line.slice('prof-stop '.length), JSON.stringify(profile));
      session.disconnect();
      session = undefined;
      process.stdout.write('prof-done\n');
    }
  };
  process.stdin.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim() !== '') void command(line.trim());
  });
  process.stdin.on('end', async () => {
    await onEnd();
    report();
    process.exit(0);
  });
}

function benchFile(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

/** Starts `node [nodeArgs] --import tsx <script> ...args`, optionally pinned to a CPU with taskset. */
export function spawnPeer(script: string, args: string[], cpu?: number, nodeArgs: string[] = []): Promise<Peer> {
  const node = [process.execPath, ...nodeArgs, '--import', 'tsx', benchFile(script), ...args];
  const cmd = cpu === undefined ? node : ['taskset', '-c', String(cpu), ...node];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let seen = false;
  let cpuWaiters: ((s: number) => void)[] = [];
  let rssWaiters: ((b: number) => void)[] = [];
  let profWaiters: (() => void)[] = [];
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!seen) reject(new Error(`${script} exited (${code}) before listening`));
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        nl = out.indexOf('\n');
        const pm = /^port (\d+)/.exec(line);
        if (pm && !seen) {
          seen = true;
          resolve({
            port: Number(pm[1]),
            child,
            cpu: () =>
              new Promise<number>((res) => {
                cpuWaiters.push(res);
                child.stdin?.write('cpu\n');
              }),
            rss: () =>
              new Promise<number>((res) => {
                rssWaiters.push(res);
                child.stdin?.write('rss\n');
              }),
            profile: (line: string) =>
              new Promise<void>((res) => {
                profWaiters.push(res);
                child.stdin?.write(`${line}\n`);
              }),
            stop: () =>
              new Promise<number>((res) => {
                cpuWaiters.push(res);
                child.stdin?.end();
              }),
          });
        }
        if (line === 'prof-done') {
          const w = profWaiters;
          profWaiters = [];
          for (const f of w) f();
        }
        const rm = /^rss (\d+)/.exec(line);
        if (rm) {
          const w = rssWaiters;
          rssWaiters = [];
          for (const f of w) f(Number(rm[1]));
        }
        const cm = /^cpu ([\d.]+)/.exec(line);
        if (cm) {
          const w = cpuWaiters;
          cpuWaiters = [];
          for (const f of w) f(Number(cm[1]));
        }
      }
    });
  });
}

/** Pins every thread of this process to `cpu` (taskset -a: V8's and libuv's threads too). */
export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-apc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

/** CPU seconds (user + system) this process used since `start`. */
export function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}
