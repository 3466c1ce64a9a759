// The real Linux nvme-tcp host (kernel 6.1 + nvme-cli in the VM) against our target.
// Guest 10.0.2.100:4420 is forwarded by qemu (one `busybox nc` per connection) to our
// target on 127.0.0.1:<ephemeral>.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ControllerInfo, NvmeTarget } from '../../src/target/index.ts';
import {
  ddPattern,
  establishedTcp,
  GUEST_FWD_ADDR,
  GUEST_FWD_PORT,
  kernelComplaints,
  linuxConnect,
  linuxDisconnect,
  namespaceDev,
} from './guest.ts';
import { Capture, captureIssues, decodeCapture, pduCounts } from './tshark.ts';
import { INTEROP_DIR, LinuxVm } from './vm.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:interop-linux-host';
const MODEL = 'nvmeotcp-interop';
const NS_BYTES = 64 << 20;
const KiB = 1024;
const MiB = 1024 * KiB;
// Target limits chosen so that the block sizes below cross each of them:
// writes ≤ 8 KiB travel in the capsule, larger ones by R2T; writes > 64 KiB need several
// H2CData PDUs (MAXH2CDATA) and reads > 64 KiB several C2HData PDUs; MDTS 8 = 1 MiB.
const ICD = 8 * KiB;
const MAXH2CDATA = 64 * KiB;
const C2H_MAX = 64 * KiB;
const BLOCK_SIZES = [4 * KiB, 8 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, 1 * MiB];
// The guest has 2 CPUs: the kernel host opens one admin and two I/O queues.
const QUEUES = 3;

let vm: LinuxVm;
let tgt: NvmeTarget;
let port: number;
const connects: ControllerInfo[] = [];
const disconnects: ControllerInfo[] = [];

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      { nqn: NQN, allowAnyHost: true, model: MODEL, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: NS_BYTES } }] },
    ],
    inCapsuleDataSize: ICD,
    maxH2CData: MAXH2CDATA,
    c2hMaxData: C2H_MAX,
    mdts: 8,
  });
  tgt.on('connect', (i: ControllerInfo) => connects.push(i));
  tgt.on('disconnect', (i: ControllerInfo) => disconnects.push(i));
  port = (await tgt.listen({ host: '127.0.0.1', port: 0 })).port;
  vm = await LinuxVm.boot({ name: 'linux-host' });
  vm.setGuestFwdPort(port);
  console.log(`boot ${vm.bootMs} ms: ${vm.readyLine}; our target on 127.0.0.1:${port}`);
});

after(async () => {
  await vm?.shutdown();
  await tgt?.close();
});

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fails with the kernel's own words when the kernel logged a problem. */
async function assertKernelQuiet(): Promise<void> {
  const log = await vm.dmesg();
  assert.deepEqual(kernelComplaints(log), [], `kernel log:\n${log}`);
}

test('linux-host - nvme discover lists our subsystem', { timeout: 120_000 }, async () => {
  await vm.dmesg();
  const out = await vm.sh(`nvme discover -t tcp -a ${GUEST_FWD_ADDR} -s ${GUEST_FWD_PORT} -o json`, 60_000);
  const log = JSON.parse(out.slice(out.indexOf('{'))) as { records: Record<string, string | number>[] };
  const ours = log.records.filter((r) => r.subnqn === NQN);
  assert.equal(ours.length, 1, out);
  assert.equal(ours[0].trtype, 'tcp');
  assert.equal(ours[0].adrfam, 'ipv4');
  assert.equal(ours[0].subtype, 'nvme subsystem');
  assert.equal(ours[0].traddr, '127.0.0.1');
  assert.equal(ours[0].trsvcid, String(port));
  await assertKernelQuiet();
});

