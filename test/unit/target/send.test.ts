import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OFF, PduFlag, PduType } from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import type { CapsuleResp } from '../../../src/protocol/pdu.ts';
import { parseCqe } from '../../../src/protocol/sqe.ts';
import { sendC2hData, sendCapsuleResp } from '../../../src/target/send.ts';
import type { PduWriter } from '../../../src/transport/writer.ts';
import { capsuleResp, capsuleRespHdgst } from '../../fixtures/pdu/capsule.ts';
import { c2hDataPadded, c2hPayload } from '../../fixtures/pdu/data.ts';
import { captureWriter } from '../../helpers/capture-writer.ts';
import { encodeDataHeader, encodeDdgst } from '../../helpers/pdu-encode.ts';

/** Collects what would be written, one entry per buffer handed to the writer or header reserved in place. */
function fakeWriter(): { w: PduWriter; out: Buffer[] } {
  const out: Buffer[] = [];
  let last = Buffer.alloc(0);
  const w = {
    send: (...bufs: Buffer[]) => out.push(...bufs),
    sendLater: (b: Buffer) => out.push(b),
    reserve: (n: number) => {
      last = Buffer.alloc(n, 0xee); // an arena holds stale bytes
      out.push(last);
      return 0;
    },
    get buf() {
      return last;
    },
  } as unknown as PduWriter;
  return { w, out };
}

test('target send - C2HData split across PDUs and source buffers, payload passed as views', () => {
  const a = Buffer.alloc(3000, 1);
  const b = Buffer.alloc(5000, 2);
  const { w, out } = fakeWriter();
  sendC2hData(w, 0x21, [a, b], 8000, 4096, false, false, 0, false);
  // [hdr, a(3000), b(1096)] [hdr, b(3904)]
  assert.equal(out.length, 5);
  const [h1, p1, p2, h2, p3] = out;
  assert.equal(h1[OFF.TYPE], PduType.C2HData);
  assert.equal(h1.readUInt16LE(OFF.CCCID), 0x21);
  assert.equal(h1.readUInt32LE(OFF.DATAO), 0);
  assert.equal(h1.readUInt32LE(OFF.DATAL), 4096);
  assert.equal(h1[OFF.FLAGS], 0);
  assert.equal(h1.readUInt32LE(OFF.PLEN), 24 + 4096);
  assert.equal(p1, a);
  assert.equal(p2.buffer, b.buffer);
  assert.equal(p2.length, 1096);
  assert.equal(h2.readUInt32LE(OFF.DATAO), 4096);
  assert.equal(h2.readUInt32LE(OFF.DATAL), 3904);
  assert.equal(h2[OFF.FLAGS], PduFlag.LAST_PDU);
  assert.equal(p3.length, 3904);
  assert.equal(p3.byteOffset, b.byteOffset + 1096);
});

test('target send - digests per PDU, SUCCESS with LAST, PDO padded to HPDA, len shorter than the buffers', () => {
  const src = Buffer.alloc(10000);
  for (let i = 0; i < src.length; i++) src[i] = i & 0xff;
  const { w, out } = fakeWriter();
  sendC2hData(w, 7, [src], 6000, 4000, true, true, 15, true);
  // [hdr, data, ddgst] × 2
  assert.equal(out.length, 6);
  const [h1, d1, g1, h2, d2, g2] = out;
  assert.equal(h1.length, 64); // (15 + 1) * 4
  assert.equal(h1[OFF.PDO], 64);
  assert.equal(h1[OFF.FLAGS], PduFlag.HDGSTF | PduFlag.DDGSTF);
  assert.equal(h1.readUInt32LE(24), crc32c(h1, 0, 24));
  assert.equal(h1.readUInt32LE(OFF.PLEN), 64 + 4000 + 4);
  assert.equal(g1.readUInt32LE(0), crc32c(src.subarray(0, 4000)));
  assert.deepEqual(d1, src.subarray(0, 4000));
  assert.equal(h2[OFF.FLAGS], PduFlag.HDGSTF | PduFlag.DDGSTF | PduFlag.LAST_PDU | PduFlag.SUCCESS);
  assert.equal(h2.readUInt32LE(OFF.DATAL), 2000);
  assert.deepEqual(d2, src.subarray(4000, 6000));
  assert.equal(g2.readUInt32LE(0), crc32c(src.subarray(4000, 6000)));
});

test('target send - zero length sends nothing', () => {
  const { w, out } = fakeWriter();
  sendC2hData(w, 1, [Buffer.alloc(10)], 0, 4096, false, false, 0, true);
  assert.equal(out.length, 0);
});

// ---- against the annotated fixtures, through a real PduWriter

for (const f of [capsuleResp, capsuleRespHdgst]) {
  test(`target send - sendCapsuleResp sends the fixture bytes: ${f.name}`, () => {
    const c = parseCqe((f.header as CapsuleResp).cqe);
    const { w, bytes } = captureWriter();
    sendCapsuleResp(w, c.cid, c.status, c.dw0, c.dw1, c.sqhd, c.sqid, f.hdgst);
    assert.equal(bytes().toString('hex'), f.bytes.toString('hex'));
  });
}

test('target send - sendC2hData with HPDA 3: the first PDU is the padded fixture, LAST on the second', () => {
  const { w, bytes } = captureWriter();
  sendC2hData(w, 3, [c2hPayload, c2hPayload], 24, 12, false, false, 3, false);
  const second = encodeDataHeader(
    PduType.C2HData,
    { cccid: 3, datao: 12, datal: 12, flags: PduFlag.LAST_PDU },
    { hdgst: false, ddgst: false },
    3,
  );
  assert.equal(bytes().toString('hex'), Buffer.concat([c2hDataPadded.bytes, second, c2hPayload]).toString('hex'));
});

test('target send - sendC2hData with both digests, HPDA 1 and SUCCESS: header, pad after the HDGST, data, DDGST', () => {
  const { w, bytes } = captureWriter();
  sendC2hData(w, 3, [c2hPayload], 12, 4096, true, true, 1, true);
  const d = { hdgst: true, ddgst: true };
  const hdr = encodeDataHeader(PduType.C2HData, { cccid: 3, datao: 0, datal: 12, flags: PduFlag.LAST_PDU | PduFlag.SUCCESS }, d, 1);
  assert.equal(hdr.length, 32);
  assert.equal(bytes().toString('hex'), Buffer.concat([hdr, c2hPayload, encodeDdgst(crc32c(c2hPayload))]).toString('hex'));
});
