// The real Linux nvme-tcp host (kernel 6.1 + nvme-cli in the VM) against our target.
// Guest 10.0.2.100:4420 is forwarded by qemu (one `busybox nc` per connection) to our
// target on 127.0.0.1:<ephemeral>.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { type ControllerInfo, NvmeTarget } from '../../src/target/index.ts';
import {
  assertKernelQuiet,
  ddPattern,
  establishedTcp,
  guestSha256,
  GUEST_FWD_ADDR,
  GUEST_FWD_PORT,
  kernelComplaints,
  linuxConnect,
  linuxDisconnect,
  namespaceDev,
  sha256,
  waitFor,
} from './guest.ts';
import { Capture, captureIssues, decodeCapture, failedCompletions, ioOpcodes, pduCounts } from './tshark.ts';
import { INTEROP_DIR, LinuxVm } from './vm.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:interop-linux-host';
/** A subsystem only a host NQN the guest does not have may use. */
const NQN_CLOSED = 'nqn.2024-01.io.nvmeotcp:interop-closed';
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
      {
        nqn: NQN_CLOSED,
        allowedHosts: ['nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000000'],
        namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 1 << 20 } }],
      },
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

// A failed test must not leave the kernel connected: the next `nvme connect` would say
// "already connected".
afterEach(async () => {
  await vm?.run(`nvme disconnect -n ${NQN}`, { timeoutMs: 60_000 });
});

function isZero(b: Buffer): boolean {
  return b.equals(Buffer.alloc(b.length));
}

test('linux-host - nvme discover lists our subsystem', { timeout: 120_000 }, async () => {
  await vm.dmesg();
  const out = await vm.read(`nvme discover -t tcp -a ${GUEST_FWD_ADDR} -s ${GUEST_FWD_PORT} -o json`, 60_000);
  const log = JSON.parse(out.slice(out.indexOf('{'))) as { records: Record<string, string | number>[] };
  const ours = log.records.filter((r) => r.subnqn === NQN);
  assert.equal(ours.length, 1, out);
  assert.equal(ours[0].trtype, 'tcp');
  assert.equal(ours[0].adrfam, 'ipv4');
  assert.equal(ours[0].subtype, 'nvme subsystem');
  assert.equal(ours[0].traddr, '127.0.0.1');
  assert.equal(ours[0].trsvcid, String(port));
  // Like nvmet, only subsystems this host may connect to are listed.
  assert.equal(log.records.filter((r) => r.subnqn === NQN_CLOSED).length, 0, out);
  await assertKernelQuiet(vm);
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

    const sectors = Number((await vm.read(`cat /sys/block/${dev}/size`)).trim());
    assert.equal(sectors * 512, NS_BYTES);
    const list = JSON.parse(await vm.read('nvme list -o json')) as { Devices: Record<string, string | number>[] };
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
      console.log(
        `${dg.label}: bs ${bs / KiB} KiB x ${len / bs}: write ${r.writeMBps} MB/s, read ${r.readMBps} MB/s (${Date.now() - t0} ms)`,
      );
      assert.equal(sha256(await tgt.namespaceBytes(NQN, 1, offset, len)), r.sha256, `target holds the bytes written with bs ${bs}`);
    }

    assert.equal(await linuxDisconnect(vm, NQN), 1);
    await waitFor('disconnect event', () => disconnects.some((d) => d.cntlid === info.cntlid));
    await waitFor('queues closed', () => establishedTcp(port, 'local') === 0);
    await assertKernelQuiet(vm);
  });
}

test('linux-host - nvme-cli admin passthrough reads our identify, logs and features', { timeout: 180_000 }, async () => {
  await vm.dmesg();
  const ctrl = await linuxConnect(vm, { nqn: NQN });
  await namespaceDev(vm, ctrl);
  const idc = JSON.parse(await vm.read(`nvme id-ctrl /dev/${ctrl} -o json`)) as Record<string, number | string>;
  assert.equal(idc.subnqn, NQN);
  assert.equal(String(idc.mn).trim(), MODEL);
  assert.equal(idc.cntrltype, 1);
  assert.equal(idc.mdts, 8);
  assert.equal(idc.ioccsz, (64 + ICD) / 16);
  assert.equal(idc.iorcsz, 1);
  assert.equal(idc.icdoff, 0);
  assert.equal(Number(idc.sgls) & 1, 1);
  assert.ok(Number(idc.kas) > 0, 'KAS set');
  assert.equal(Number(idc.vwc) & 1, 1);
  assert.equal(Number(idc.oncs) & 0x0c, 0x0c, 'DSM and Write Zeroes');
  assert.equal(idc.nn, 1);
  const idn = JSON.parse(await vm.read(`nvme id-ns /dev/${ctrl} -n 1 -o json`)) as {
    nsze: number;
    ncap: number;
    flbas: number;
    lbafs: { ms: number; ds: number }[];
  };
  assert.equal(idn.nsze, NS_BYTES / 512);
  assert.equal(idn.ncap, NS_BYTES / 512);
  assert.deepEqual({ ms: idn.lbafs[idn.flbas & 0xf].ms, ds: idn.lbafs[idn.flbas & 0xf].ds }, { ms: 0, ds: 9 });
  assert.match(await vm.read(`nvme list-ns /dev/${ctrl}`), /^\[\s*0\]:0x1$/m);
  for (const cmd of [`smart-log /dev/${ctrl}`, `error-log /dev/${ctrl}`, `get-feature /dev/${ctrl} -f 7`]) {
    await vm.sh(`nvme ${cmd}`);
  }
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  await assertKernelQuiet(vm);
});

