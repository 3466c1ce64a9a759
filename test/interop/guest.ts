// Guest-side helpers: the kernel nvme-tcp host driven with nvme-cli, data checks with dd,
// kernel log checks, and the TCP connection count seen from this machine.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LinuxVm } from './vm.ts';

/** Where the guest reaches a target on this machine (qemu guestfwd). */
export const GUEST_FWD_ADDR = '10.0.2.100';
export const GUEST_FWD_PORT = 4420;

export interface ConnectOpts {
  nqn: string;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Keep-alive timeout in seconds (nvme connect -k). */
  kato?: number;
  nrIoQueues?: number;
}

/** `nvme connect` to our target through the forwarder; resolves with the controller name (nvmeN). */
export async function linuxConnect(vm: LinuxVm, o: ConnectOpts): Promise<string> {
  const args = [`-t tcp -a ${GUEST_FWD_ADDR} -s ${GUEST_FWD_PORT} -n ${o.nqn}`];
  if (o.hdgst) args.push('-g');
  if (o.ddgst) args.push('-G');
  if (o.kato !== undefined) args.push(`-k ${o.kato}`);
  if (o.nrIoQueues !== undefined) args.push(`-i ${o.nrIoQueues}`);
  const before = await controllersOf(vm, o.nqn);
  const out = await vm.sh(`nvme connect ${args.join(' ')}`, 90_000);
  const added = (await controllersOf(vm, o.nqn)).filter((c) => !before.includes(c));
  if (added.length !== 1) throw new Error(`nvme connect made ${added.length} controllers of ${o.nqn}:\n${out}`);
  return added[0];
}

/** Names (nvmeN) of the guest's controllers of subsystem nqn, from sysfs. */
export async function controllersOf(vm: LinuxVm, nqn: string): Promise<string[]> {
  const out = await vm.read(`grep -lxF '${nqn}' /sys/class/nvme/nvme*/subsysnqn 2>/dev/null || true`);
  return [...out.matchAll(/\/sys\/class\/nvme\/(nvme\d+)\/subsysnqn/g)].map((m) => m[1]);
}

