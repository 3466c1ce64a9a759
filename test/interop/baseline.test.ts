// Our PDU codec against the real Linux nvmet-tcp target: ICReq out, ICResp decoded.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { IC_PLEN, PduType } from '../../src/protocol/constants.ts';
import { decodeHeader, encodeIcReq, type IcResp } from '../../src/protocol/pdu.ts';
import { LinuxVm, within } from './vm.ts';

let vm: LinuxVm;

before(async () => {
  vm = await LinuxVm.boot({ name: 'icreq' });
  console.log(`# boot ${vm.bootMs} ms: ${vm.readyLine}`);
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
  test(`icreq - kernel nvmet-tcp answers our ICReq (dgst ${dgst}) with a valid ICResp`, { timeout: 60_000 }, async () => {
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

test('icreq - kernel nvmet-tcp drops a connection whose ICReq has HPDA != 0', { timeout: 60_000 }, async () => {
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
  const log = await vm.dmesg();
  assert.match(log, /unsupported hpda 1/);
});
