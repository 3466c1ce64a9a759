// ReceiverOptions.reusePdus: capsules and data PDUs decoded into one object per type
// (no object or SQE/CQE buffer per command), with the same fields as a fresh decode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduFlag, PduType, SQE_LEN } from '../../../src/protocol/constants.ts';
import type { CapsuleCmd, CapsuleResp, DataPdu, Pdu } from '../../../src/protocol/pdu.ts';
import { PduReceiver, type RecvHandler } from '../../../src/protocol/receiver.ts';
import { encodeCapsuleCmd, encodeCapsuleResp, encodeDataHeader } from '../../helpers/pdu-encode.ts';

const NO_DIGESTS = { hdgst: false, ddgst: false };

/** Feeds `bytes` to a receiver of `role`; returns, per PDU, the object onPdu got and a snapshot of it taken then. */
function run(role: 'host' | 'target', reusePdus: boolean, bytes: Buffer, dest?: Buffer): { objs: Pdu[]; snaps: unknown[] } {
  const objs: Pdu[] = [];
  const snaps: unknown[] = [];
  const h: RecvHandler = {
    onPdu(p) {
      objs.push(p);
      const s: Record<string, unknown> = { ...p };
      if ('sqe' in p) s.sqe = Buffer.from(p.sqe);
      if ('cqe' in p) s.cqe = Buffer.from(p.cqe);
      snaps.push(s);
      if (dest !== undefined && (p.type === PduType.H2CData || p.type === PduType.C2HData || p.type === PduType.CapsuleCmd)) {
        rx.setDataDest(dest, 0);
      }
      return undefined;
    },
    onDataDone() {},
    onError(e) {
      throw e;
    },
  };
  const rx = new PduReceiver({ role, maxDataLen: 8192, reusePdus }, h);
  rx.setNegotiated(false, false, 0);
  rx.feed(bytes);
  return { objs, snaps };
}

function sqe(cid: number): Buffer {
  const b = Buffer.alloc(SQE_LEN);
  for (let i = 0; i < SQE_LEN; i++) b[i] = (i * 7 + cid) & 0xff;
  b.writeUInt16LE(cid, 2);
  return b;
}

test('receiver reusePdus - target: every CapsuleCmd in one object, fields as decoded fresh', () => {
  const bytes = Buffer.concat([1, 2, 3].map((cid) => encodeCapsuleCmd(sqe(cid), 0, NO_DIGESTS)));
  const fresh = run('target', false, bytes);
  const reused = run('target', true, bytes);
  assert.deepEqual(reused.snaps, fresh.snaps);
  assert.equal(new Set(reused.objs).size, 1, 'one object for every capsule');
  assert.equal(new Set(fresh.objs).size, 3, 'without the option each PDU is its own object');
  assert.ok((reused.objs[0] as CapsuleCmd).sqe.equals(sqe(3)), 'the object holds the last SQE');
});

test('receiver reusePdus - target: H2CData headers in one object too', () => {
  const data = Buffer.alloc(16, 0xab);
  const bytes = Buffer.concat([
    encodeDataHeader(PduType.H2CData, { cccid: 5, ttag: 1, datao: 0, datal: 16 }, NO_DIGESTS),
    data,
    encodeDataHeader(PduType.H2CData, { cccid: 6, ttag: 2, datao: 16, datal: 16, flags: PduFlag.LAST_PDU }, NO_DIGESTS),
    data,
  ]);
  const fresh = run('target', false, bytes, Buffer.alloc(64));
  const reused = run('target', true, bytes, Buffer.alloc(64));
  assert.deepEqual(reused.snaps, fresh.snaps);
  assert.equal(new Set(reused.objs).size, 1);
  assert.equal((reused.objs[0] as DataPdu).cccid, 6);
});

test('receiver reusePdus - host: CapsuleResp and C2HData each in one object', () => {
  const data = Buffer.alloc(8, 1);
  const bytes = Buffer.concat([
    encodeCapsuleResp({ cid: 1, dw0: 0x11 }, false),
    encodeDataHeader(PduType.C2HData, { cccid: 2, datao: 0, datal: 8, flags: PduFlag.LAST_PDU }, NO_DIGESTS),
    data,
    encodeCapsuleResp({ cid: 2, dw0: 0x22, status: 0x4 }, false),
    encodeDataHeader(PduType.C2HData, { cccid: 3, datao: 0, datal: 8, flags: PduFlag.LAST_PDU }, NO_DIGESTS),
    data,
  ]);
  const fresh = run('host', false, bytes, Buffer.alloc(8));
  const reused = run('host', true, bytes, Buffer.alloc(8));
  assert.deepEqual(reused.snaps, fresh.snaps);
  assert.equal(reused.objs[0], reused.objs[2], 'one CapsuleResp object');
  assert.equal(reused.objs[1], reused.objs[3], 'one C2HData object');
  assert.notEqual(reused.objs[0], reused.objs[1]);
  assert.equal((reused.objs[0] as CapsuleResp).cqe.readUInt16LE(12), 2, 'the object holds the last CQE');
});
