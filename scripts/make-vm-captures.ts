// Regenerates the Linux kernel capture fixtures of test/fixtures/captures/ (see the
// README there): one qemu VM of the interop tests (test/interop/vm.ts, Debian's 6.1
// kernel under TCG), four short sessions captured with tshark on lo, pcapng:
//   linux-host-plain, linux-host-digests   the kernel's nvme-tcp host (nvme-cli connect,
//                                          O_DIRECT dd in the guest) against our target
//   linux-target-plain, linux-target-digests   our host against the kernel's nvmet-tcp
// What lo shows is the host leg of qemu's user-mode network: `busybox nc` ↔ our target,
// and our host ↔ qemu's slirp socket. Slirp ends the guest's TCP connection and opens its
// own, so the segmentation in these files is this machine's kernel's, not the guest's.
// Needs root (capturing on lo), tshark, and `sh test/interop/setup.sh` done.
//
//   node --import tsx scripts/make-vm-captures.ts [SESSION...]   (all four by default)
//
// Prints each file's size and tshark's PDU counts; the exact values the unit tests assert
// (test/unit/replay/vm-fixtures.test.ts) must then be updated from `nvmeotcp replay`.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NvmeController } from '../src/host/index.ts';
import { NvmeTarget } from '../src/target/index.ts';
import { assertCapturedWhole } from '../test/helpers/capture-workload.ts';
import { Prng } from '../test/helpers/prng.ts';
import { establishedTcp, linuxConnect, linuxDisconnect, namespaceDev, waitFor } from '../test/interop/guest.ts';
import { Capture, captureIssues, decodeCapture, pduCounts } from '../test/interop/tshark.ts';
import { INTEROP_DIR, LinuxVm, REPO_ROOT } from '../test/interop/vm.ts';

const OUT = join(REPO_ROOT, 'test/fixtures/captures');
const KiB = 1024;
const MiB = 1024 * KiB;
/** Our target's subsystem for the kernel host. */
const VM_CAPTURE_NQN = 'nqn.2024-01.io.nvmeotcp:vm-capture';
/** Reads of every session, one after another from offset 0: 4 KiB to 512 KiB (a 1 MiB one would not fit a 1 MB fixture). */
const READS = [4 * KiB, 32 * KiB, 128 * KiB, 512 * KiB];
const REGION = READS.reduce((a, b) => a + b);
/** Writes inside the capture, after the reads' region: one in-capsule, one by R2T (both targets' in-capsule limits are 8 and 16 KiB). */
const WRITES = [4 * KiB, 64 * KiB];
const MAX_FIXTURE = 1_000_000;

interface Session {
  name: string;
  digests: boolean;
  kind: 'linux-host' | 'linux-target';
}

const SESSIONS: Session[] = [
  { name: 'linux-host-plain', kind: 'linux-host', digests: false },
  { name: 'linux-host-digests', kind: 'linux-host', digests: true },
  { name: 'linux-target-plain', kind: 'linux-target', digests: false },
  { name: 'linux-target-digests', kind: 'linux-target', digests: true },
];

/** The kernel host: one I/O queue, dd with O_DIRECT (so each dd block is one command). */
async function kernelHostSession(vm: LinuxVm, port: number, s: Session, prefill: boolean): Promise<void> {
  const ctrl = await linuxConnect(vm, { nqn: VM_CAPTURE_NQN, hdgst: s.digests, ddgst: s.digests, nrIoQueues: 1 });
  const dev = await namespaceDev(vm, ctrl);
  if (prefill) {
    await vm.sh(`gdd if=/dev/urandom of=/dev/${dev} bs=${REGION} count=1 oflag=direct iflag=fullblock status=none`, 120_000);
  } else {
    let off = 0;
    for (const bs of READS) {
      await vm.sh(`gdd if=/dev/${dev} of=/dev/null bs=${bs} skip=${off} count=1 iflag=direct,skip_bytes status=none`, 120_000);
      off += bs;
    }
    off = REGION;
    for (const bs of WRITES) {
      await vm.sh(`gdd if=/dev/urandom of=/dev/${dev} bs=${bs} seek=${off} count=1 oflag=direct,seek_bytes iflag=fullblock status=none`);
      off += bs;
    }
  }
  await linuxDisconnect(vm, VM_CAPTURE_NQN);
  await waitFor('queues closed', () => establishedTcp(port, 'local') === 0);
}

