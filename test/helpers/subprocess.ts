// Child processes in tests. Output is collected as it arrives and can be waited for.
// Every child has an owner that kills it: a test (`ownedBy(t, child)`, killed in its
// t.after) or a file (`fileChildren()`, killed after the file's last test). When a
// test fails, each child its owner holds is described in the test's report: how it
// ended, or that it still runs, and the tail of its stderr and stdout. A test that
// fails with "connection refused" because its target died then shows why it died.
//
// Long-running children (a target, perf --runtime) have no time limit: their owner
// stops them. One-shot commands get a hang guard (SIGKILL after `hangGuardMs`) so a
// command that never ends fails its test instead of holding the run; the guard is
// generous and nothing asserts on durations.
import { type ChildProcess, spawn } from 'node:child_process';
import { after, afterEach, type TestContext } from 'node:test';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const TAIL_LINES = 40;

// Children still running when this test process ends are killed with it: on a normal
// exit, and on the SIGTERM the test runner sends a file that ran past --test-timeout.
const live = new Set<Child>();
const killLive = (): void => {
  for (const c of live) c.proc.kill('SIGKILL');
};
process.on('exit', killLive);
process.once('SIGTERM', () => {
  killLive();
  process.kill(process.pid, 'SIGTERM');
});

export class Child {
  stdout = '';
  stderr = '';
  private result: Exit | undefined;
  private hungAfterMs = 0;
  private readonly exited: Promise<Exit>;
  private readonly waiters: (() => void)[] = [];

  private constructor(
    /** What the child is, for reports ("target", "perf"). */
    readonly name: string,
    readonly proc: ChildProcess,
    hangGuardMs: number | undefined,
  ) {
    live.add(this);
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.notify();
    });
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    const guard =
      hangGuardMs === undefined
        ? undefined
        : setTimeout(() => {
            this.hungAfterMs = hangGuardMs;
            proc.kill('SIGKILL');
          }, hangGuardMs);
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.result !== undefined) return;
        clearTimeout(guard);
        live.delete(this);
        this.result = { code, signal, stdout: this.stdout, stderr: this.stderr };
        this.notify();
        resolve(this.result);
      };
      proc.on('error', (e) => {
        this.stderr += `[${this.name}: ${e.message}]\n`;
        finish(null, null);
      });
      proc.on('close', finish);
    });
  }

  /** Starts `file args` with stdout and stderr piped. */
  static spawn(
    name: string,
    file: string,
    args: readonly string[],
    o: { cwd?: string | undefined; hangGuardMs?: number | undefined } = {},
  ): Child {
    const proc = spawn(file, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Child(name, proc, o.hangGuardMs);
  }

  get running(): boolean {
    return this.result === undefined;
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first match of `re` in stdout (or stderr); rejects, describing the child, if it ends first. */
  async waitFor(re: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this[stream]);
      if (m) return m;
      if (!this.running) throw new Error(`${re} never appeared on its ${stream}\n${this.describe()}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Sends `signal` if it still runs; resolves once it has exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.running && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }

  wait(): Promise<Exit> {
    return this.exited;
  }

  /** How the child stands (running, or how it ended) and the tails of its output, for a failure report. */
  describe(): string {
    const r = this.result;
    let state = 'still running';
    if (r !== undefined) state = r.signal !== null ? `killed by ${r.signal}` : `exited with code ${r.code}`;
    if (this.hungAfterMs > 0) state += ` by the hang guard after ${this.hungAfterMs} ms`;
    const tail = (s: string) => {
      const lines = s.trimEnd().split('\n');
      const shown = lines.slice(-TAIL_LINES).join('\n');
      return lines.length > TAIL_LINES ? `[... ${lines.length - TAIL_LINES} lines before]\n${shown}` : shown;
    };
    const args = this.proc.spawnargs.slice(1).join(' ');
    return [
      `${this.name} (pid ${this.proc.pid}, ${args}): ${state}`,
      `--- ${this.name} stderr ---`,
      this.stderr === '' ? '(empty)' : tail(this.stderr),
      `--- ${this.name} stdout ---`,
      this.stdout === '' ? '(empty)' : tail(this.stdout),
    ].join('\n');
  }
}

/** Whoever stops a child: a test, or a file's set of shared children. */
export type Owner = TestContext | FileChildren;

/** Writes each child's description into test `t`'s report, one diagnostic per line. */
function report(t: TestContext, children: readonly Child[]): void {
  for (const c of children) for (const line of c.describe().split('\n')) t.diagnostic(line);
}

/** TestContext.passed: there at run time, missing from @types/node 20; unknown counts as failed. */
const failed = (t: TestContext): boolean => (t as { passed?: boolean }).passed !== true;

/** `c` belongs to test `t`: killed when `t` ends, described in its report if `t` failed. */
export function ownedBy<C extends Child>(t: TestContext, c: C): C {
  t.after(async () => {
    if (failed(t)) report(t, [c]);
    await c.stop('SIGKILL');
  });
  return c;
}

export class FileChildren {
  readonly all: Child[] = [];
  add<C extends Child>(c: C): C {
    this.all.push(c);
    return c;
  }
}

/**
 * Children shared by the tests of one file (started in before()). Call at the top
 * level of the file: it registers the hooks that describe them after every failed
 * test and kill them after the last one.
 */
export function fileChildren(): FileChildren {
  const set = new FileChildren();
  afterEach((t) => {
    if ('diagnostic' in t && failed(t)) report(t, set.all);
  });
  after(async () => {
    await Promise.all(set.all.map((c) => c.stop('SIGKILL')));
  });
  return set;
}

/** Hands `c` to its owner. */
export function own<C extends Child>(owner: Owner, c: C): C {
  return owner instanceof FileChildren ? owner.add(c) : ownedBy(owner, c);
}
