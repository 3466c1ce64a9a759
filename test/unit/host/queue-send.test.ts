// The host's send path (QueueSender) against the annotated fixtures: CapsuleCmd with and
// without in-capsule data and the H2CData answering an R2T, for every digest setting,
// through a real PduWriter whose arena holds stale bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduFlag, PduType } from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import type { CapsuleCmd, DataPdu, R2t } from '../../../src/protocol/pdu.ts';
import { SqeOff, sqeCid, sqeSglLen } from '../../../src/protocol/sqe.ts';
import { QueueSender } from '../../../src/host/queue-send.ts';
import { DataDir, HostCommand } from '../../../src/host/request.ts';
import { CAPSULE_FIXTURES } from '../../fixtures/pdu/capsule.ts';
import { DATA_FIXTURES } from '../../fixtures/pdu/data.ts';
import { captureWriter } from '../../helpers/capture-writer.ts';
import { encodeDataHeader, encodeDdgst } from '../../helpers/pdu-encode.ts';

// The host never pads (it refuses CPDA != 0), so the CPDA 3 fixture is not its to send.
const capsules = CAPSULE_FIXTURES.filter((f) => f.header.type === PduType.CapsuleCmd && f.pda === 0);

for (const f of capsules) {
  test(`host send - sendCapsule sends the fixture bytes: ${f.name}`, () => {
    const want = f.header as CapsuleCmd;
    const sqe = Buffer.from(want.sqe);
    const cmd = f.data
      ? new HostCommand(sqe, Buffer.from(f.data), DataDir.H2C, 1000)
      : new HostCommand(sqe, Buffer.alloc(sqeSglLen(sqe)), DataDir.C2H, 1000);
    cmd.cid = sqeCid(want.sqe);
    cmd.inCapsule = f.data !== undefined;
    // sendCapsule writes the CID (and, for a write, the SGL address, length and type) itself.
    sqe.writeUInt16LE(0xffff, SqeOff.CID);
    if (f.data) {
      sqe.fill(0xee, SqeOff.SGL_ADDR, SqeOff.SGL_LEN + 4);
      sqe[SqeOff.SGL_TYPE] = 0xee;
    }
    const { w, bytes } = captureWriter();
    new QueueSender(w, f.hdgst, f.ddgst).sendCapsule(cmd);
    assert.equal(bytes().toString('hex'), f.bytes.toString('hex'));
  });
}

const h2cs = DATA_FIXTURES.filter((f) => f.header.type === PduType.H2CData);

/** An R2T write command whose bytes at `datao` are `data`, and the R2T asking for them. */
function r2tWrite(p: DataPdu, data: Buffer, len = p.datao + p.datal): { cmd: HostCommand; r2t: R2t } {
  const buf = Buffer.alloc(len, 0x33);
  data.copy(buf, p.datao);
  const cmd = new HostCommand(Buffer.alloc(64), buf, DataDir.H2C, 1000);
  cmd.cid = p.cccid;
  const r2t: R2t = { type: PduType.R2T, flags: 0, hlen: 24, pdo: 0, plen: 24, cccid: p.cccid, ttag: p.ttag, r2to: p.datao, r2tl: p.datal };
  return { cmd, r2t };
}

for (const f of h2cs) {
  test(`host send - onR2t sends the fixture bytes: ${f.name}`, () => {
    const { cmd, r2t } = r2tWrite(f.header as DataPdu, f.data!);
    const { w, bytes } = captureWriter();
    assert.equal(new QueueSender(w, f.hdgst, f.ddgst).onR2t(cmd, r2t, 0x20000), undefined);
    assert.equal(bytes().toString('hex'), f.bytes.toString('hex'));
  });
}

test('host send - onR2t splits at MAXH2CDATA: DATAO advances, TTAG echoed, LAST_PDU only on the last, digest per PDU', () => {
  const data = Buffer.from('0123456789abcdefghij');
  const p = { cccid: 9, ttag: 0x77, datao: 4, datal: 16 } as DataPdu;
  const { cmd, r2t } = r2tWrite(p, data.subarray(0, 16), 24);
  const { w, bytes } = captureWriter();
  assert.equal(new QueueSender(w, true, true).onR2t(cmd, r2t, 12), undefined);
  const d = { hdgst: true, ddgst: true };
  const a = cmd.data!.subarray(4, 16);
  const b = cmd.data!.subarray(16, 20);
  const want = Buffer.concat([
    encodeDataHeader(PduType.H2CData, { cccid: 9, ttag: 0x77, datao: 4, datal: 12 }, d),
    a,
    encodeDdgst(crc32c(a)),
    encodeDataHeader(PduType.H2CData, { cccid: 9, ttag: 0x77, datao: 16, datal: 4, flags: PduFlag.LAST_PDU }, d),
    b,
    encodeDdgst(crc32c(b)),
  ]);
  assert.equal(bytes().toString('hex'), want.toString('hex'));
});
