// The harness against the kernel alone, so that a failure elsewhere in test/interop points at
// our code: our ICReq codec against the kernel nvmet-tcp target, and the kernel nvme-tcp host
// reaching the kernel target through both forwarders (guestfwd → 127.0.0.1 → hostfwd), with
// the session captured on loopback and decoded by tshark.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { IC_PLEN, PduType } from '../../src/protocol/constants.ts';
import { decodeHeader, encodeIcReq, type IcResp } from '../../src/protocol/pdu.ts';
import { ddPattern, establishedTcp, kernelComplaints, linuxConnect, linuxDisconnect, namespaceDev } from './guest.ts';
import { Capture, captureIssues, decodeCapture, pduCounts } from './tshark.ts';
import { INTEROP_DIR, LinuxVm, within } from './vm.ts';

let vm: LinuxVm;

before(async () => {
  vm = await LinuxVm.boot({ name: 'baseline' });
  console.log(`boot ${vm.bootMs} ms: ${vm.readyLine}`);
});

after(async () => {
  await vm?.shutdown();
});

/** Sends one ICReq and collects exactly one ICResp (128 bytes), then closes. */
async function exchangeIc(port: number, dgst: number): Promise<Buffer> {
  const sock = net.connect(port, '127.0.0.1');
  try {
    return await within(
      new Promise<Buffer>((res, rej) => {
        const chunks: Buffer[] = [];
        let n = 0;
        sock.on('connect', () => sock.write(encodeIcReq({ dgst })));
        sock.on('data', (d) => {
          chunks.push(d);
          n += d.length;
          if (n >= IC_PLEN) res(Buffer.concat(chunks));
        });
        sock.on('error', rej);
        sock.on('close', () => rej(new Error(`closed after ${n} bytes`)));
      }),
      30_000,
      'ICResp',
    );
  } finally {
    sock.destroy();
  }
}

for (const dgst of [0, 1, 2, 3]) {
  test(`baseline - kernel nvmet-tcp answers our ICReq (dgst ${dgst}) with a valid ICResp`, { timeout: 60_000 }, async () => {
    const buf = await exchangeIc(vm.targetPort, dgst);
    assert.equal(buf.length, IC_PLEN, 'ICResp only, nothing after it');
    const r = decodeHeader(buf) as IcResp;
    assert.equal(r.type, PduType.ICResp);
    assert.equal(r.flags, 0);
    assert.equal(r.hlen, 128);
    assert.equal(r.pdo, 0);
    assert.equal(r.plen, 128);
    assert.equal(r.pfv, 0);
    assert.equal(r.cpda, 0);
    assert.equal(r.dgst, dgst, 'digest bits echoed');
    assert.equal(r.maxh2cdata, 0x400000);
    assert.ok(buf.subarray(16).equals(Buffer.alloc(112)), 'reserved bytes zero');
  });
}

test('baseline - kernel nvmet-tcp drops a connection whose ICReq has HPDA != 0', { timeout: 60_000 }, async () => {
  const sock = net.connect(vm.targetPort, '127.0.0.1');
  const got = await within(
    new Promise<number>((res) => {
      let n = 0;
      sock.on('connect', () => sock.write(encodeIcReq({ hpda: 1 })));
      sock.on('data', (d) => {
        n += d.length;
      });
      sock.on('error', () => {});
      sock.on('close', () => res(n));
    }),
    30_000,
    'close',
  );
  assert.equal(got, 0, 'no ICResp');
  assert.match(await vm.dmesg(), /nvmet_tcp: queue \d+: unsupported hpda 1/);
});

test('baseline - kernel host to kernel target through both forwarders, captured and decoded cleanly', { timeout: 180_000 }, async () => {
  mkdirSync(join(INTEROP_DIR, 'captures'), { recursive: true });
  const file = join(INTEROP_DIR, 'captures', 'baseline-kernel-kernel.pcapng');
  await vm.dmesg();
  vm.setGuestFwdPort(vm.targetPort);
  const cap = await Capture.start(vm.targetPort, file);
  try {
    const ctrl = await linuxConnect(vm, { nqn: vm.nqn, hdgst: true, ddgst: true });
    const dev = await namespaceDev(vm, ctrl);
    // Client side of every queue: admin + one I/O queue per guest CPU (2).
    assert.equal(establishedTcp(vm.targetPort, 'remote'), 3);
    await ddPattern(vm, dev, 1 << 20, 128 << 10, 16 << 10);
    await ddPattern(vm, dev, 2 << 20, 1 << 20, 256 << 10);
    assert.equal(await linuxDisconnect(vm, vm.nqn), 1);
  } finally {
    await cap.stop();
    console.log(
      `tshark: ${cap.log
        .split('\n')
        .filter((l) => /packets? (captured|dropped)/.test(l))
        .join('; ')}`,
    );
  }
  const log = await vm.dmesg();
  assert.deepEqual(kernelComplaints(log), [], log);
  const rep = await decodeCapture(file, vm.targetPort);
  const counts = pduCounts(rep);
  console.log(`${rep.frames} frames, ${rep.streams} connections, PDUs ${JSON.stringify(counts)}`);
  if (rep.tcpNotes.length) console.log(`TCP notes: ${rep.tcpNotes.join('; ')}`);
  assert.deepEqual(captureIssues(rep, { hdgst: true, ddgst: true }), []);
  assert.equal(rep.streams, 3);
  assert.equal(counts['h2c ICReq'], 3);
  assert.equal(counts['c2h ICResp'], 3);
  for (const k of ['h2c CapsuleCmd', 'c2h CapsuleResp', 'c2h R2T', 'h2c H2CData', 'c2h C2HData']) {
    assert.ok((counts[k] ?? 0) > 0, `${k} present`);
  }
});