for (const dg of [
  { hdgst: false, ddgst: false, label: 'no digests' },
  { hdgst: true, ddgst: true, label: 'header and data digests (-g -G)' },
]) {
  test(`linux-host - connect with ${dg.label}: namespace size, O_DIRECT data 4 KiB..1 MiB, target bytes, clean disconnect`, {
    timeout: 600_000,
  }, async () => {
    await vm.dmesg();
    const before = connects.length;
    const ctrl = await linuxConnect(vm, { nqn: NQN, hdgst: dg.hdgst, ddgst: dg.ddgst });
    const dev = await namespaceDev(vm, ctrl);
    await waitFor('connect event', () => connects.slice(before).some((c) => c.subnqn === NQN));
    const info = connects.slice(before).find((c) => c.subnqn === NQN)!;
    assert.equal(establishedTcp(port, 'local'), QUEUES, 'admin + 2 I/O queue connections');

    const sectors = Number((await vm.sh(`cat /sys/block/${dev}/size`)).trim());
    assert.equal(sectors * 512, NS_BYTES);
    const list = JSON.parse(await vm.sh('nvme list -o json')) as { Devices: Record<string, string | number>[] };
    const entry = list.Devices.find((d) => d.DevicePath === `/dev/${dev}`);
    assert.ok(entry, `nvme list has /dev/${dev}`);
    assert.equal(entry.PhysicalSize, NS_BYTES);
    assert.equal(entry.SectorSize, 512);
    assert.equal(entry.ModelNumber, MODEL);

    for (const [i, bs] of BLOCK_SIZES.entries()) {
      const offset = (i + 1) * MiB;
      const len = bs <= 8 * KiB ? 256 * KiB : 1 * MiB;
      const t0 = Date.now();
      const r = await ddPattern(vm, dev, offset, len, bs);
      console.log(`${dg.label}: bs ${bs / KiB} KiB x ${len / bs}: write ${r.writeMBps} MB/s, read ${r.readMBps} MB/s (${Date.now() - t0} ms)`);
      assert.equal(sha256(tgt.namespaceBytes(NQN, 1, offset, len)), r.sha256, `target holds the bytes written with bs ${bs}`);
    }

    assert.equal(await linuxDisconnect(vm, NQN), 1);
    await waitFor('disconnect event', () => disconnects.some((d) => d.cntlid === info.cntlid));
    await waitFor('queues closed', () => establishedTcp(port, 'local') === 0);
    await assertKernelQuiet();
  });
}

test('linux-host - the connection survives an idle period longer than the keep-alive timeout', { timeout: 180_000 }, async () => {
  await vm.dmesg();
  const before = connects.length;
  const gone = disconnects.length;
  const ctrl = await linuxConnect(vm, { nqn: NQN, kato: 3 });
  const dev = await namespaceDev(vm, ctrl);
  assert.equal((await vm.sh(`cat /sys/class/nvme/${ctrl}/kato`)).trim(), '3');
  // Three keep-alive timeouts without any I/O.
  await vm.sh('sleep 10', 30_000);
  assert.equal((await vm.sh(`cat /sys/class/nvme/${ctrl}/state`)).trim(), 'live');
  assert.equal(disconnects.length, gone, 'the target dropped no controller');
  assert.equal(connects.length, before + 1, 'no reconnect');
  assert.equal(establishedTcp(port, 'local'), QUEUES);
  await vm.sh(`gdd if=/dev/${dev} of=/dev/null bs=4096 count=4 iflag=direct status=none`);
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  await assertKernelQuiet();
});

test('linux-host - tshark decodes a digest session of the kernel host as clean NVMe/TCP', { timeout: 300_000 }, async () => {
  mkdirSync(join(INTEROP_DIR, 'captures'), { recursive: true });
  const file = join(INTEROP_DIR, 'captures', 'linux-host-to-our-target.pcapng');
  await vm.dmesg();
  const cap = await Capture.start(port, file);
  try {
    const ctrl = await linuxConnect(vm, { nqn: NQN, hdgst: true, ddgst: true });
    const dev = await namespaceDev(vm, ctrl);
    for (const bs of [4 * KiB, 16 * KiB, 256 * KiB]) {
      const r = await ddPattern(vm, dev, 16 * MiB, 256 * KiB, bs);
      assert.equal(sha256(tgt.namespaceBytes(NQN, 1, 16 * MiB, 256 * KiB)), r.sha256);
    }
    assert.equal(await linuxDisconnect(vm, NQN), 1);
    await waitFor('queues closed', () => establishedTcp(port, 'local') === 0);
  } finally {
    await cap.stop();
  }
  await assertKernelQuiet();
  const rep = await decodeCapture(file, port);
  const counts = pduCounts(rep);
  console.log(`${rep.frames} frames, ${rep.streams} connections, PDUs ${JSON.stringify(counts)}`);
  if (rep.tcpNotes.length) console.log(`TCP notes: ${rep.tcpNotes.join('; ')}`);
  assert.deepEqual(captureIssues(rep, { hdgst: true, ddgst: true }), []);
  assert.equal(rep.streams, QUEUES);
  for (const k of ['h2c ICReq', 'c2h ICResp', 'h2c CapsuleCmd', 'c2h CapsuleResp', 'c2h R2T', 'h2c H2CData', 'c2h C2HData']) {
    assert.ok((counts[k] ?? 0) > 0, `${k} present`);
  }
  assert.equal(counts['h2c ICReq'], QUEUES);
});
