// A qemu VM running the real Linux kernel: the nvmet-tcp target (a RAM namespace, port 4420,
// any host) and the nvme-tcp host with nvme-cli, driven over its serial console.
//
// Networking (qemu user-net, nothing leaves 127.0.0.1):
//   127.0.0.1:<vm.targetPort>  --hostfwd-->  guest :4420 (kernel nvmet-tcp)
//   guest 10.0.2.100:4420      --guestfwd--> `busybox nc 127.0.0.1 <port>` (set by setGuestFwdPort;
//                                            one nc per guest connection, the port is read from a
//                                            file at connect time, so it can change after boot)
// Built by test/interop/setup.sh (.interop/initramfs.gz, .interop/kernel). Accel is TCG: /dev/kvm
// on the dev machines is nested PVM and cannot run a stock kernel.
//
// Every step is bounded; qemu is killed on shutdown(), on process exit, and by the kernel
// (PR_SET_PDEATHSIG via setpriv) if this process dies without running any handler.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const INTEROP_DIR = join(REPO_ROOT, '.interop');
export const LOG_DIR = join(INTEROP_DIR, 'logs');

export interface VmOptions {
  /** Label for log files (.interop/logs/<name>.serial.log). */
  name: string;
  /** NQN of the in-guest nvmet subsystem. */
  nqn?: string;
  /** Size of its RAM namespace (MiB). */
  ramMib?: number;
  memMib?: number;
  smp?: number;
  bootTimeoutMs?: number;
  /** Also record the guest NIC's traffic (both forwarders' guest side) to this pcap file. */
  netDump?: string;
}

