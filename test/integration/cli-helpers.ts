// Running the CLI as a subprocess in tests: one-shot verbs, long-running ones
// (target, perf) whose output is read as it comes, and a port nobody listens on.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];
const DEFAULT_TIMEOUT_MS = 60_000;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Stderr lines that are not empty. */
export const errLines = (r: Run): string[] => r.stderr.split('\n').filter((l) => l !== '');

/** A CLI process whose output is collected as it arrives. */
export class CliProcess {
  stdout = '';
  stderr = '';
  private closed = false;
  private readonly exited: Promise<Run>;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly child: ChildProcess,
    timeoutMs: number,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.closed = true;
        this.notify();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  static start(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS, bin: readonly string[] = MAIN): CliProcess {
    const child = spawn(process.execPath, [...bin, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    return new CliProcess(child, timeoutMs);
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first match of `re` in stdout (or stderr), rejects if the process ends first. */
  async waitFor(re: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this[stream]);
      if (m) return m;
      if (this.closed) throw new Error(`process ended before ${re} appeared; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Sends `signal` (if still running) and resolves when the process has exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Run> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  wait(): Promise<Run> {
    return this.exited;
  }
}

/** Runs one verb to completion. */
export function cli(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Run> {
  return CliProcess.start(args, timeoutMs).wait();
}

/** Runs the bin launcher (bin/nvmeotcp.js) to completion. */
export function bin(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Run> {
  return CliProcess.start(args, timeoutMs, ['bin/nvmeotcp.js']).wait();
}

/** A 127.0.0.1 port that was free a moment ago and has nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A target subprocess on 127.0.0.1:0; resolves once it printed its bound address. */
export async function startTarget(args: readonly string[] = []): Promise<{ proc: CliProcess; port: number; statsUrl?: string }> {
  const proc = CliProcess.start(['target', '--listen', '127.0.0.1:0', ...args]);
  const m = await proc.waitFor(/^nvmeotcp target: listening on 127\.0\.0\.1:(\d+)$/m);
  const out: { proc: CliProcess; port: number; statsUrl?: string } = { proc, port: Number(m[1]) };
  if (args.includes('--stats-listen')) out.statsUrl = (await proc.waitFor(/^stats: (http:\/\/\S+)\/metrics/m))[1];
  return out;
}