/** The block device (nvmeXnY) of namespace nsid behind controller ctrl, waiting for the scan. */
export async function namespaceDev(vm: LinuxVm, ctrl: string, nsid = 1, timeoutMs = 30_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    // With native multipath the disk is named after the subsystem, not the controller.
    const out = await vm.read(
      `for s in /sys/class/nvme-subsystem/*; do [ -e $s/${ctrl} ] && ls $s; done | grep -E '^nvme[0-9]+n${nsid}$' || true`,
    );
    const dev = out.trim().split('\n')[0];
    if (dev) return dev;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no namespace ${nsid} on ${ctrl} after ${timeoutMs} ms`);
    await vm.sh('sleep 0.5');
  }
}

/** `nvme disconnect -n nqn`; resolves with the number of controllers it removed (sysfs). */
export async function linuxDisconnect(vm: LinuxVm, nqn: string): Promise<number> {
  const before = await controllersOf(vm, nqn);
  const out = await vm.sh(`nvme disconnect -n ${nqn}`, 60_000);
  const left = await controllersOf(vm, nqn);
  if (left.length > 0) throw new Error(`controllers left after nvme disconnect: ${left.join(' ')}\n${out}`);
  return before.length;
}

/** Kernel log lines that report a problem on the NVMe/TCP path. */
export function kernelComplaints(log: string): string[] {
  const bad =
    /error|fail|timeout|timed out|reset|reconnect|unexpected|invalid|bad |unsupported|couldn't|could not|warn|abort|expired|fatal/i;
  return log.split('\n').filter((l) => /nvme|nvmet|blk_|I\/O/.test(l) && bad.test(l));
}

export interface DdResult {
  /** sha256 of the region as written and as read back (identical, or the command fails). */
  sha256: string;
  writeMBps: number;
  readMBps: number;
}

function mbps(ddOut: string, nth: number): number {
  const all = [...ddOut.matchAll(/copied, [\d.]+ s, ([\d.]+) ([kMG]?B)\/s/g)];
  const m = all[nth];
  if (!m) return Number.NaN;
  const scale = m[2] === 'GB' ? 1000 : m[2] === 'kB' ? 0.001 : m[2] === 'B' ? 1e-6 : 1;
  return Number(m[1]) * scale;
}

/**
 * Writes `bytes` of fresh random data to dev at `offset` with O_DIRECT in blocks of `bs`,
 * reads it back with O_DIRECT in the same block size, and compares. Throws on a mismatch.
 */
export async function ddPattern(vm: LinuxVm, dev: string, offset: number, bytes: number, bs: number): Promise<DdResult> {
  if (offset % bs !== 0 || bytes % bs !== 0) throw new Error('offset and length must be multiples of bs');
  const n = bytes / bs;
  const at = offset / bs;
  const out = await vm.sh(
    `gdd if=/dev/urandom of=/tmp/pat bs=${bytes} count=1 iflag=fullblock status=none && ` +
      `gdd if=/tmp/pat of=/dev/${dev} bs=${bs} seek=${at} count=${n} oflag=direct && ` +
      `gdd if=/dev/${dev} of=/tmp/back bs=${bs} skip=${at} count=${n} iflag=direct && ` +
      'cmp /tmp/pat /tmp/back && sha256sum /tmp/pat > /tmp/sum && rm -f /tmp/pat /tmp/back',
    180_000,
  );
  const sum = await vm.read('cat /tmp/sum');
  const sha = /^([0-9a-f]{64}) {2}\/tmp\/pat$/m.exec(sum);
  if (!sha) throw new Error(`no checksum: ${sum}`);
  return { sha256: sha[1], writeMBps: mbps(out, 0), readMBps: mbps(out, 1) };
}

/** sha256 of `bytes` at `offset` of a guest block device (read with O_DIRECT, 64 or 4 KiB blocks). */
export async function guestSha256(vm: LinuxVm, dev: string, offset: number, bytes: number): Promise<string> {
  const bs = offset % 65536 === 0 && bytes % 65536 === 0 ? 65536 : 4096;
  await vm.sh(
    `gdd if=/dev/${dev} bs=${bs} skip=${offset / bs} count=${bytes / bs} iflag=direct status=none | sha256sum > /tmp/gsum`,
    120_000,
  );
  const out = await vm.read('cat /tmp/gsum');
  const m = /^([0-9a-f]{64}) {2}-$/m.exec(out);
  if (!m) throw new Error(`no checksum: ${out}`);
  return m[1];
}

/**
 * Established IPv4 TCP connections on this machine whose local (or remote) port is `port`:
 * a listener's accepted sockets (side 'local') or a client's sockets (side 'remote').
 */
export function establishedTcp(port: number, side: 'local' | 'remote'): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '01') continue;
    const addr = side === 'local' ? f[1] : f[2];
    if (addr.endsWith(`:${hex}`)) n++;
  }
  return n;
}

/** Bytes sent and received by each established client socket to 127.0.0.1:port (`ss -ti`). */
export function clientSocketBytes(port: number): { sent: number; received: number }[] {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  const socks: { sent: number; received: number }[] = [];
  for (const line of out.split('\n')) {
    if (!/bytes_/.test(line)) continue;
    socks.push({
      sent: Number(/bytes_sent:(\d+)/.exec(line)?.[1] ?? 0),
      received: Number(/bytes_received:(\d+)/.exec(line)?.[1] ?? 0),
    });
  }
  return socks;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Polls `cond` every 100 ms; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fails with the kernel's own words when the kernel logged a problem; returns the log. */
export async function assertKernelQuiet(vm: LinuxVm): Promise<string> {
  const log = await vm.dmesg();
  assert.deepEqual(kernelComplaints(log), [], `kernel log:\n${log}`);
  return log;
}