export interface RunResult {
  code: number;
  out: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

const RUN_DIR_PREFIX = 'nvmeotcp-vm-';

/**
 * Removes run directories left by test processes that were killed (SIGKILL leaves no
 * chance to clean up; their qemu died with them): older than 15 min, qemu not alive.
 */
function sweepStaleRunDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < 15 * 60_000) continue;
      const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8'));
      if (pid > 0 && isAlive(pid)) continue;
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => res());
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** Rejects after ms unless p settles first. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export class LinuxVm {
  readonly name: string;
  readonly nqn: string;
  readonly ramBytes: number;
  /** 127.0.0.1 port forwarded to the guest's nvmet-tcp port 4420. */
  readonly targetPort: number;
  /** Launch → READY line on the console. */
  bootMs = 0;
  /** The READY line (guest uptime, kernel release). */
  readyLine = '';
  private readonly dir: string;
  private readonly proc: ChildProcess;
  private procOutput = '';
  private serial: net.Socket | undefined;
  private rx = '';
  private rxWaiter: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(opts: VmOptions, targetPort: number) {
    this.name = opts.name;
    this.nqn = opts.nqn ?? 'nqn.2024-01.io.nvmeotcp:kernel-target';
    this.ramBytes = (opts.ramMib ?? 64) * 1024 * 1024;
    this.targetPort = targetPort;
    // Short path: a unix socket path must fit in 108 bytes.
    this.dir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
    const fwd = join(this.dir, 'fwd.sh');
    writeFileSync(fwd, `exec 2>/dev/null\nexec busybox nc 127.0.0.1 "$(cat ${join(this.dir, 'fwd-port')})"\n`);
    const kernel = readFileSync(join(INTEROP_DIR, 'kernel'), 'utf8').trim();
    const args = [
      '--pdeathsig',
      'SIGKILL',
      '--',
      'qemu-system-x86_64',
      '-accel',
      'tcg',
      '-cpu',
      'max',
      '-m',
      String(opts.memMib ?? 768),
      '-smp',
      String(opts.smp ?? 2),
      '-nodefaults',
      '-display',
      'none',
      '-vga',
      'none',
      '-no-reboot',
      '-pidfile',
      join(this.dir, 'qemu.pid'),
      '-kernel',
      kernel,
      '-initrd',
      join(INTEROP_DIR, 'initramfs.gz'),
      '-append',
      `console=ttyS0 quiet panic=-1 interop_nqn=${this.nqn} interop_ram_mib=${opts.ramMib ?? 64}`,
      '-chardev',
      `socket,id=s0,path=${this.sockPath},server=on,wait=off,logfile=${this.logPath}`,
      '-serial',
      'chardev:s0',
      '-netdev',
      `user,id=n0,hostfwd=tcp:127.0.0.1:${targetPort}-:4420,guestfwd=tcp:10.0.2.100:4420-cmd:/bin/sh ${fwd}`,
      '-device',
      'virtio-net-pci,netdev=n0',
      ...(opts.netDump ? ['-object', `filter-dump,id=d0,netdev=n0,file=${opts.netDump}`] : []),
    ];
    installExitHook();
    this.proc = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    const keep = (d: Buffer) => {
      this.procOutput = (this.procOutput + d.toString()).slice(-8192);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.proc.on('exit', () => live.delete(this.proc));
    this.proc.on('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
    this.proc.unref();
  }

  get sockPath(): string {
    return join(this.dir, 'serial.sock');
  }
  get logPath(): string {
    return join(this.dir, 'serial.log');
  }
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Boots a VM and waits for the target to listen and the shell to answer. */
  static async boot(opts: VmOptions): Promise<LinuxVm> {
    for (const f of ['initramfs.gz', 'kernel']) {
      if (!existsSync(join(INTEROP_DIR, f))) {
        throw new Error(`${join(INTEROP_DIR, f)} missing: run "sh test/interop/setup.sh" first`);
      }
    }
    sweepStaleRunDirs();
    // The forwarded port is picked free, then bound by qemu: another process may take it in
    // between ("could not set up host forwarding rule"); pick again in that case.
    for (let attempt = 1; ; attempt++) {
      const vm = new LinuxVm(opts, await freePort());
      try {
        await vm.waitReady(opts.bootTimeoutMs ?? 180_000);
        await vm.attachSerial();
        return vm;
      } catch (e) {
        await vm.shutdown();
        if (attempt < 3 && /host forwarding rule/i.test(vm.procOutput)) continue;
        throw e;
      }
    }
  }

  private exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (this.exited()) throw new Error(`qemu exited (${this.proc.exitCode ?? this.proc.signalCode}): ${this.procOutput}`);
      const log = existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
      const err = /INTEROP-ERROR[^\r\n]*/.exec(log);
      if (err) throw new Error(`guest init failed: ${err[0]}\n${log.slice(-4000)}`);
      const m = /INTEROP-READY[^\r\n]*/.exec(log);
      if (m) {
        this.bootMs = Date.now() - t0;
        this.readyLine = m[0];
        return;
      }
      await sleep(100);
    }
    const log = existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
    throw new Error(`no INTEROP-READY within ${timeoutMs} ms; console tail:\n${log.slice(-4000)}`);
  }

  private async attachSerial(): Promise<void> {
    const s = net.connect(this.sockPath);
    await within(
      new Promise<void>((res, rej) => {
        s.once('connect', () => res());
        s.once('error', rej);
      }),
      10_000,
      'serial connect',
    );
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      this.rx += d;
      this.rxWaiter?.();
    });
    s.on('error', () => {});
    s.unref();
    this.serial = s;
    // The login shell may still be starting: retry a trivial command until it answers.
    const t0 = Date.now();
    for (;;) {
      try {
        const r = await this.run('stty -echo; echo ok', { timeoutMs: 5000 });
        if (r.out.trim().endsWith('ok')) return;
      } catch (e) {
        if (Date.now() - t0 > 60_000) throw e;
      }
    }
  }

  /** Where the guest's connections to 10.0.2.100:4420 go (127.0.0.1:port on this machine). */
  setGuestFwdPort(port: number): void {
    writeFileSync(join(this.dir, 'fwd-port'), `${port}\n`);
  }

  /**
   * Runs one shell command line in the guest (in a subshell, stderr merged into stdout).
   * On timeout it sends ^C and rejects with the output so far.
   */
  run(cmd: string, { timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<RunResult> {
    const p = this.queue.then(() => this.runNow(cmd, timeoutMs));
    this.queue = p.catch(() => {});
    return p;
  }

  /** run() that rejects unless the exit status is 0; resolves with the output. */
  async sh(cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`guest command failed (exit ${r.code}): ${cmd}\n${r.out}`);
    return r.out;
  }

  /**
   * A read-only command whose output gets parsed: run until two runs agree. The emulated
   * serial console has been seen to repeat a character of output (once in ~100 KB).
   */
  async read(cmd: string, timeoutMs = 60_000): Promise<string> {
    let prev = await this.sh(cmd, timeoutMs);
    for (let i = 0; i < 4; i++) {
      const out = await this.sh(cmd, timeoutMs);
      if (out === prev) return out;
      prev = out;
    }
    throw new Error(`guest output unstable over 5 runs: ${cmd}\n${prev}`);
  }

  private async runNow(cmd: string, timeoutMs: number): Promise<RunResult> {
    if (this.closed || !this.serial || this.exited()) throw new Error(`VM ${this.name} is not running`);
    if (cmd.includes('\n')) throw new Error('run(): one command line only');
    const tag = randomBytes(6).toString('hex');
    // Split markers ("" inside) so an echoed command line never matches.
    const re = new RegExp(`__BEGIN_${tag}__\\r?\\n([\\s\\S]*?)__END_${tag}_(\\d+)__`);
    this.serial.write(`echo __BE""GIN_${tag}__; ( ${cmd} ) 2>&1; echo __EN""D_${tag}_$?__\n`);
    const deadline = Date.now() + timeoutMs;
    let interrupted = false;
    for (;;) {
      const m = re.exec(this.rx);
      if (m) {
        this.rx = this.rx.slice(m.index + m[0].length);
        const out = m[1].replace(/\r/g, '');
        if (interrupted) throw new Error(`guest command timed out after ${timeoutMs} ms: ${cmd}\n${out}`);
        return { code: Number(m[2]), out };
      }
      if (this.exited()) throw new Error(`qemu exited during: ${cmd}\n${this.rx.slice(-4000)}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        if (interrupted) {
          throw new Error(`guest command timed out after ${timeoutMs} ms (no prompt after ^C): ${cmd}\n${this.rx.slice(-4000)}`);
        }
        interrupted = true;
        this.serial.write('\x03');
        // Give the shell a moment to print the end marker after the interrupt.
        await this.waitRx(5000);
        continue;
      }
      await this.waitRx(left);
    }
  }

  private waitRx(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.rxWaiter = undefined;
        res();
      }, ms);
      this.rxWaiter = () => {
        clearTimeout(t);
        this.rxWaiter = undefined;
        res();
      };
    });
  }

  /** Kernel log since the last call (dmesg -c). */
  async dmesg(): Promise<string> {
    return (await this.run('dmesg -c', { timeoutMs: 20_000 })).out;
  }

  /** Stops qemu (SIGTERM, then SIGKILL), saves the console log, removes the run directory. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.serial?.destroy();
    if (!this.exited()) {
      const gone = new Promise<void>((res) => this.proc.once('exit', () => res()));
      this.proc.kill('SIGTERM');
      try {
        await within(gone, 5000, 'qemu SIGTERM');
      } catch {
        this.proc.kill('SIGKILL');
        await within(gone, 5000, 'qemu SIGKILL').catch(() => {});
      }
    }
    live.delete(this.proc);
    try {
      mkdirSync(LOG_DIR, { recursive: true });
      if (existsSync(this.logPath)) copyFileSync(this.logPath, join(LOG_DIR, `${this.name}.serial.log`));
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
