// The capture layer against Debian's tshark, live: our host and target on loopback,
// captured with tshark (pcapng) and converted with editcap (pcap µs and ns), digests off
// and on; then the committed fixtures. For each file the NVMe/TCP PDUs by direction and
// type, and the READ commands (TCP stream, CID, blocks), must be what tshark decodes.
// Needs tshark and editcap (test/interop/setup.sh installs them); root to capture on lo.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { analyzeCapture, Dir } from '../../src/capture/index.ts';
import { replayCapture } from '../../src/replay/replay.ts';
import { runCaptureWorkload, startCaptureTarget } from '../helpers/capture-workload.ts';
import { Capture, decodeCapture, ioReads, pduCounts } from './tshark.ts';
import { INTEROP_DIR, REPO_ROOT } from './vm.ts';

const NAMES = ['ICReq', 'ICResp', 'H2CTermReq', 'C2HTermReq', 'CapsuleCmd', 'CapsuleResp', 'H2CData', 'C2HData', '8', 'R2T'];
const CAPTURES = join(INTEROP_DIR, 'captures');

/** Our analyzer's view in tshark's terms: PDU counts keyed like pduCounts(), reads like ioReads(). */
async function ours(file: string | Readable): Promise<{ counts: Record<string, number>; reads: [number, number, number][]; port: number }> {
  const reads: [number, number, number][] = [];
  const res = await analyzeCapture(file, {
    command: (f, c) => {
      // tshark's nvme.cmd.nlb is the block count (NLB + 1), as CommandView.nlb.
      if (c.isRead) reads.push([f.id - 1, c.cid, c.nlb]);
    },
  });
  const counts: Record<string, number> = {};
  for (const f of res.nvmeFlows) {
    for (const dir of [Dir.H2C, Dir.C2H]) {
      f.side(dir)!.pduCounts.forEach((n, t) => {
        if (n === 0) return;
        const k = `${dir === Dir.H2C ? 'h2c' : 'c2h'} ${NAMES[t]}`;
        counts[k] = (counts[k] ?? 0) + n;
      });
    }
  }
  const f = res.nvmeFlows[0];
  return { counts, reads, port: f.port[1 - f.hostSide] };
}

async function compare(file: string, mine?: Awaited<ReturnType<typeof ours>>): Promise<void> {
  mine ??= await ours(file);
  const rep = await decodeCapture(file, mine.port);
  assert.ok(rep.pdus.length > 0, `tshark decoded no NVMe/TCP PDU in ${file}`);
  assert.deepEqual(mine.counts, pduCounts(rep), `${file}: PDUs by direction and type`);
  assert.deepEqual(mine.reads, await ioReads(file, mine.port), `${file}: READ commands`);
}

for (const d of [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: true },
]) {
  test(`capture vs tshark - live session hdgst=${d.hdgst} ddgst=${d.ddgst}: pcapng, pcap, ns pcap`, { timeout: 120_000 }, async (t) => {
    mkdirSync(CAPTURES, { recursive: true });
    const tag = `capture-${d.hdgst ? 'hd' : ''}${d.ddgst ? 'dd' : ''}${d.hdgst || d.ddgst ? '' : 'plain'}`;
    const ng = join(CAPTURES, `${tag}.pcapng`);
    const tgt = await startCaptureTarget(0);
    t.after(() => tgt.close());
    const cap = await Capture.start(tgt.port, ng);
    t.after(() => cap.stop());
    await runCaptureWorkload(tgt.port, d);
    await tgt.close();
    await cap.stop();
    const pcap = join(CAPTURES, `${tag}.pcap`);
    const ns = join(CAPTURES, `${tag}-ns.pcap`);
    execFileSync('editcap', ['-F', 'pcap', ng, pcap]);
    execFileSync('editcap', ['-F', 'nsecpcap', ng, ns]);
    for (const f of [ng, pcap, ns]) await compare(f);
  });
}

const FIXTURES = join(REPO_ROOT, 'test/fixtures/captures');
/** The committed captures whose payload is whole (the snaplen one is not): ours on loopback, and the kernel VM's. */
function fixtureFiles(): string[] {
  const files = readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f) && !f.includes('snap'));
  // The kernel VM's (scripts/make-vm-captures.ts): its host against our target, our host
  // against nvmet-tcp, digests off and on. On lo the TCP segmentation is this machine's
  // kernel's (qemu's slirp re-sends the guest's stream), not the guest's.
  for (const k of ['linux-host-plain', 'linux-host-digests', 'linux-target-plain', 'linux-target-digests']) {
    assert.ok(files.includes(`${k}.pcapng`), `${k}.pcapng committed`);
  }
  assert.ok(files.length >= 8);
  return files;
}

test('capture vs tshark - the committed fixtures', { timeout: 120_000 }, async () => {
  for (const f of fixtureFiles()) await compare(join(FIXTURES, f));
});

test('capture vs tshark - live from a pipe: dumpcap -w - read while the session runs', { timeout: 120_000 }, async (t) => {
  mkdirSync(CAPTURES, { recursive: true });
  const tgt = await startCaptureTarget(0);
  t.after(() => tgt.close());
  const dc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'dumpcap', '-q', '-i', 'lo', '-f', `tcp port ${tgt.port}`, '-w', '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => dc.kill('SIGKILL'));
  let log = '';
  dc.stderr.on('data', (d: Buffer) => {
    log += d;
  });
  const live = ours(dc.stdout);
  live.catch(() => {}); // awaited below
  // The reference capture: Capture.start returns once its own capture is live, later than dumpcap's.
  const file = join(CAPTURES, 'capture-pipe.pcapng');
  const cap = await Capture.start(tgt.port, file);
  t.after(() => cap.stop());
  assert.match(log, /Capturing on/);
  await runCaptureWorkload(tgt.port, { hdgst: true, ddgst: false });
  await tgt.close();
  await cap.stop();
  await new Promise((res) => setTimeout(res, 1500)); // dumpcap hands packets over in blocks
  dc.kill('SIGINT');
  const mine = await live;
  assert.ok(Object.keys(mine.counts).length > 0);
  await compare(file, mine);
});

test('replay vs tshark - the committed fixtures: PDUs by direction and type, READ commands (CID, length)', {
  timeout: 120_000,
}, async () => {
  for (const name of fixtureFiles()) {
    const file = join(FIXTURES, name);
    const trace: { flow: number; read_cid?: number; read_len?: number }[] = [];
    const r = await replayCapture(file, { trace: (l) => trace.push(JSON.parse(l)) });
    const counts: Record<string, number> = {};
    for (const [d, c] of [
      ['h2c', r.total.pdus.h2c],
      ['c2h', r.total.pdus.c2h],
    ] as const) {
      for (const [k, n] of Object.entries(c)) counts[`${d} ${k}`] = n;
    }
    const port = Number(r.flows[0].controller.split(':').pop());
    assert.deepEqual(counts, pduCounts(await decodeCapture(file, port)), `${name}: PDUs by direction and type`);
    // tshark gives blocks (nvme.cmd.nlb); the fixtures' namespace has 512-byte blocks.
    const reads = trace.filter((x) => x.read_cid !== undefined).map((x) => [x.flow - 1, x.read_cid, x.read_len! / 512]);
    assert.deepEqual(reads, await ioReads(file, port), `${name}: READ commands`);
  }
});