test('linux-host - nvme fw-log reads the firmware slot log (LID 03h, which nvmet serves too)', { timeout: 120_000 }, async () => {
  const ctrl = await linuxConnect(vm, { nqn: NQN });
  const fw = JSON.parse(await vm.read(`nvme fw-log /dev/${ctrl} -o json`)) as Record<string, Record<string, unknown>>;
  // nvmet answers with an all-zero page (afi 0); a real slot 1 would give afi 1.
  assert.equal(typeof fw[ctrl]['Active Firmware Slot (afi)'], 'number', JSON.stringify(fw));
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  await assertKernelQuiet(vm);
});

test('linux-host - discard (DSM), write zeroes and flush from the kernel act on our namespace', { timeout: 180_000 }, async () => {
  await vm.dmesg();
  const ctrl = await linuxConnect(vm, { nqn: NQN });
  const dev = await namespaceDev(vm, ctrl);
  const q = (await vm.read(`cd /sys/block/${dev}/queue && cat write_cache discard_max_bytes write_zeroes_max_bytes`)).split('\n');
  assert.equal(q[0], 'write back', 'VWC: the kernel sends flushes');
  assert.ok(Number(q[1]) > 0, 'ONCS DSM: discard enabled');
  assert.ok(Number(q[2]) > 0, 'ONCS Write Zeroes: zeroout offloaded');
  const off = 24 * MiB;
  const len = 1 * MiB;
  await ddPattern(vm, dev, off, len, 64 * KiB);
  await vm.sh(`ul-blkdiscard -o ${off} -l ${256 * KiB} /dev/${dev}`);
  await vm.sh(`ul-blkdiscard -z -o ${off + 256 * KiB} -l ${256 * KiB} /dev/${dev}`);
  const held = await tgt.namespaceBytes(NQN, 1, off, len);
  assert.ok(isZero(held.subarray(0, 512 * KiB)), 'discarded and zeroed ranges read as zeros at the target');
  assert.ok(!isZero(held.subarray(512 * KiB)), 'the rest keeps its data');
  assert.equal(await guestSha256(vm, dev, off, len), sha256(held), 'the kernel reads what the target holds');
  // A buffered write + fsync: the kernel ends it with a Flush (write cache on).
  await vm.sh(`gdd if=/dev/urandom of=/dev/${dev} bs=4096 count=4 seek=${(off + len) / 4096} conv=fsync status=none`);
  assert.equal(await guestSha256(vm, dev, off + len, 16 * KiB), sha256(await tgt.namespaceBytes(NQN, 1, off + len, 16 * KiB)));
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  await assertKernelQuiet(vm);
});

test('linux-host - a controller reset from the kernel (sysfs reset_controller) reconnects and keeps working', {
  timeout: 180_000,
}, async () => {
  await vm.dmesg();
  const before = connects.length;
  const ctrl = await linuxConnect(vm, { nqn: NQN });
  const dev = await namespaceDev(vm, ctrl);
  await waitFor('connect event', () => connects.length === before + 1);
  await vm.sh(`echo 1 > /sys/class/nvme/${ctrl}/reset_controller`);
  const t0 = Date.now();
  while ((await vm.read(`cat /sys/class/nvme/${ctrl}/state`)).trim() !== 'live') {
    assert.ok(Date.now() - t0 < 60_000, 'controller live again within 60 s');
    await vm.sh('sleep 0.5');
  }
  await waitFor('a new controller association', () => connects.length === before + 2);
  await waitFor('the old association gone', () => disconnects.some((d) => d.cntlid === connects[before].cntlid));
  const r = await ddPattern(vm, dev, 28 * MiB, 256 * KiB, 64 * KiB);
  assert.equal(sha256(await tgt.namespaceBytes(NQN, 1, 28 * MiB, 256 * KiB)), r.sha256);
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  const log = await vm.dmesg();
  console.log(
    `kernel on reset: ${log
      .split('\n')
      .filter((l) => /nvme/.test(l))
      .join(' | ')}`,
  );
  assert.deepEqual(kernelComplaints(log), [], `kernel log:\n${log}`);
});

