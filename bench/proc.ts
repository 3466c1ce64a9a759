// Child processes for benchmarks: each peer prints "port <n>" when ready and
// "cpu <seconds>" (its own user+system CPU time) when its stdin closes.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Peer {
  port: number;
  child: ChildProcess;
  /** Closes stdin and resolves with the peer's CPU seconds. */
  stop(): Promise<number>;
}

export function benchFile(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

/** Starts `node --import tsx <script> ...args`, optionally pinned to a CPU with taskset. */
export function spawnPeer(script: string, args: string[], cpu?: number): Promise<Peer> {
  const node = [process.execPath, '--import', 'tsx', benchFile(script), ...args];
  const cmd = cpu === undefined ? node : ['taskset', '-c', String(cpu), ...node];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let cpuResolve: ((s: number) => void) | undefined;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!out.includes('port ')) reject(new Error(`${script} exited (${code}) before listening`));
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const pm = /port (\d+)/.exec(out);
      if (pm && !out.includes('\u0000seen')) {
        out += '\u0000seen';
        resolve({
          port: Number(pm[1]),
          child,
          stop: () =>
            new Promise<number>((res) => {
              cpuResolve = res;
              child.stdin?.end();
            }),
        });
      }
      const cm = /cpu ([\d.]+)/.exec(out);
      if (cm && cpuResolve) cpuResolve(Number(cm[1]));
    });
  });
}

/** CPU seconds (user + system) this process used since `start`. */
export function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}