/** Our host: one I/O queue, the same reads and writes. */
async function ourHostSession(vm: LinuxVm, s: Session, prefill: boolean): Promise<void> {
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: vm.targetPort,
    subnqn: vm.nqn,
    hdgst: s.digests,
    ddgst: s.digests,
    nrIoQueues: 1,
  });
  try {
    const ns = ctrl.namespace(1);
    const rng = new Prng(11);
    if (prefill) {
      await ns.write(0, rng.bytes(REGION));
    } else {
      let off = 0;
      for (const len of READS) {
        await ns.read(off / 512, len / 512);
        off += len;
      }
      for (const len of WRITES) {
        await ns.write(off / 512, rng.bytes(len));
        off += len;
      }
    }
  } finally {
    await ctrl.disconnect();
  }
  await waitFor('queues closed', () => establishedTcp(vm.targetPort, 'remote') === 0);
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !SESSIONS.some((x) => x.name === n));
  if (unknown.length) throw new Error(`unknown session ${unknown.join(', ')}; sessions: ${SESSIONS.map((x) => x.name).join(' ')}`);
  mkdirSync(OUT, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'vm-captures-'));
  const tgt = new NvmeTarget({
    subsystems: [
      { nqn: VM_CAPTURE_NQN, allowAnyHost: true, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 4 * MiB }, lbaSize: 512 }] },
    ],
    inCapsuleDataSize: 8 * KiB,
    maxH2CData: 64 * KiB,
    c2hMaxData: 128 * KiB,
  });
  const port = (await tgt.listen({ host: '127.0.0.1', port: 0 })).port;
  let vm: LinuxVm | undefined;
  try {
    vm = await LinuxVm.boot({ name: 'make-vm-captures', ramMib: 4 });
    vm.setGuestFwdPort(port);
    for (const s of SESSIONS.filter((x) => only.length === 0 || only.includes(x.name))) {
      const capPort = s.kind === 'linux-host' ? port : vm.targetPort;
      const run = (prefill: boolean) =>
        s.kind === 'linux-host' ? kernelHostSession(vm!, port, s, prefill) : ourHostSession(vm!, s, prefill);
      await run(true); // fresh random data for the reads, not captured
      const raw = join(tmp, `${s.name}.pcapng`);
      const cap = await Capture.start(capPort, raw);
      try {
        await run(false);
      } finally {
        await cap.stop();
      }
      await assertCapturedWhole(raw, s.name).catch((e: unknown) => {
        mkdirSync(join(INTEROP_DIR, 'captures'), { recursive: true });
        const kept = join(INTEROP_DIR, 'captures', `${s.name}.failed.pcapng`);
        copyFileSync(raw, kept);
        throw new Error(`${e instanceof Error ? e.message : String(e)} (capture kept in ${kept})`);
      });
      const rep = await decodeCapture(raw, capPort);
      const issues = captureIssues(rep, { hdgst: s.digests, ddgst: s.digests });
      if (issues.length) throw new Error(`${s.name}: tshark reports ${issues.join('; ')}`);
      const size = statSync(raw).size;
      if (size >= MAX_FIXTURE) throw new Error(`${s.name}: ${size} bytes, over the ${MAX_FIXTURE} of a fixture`);
      const file = join(OUT, `${s.name}.pcapng`);
      renameSync(raw, file);
      chmodSync(file, 0o644); // dumpcap writes 0600
      console.log(`${s.name}: port ${capPort}, ${rep.frames} TCP frames, ${rep.streams} connections, ${size} bytes`);
      console.log(`  tshark PDU counts: ${JSON.stringify(pduCounts(rep))}`);
    }
  } finally {
    await vm?.shutdown();
    await tgt.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