test('linux-host - the kernel decodes our Connect rejections: unknown subsystem, host not allowed', { timeout: 120_000 }, async () => {
  await vm.dmesg();
  const unknown = 'nqn.2024-01.io.nvmeotcp:no-such-subsystem';
  const r1 = await vm.run(`nvme connect -t tcp -a ${GUEST_FWD_ADDR} -s ${GUEST_FWD_PORT} -n ${unknown}`, { timeoutMs: 60_000 });
  assert.notEqual(r1.code, 0, r1.out);
  const hostnqn = (await vm.read('cat /etc/nvme/hostnqn')).trim();
  const r2 = await vm.run(`nvme connect -t tcp -a ${GUEST_FWD_ADDR} -s ${GUEST_FWD_PORT} -n ${NQN_CLOSED}`, { timeoutMs: 60_000 });
  assert.notEqual(r2.code, 0, r2.out);
  const log = await vm.dmesg();
  // drivers/nvme/host/fabrics.c nvmf_log_connect_error(): SCT 1 SC 0x82 with IATTR=1 IPO=256,
  // and SCT 1 SC 0x84.
  assert.match(log, new RegExp(`Connect Invalid Data Parameter, subsysnqn "${unknown}"`), log);
  assert.match(log, new RegExp(`Connect for subsystem ${NQN_CLOSED} is not allowed, hostnqn: ${hostnqn}`), log);
  assert.equal(establishedTcp(port, 'local'), 0, 'no queue left open');
});

test('linux-host - the connection survives an idle period longer than the keep-alive timeout', { timeout: 180_000 }, async () => {
  await vm.dmesg();
  const before = connects.length;
  const gone = disconnects.length;
  const ctrl = await linuxConnect(vm, { nqn: NQN, kato: 3 });
  const dev = await namespaceDev(vm, ctrl);
  assert.equal((await vm.read(`cat /sys/class/nvme/${ctrl}/kato`)).trim(), '3');
  // Three keep-alive timeouts without any I/O.
  await vm.sh('sleep 10', 30_000);
  assert.equal((await vm.read(`cat /sys/class/nvme/${ctrl}/state`)).trim(), 'live');
  assert.equal(disconnects.length, gone, 'the target dropped no controller');
  assert.equal(connects.length, before + 1, 'no reconnect');
  assert.equal(establishedTcp(port, 'local'), QUEUES);
  await vm.sh(`gdd if=/dev/${dev} of=/dev/null bs=4096 count=4 iflag=direct status=none`);
  assert.equal(await linuxDisconnect(vm, NQN), 1);
  await assertKernelQuiet(vm);
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
      assert.equal(sha256(await tgt.namespaceBytes(NQN, 1, 16 * MiB, 256 * KiB)), r.sha256);
    }
    await vm.sh(`ul-blkdiscard -o ${16 * MiB} -l ${64 * KiB} /dev/${dev}`);
    await vm.sh(`ul-blkdiscard -z -o ${16 * MiB + 64 * KiB} -l ${64 * KiB} /dev/${dev}`);
    await vm.sh(`gdd if=/dev/urandom of=/dev/${dev} bs=4096 count=1 seek=${(17 * MiB) / 4096} conv=fsync status=none`);
    assert.equal(await linuxDisconnect(vm, NQN), 1);
    await waitFor('queues closed', () => establishedTcp(port, 'local') === 0);
  } finally {
    await cap.stop();
    console.log(
      `tshark: ${cap.log
        .split('\n')
        .filter((l) => /packets? (captured|dropped)/.test(l))
        .join('; ')}`,
    );
  }
  await assertKernelQuiet(vm);
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
  const opcodes = await ioOpcodes(file, port);
  console.log(`I/O opcodes: ${JSON.stringify(opcodes)}`);
  for (const [opc, name] of [
    [0x00, 'Flush'],
    [0x01, 'Write'],
    [0x02, 'Read'],
    [0x08, 'Write Zeroes'],
    [0x09, 'Dataset Management'],
  ] as const) {
    assert.ok((opcodes[opc] ?? 0) > 0, `${name} seen on an I/O queue`);
  }
  assert.deepEqual(await failedCompletions(file, port), []);
});
