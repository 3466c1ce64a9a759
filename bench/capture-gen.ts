// The synthetic capture of the capture and replay benchmarks: one NVMe/TCP connection
// on 4420 over Ethernet (ICReq/ICResp, an I/O queue Connect), then 128 KiB reads
// (CapsuleCmd, one C2HData, CapsuleResp) cut into `mss` byte segments, with a pure ACK
// every two data segments when `acks` is set.
import { closeSync, openSync, writeSync } from 'node:fs';
import { CONNECT_DATA_LEN, DIGEST_LEN, HLEN, IoOpc, PduFlag, PduType } from '../src/protocol/constants.ts';
import { buildRwSqe } from '../src/protocol/admin.ts';
import { buildConnectSqe } from '../src/protocol/fabrics.ts';
import { encodeIcReq, encodeIcResp, writeCapsuleCmd, writeCapsuleResp, writeDataHeader } from '../src/protocol/pdu.ts';

const READ = 128 << 10;
const HOST = Buffer.from([10, 0, 0, 1]);
const CTRL = Buffer.from([10, 0, 0, 2]);

/** Writes a synthetic capture of about `size` bytes; returns the packet count. */
export function generate(file: string, size: number, mss: number, acks: boolean, ng: boolean): number {
  const fd = openSync(file, 'w');
  const out = Buffer.allocUnsafe(4 << 20);
  let used = 0;
  let written = 0;
  let packets = 0;
  const flush = (): void => {
    writeSync(fd, out, 0, used);
    written += used;
    used = 0;
  };
  const put = (b: Buffer): void => {
    if (used + b.length > out.length) flush();
    b.copy(out, used);
    used += b.length;
  };
  if (ng) {
    const shb = Buffer.alloc(28);
    shb.writeUInt32LE(0x0a0d0d0a, 0);
    shb.writeUInt32LE(28, 4);
    shb.writeUInt32LE(0x1a2b3c4d, 8);
    shb.writeUInt16LE(1, 12);
    shb.writeBigInt64LE(-1n, 16);
    shb.writeUInt32LE(28, 24);
    const idb = Buffer.alloc(20);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(20, 4);
    idb.writeUInt16LE(1, 8);
    idb.writeUInt32LE(0, 12);
    idb.writeUInt32LE(20, 16);
    put(shb);
    put(idb);
  } else {
    const gh = Buffer.alloc(24);
    gh.writeUInt32LE(0xa1b2c3d4, 0);
    gh.writeUInt16LE(2, 4);
    gh.writeUInt16LE(4, 6);
    gh.writeUInt32LE(262144, 16);
    gh.writeUInt32LE(1, 20);
    put(gh);
  }
  const frame = Buffer.alloc(14 + 20 + 20 + Math.max(mss, 256));
  frame.writeUInt16BE(0x0800, 12);
  const seq = [1000, 0x7000_0000];
  let usec = 0;
  const packet = (h2c: boolean, payload: Buffer, off: number, len: number): void => {
    const ip = 14;
    frame[ip] = 0x45;
    frame.writeUInt16BE(40 + len, ip + 2);
    frame[ip + 8] = 64;
    frame[ip + 9] = 6;
    (h2c ? HOST : CTRL).copy(frame, ip + 12);
    (h2c ? CTRL : HOST).copy(frame, ip + 16);
    const t = ip + 20;
    frame.writeUInt16BE(h2c ? 50000 : 4420, t);
    frame.writeUInt16BE(h2c ? 4420 : 50000, t + 2);
    const s = h2c ? 0 : 1;
    frame.writeUInt32BE(seq[s] >>> 0, t + 4);
    frame.writeUInt32BE(seq[1 - s] >>> 0, t + 8);
    frame[t + 12] = 0x50;
    frame[t + 13] = len > 0 ? 0x18 : 0x10;
    payload.copy(frame, t + 20, off, off + len);
    seq[s] = (seq[s] + len) >>> 0;
    const flen = 54 + len;
    usec += 3;
    const hdr = Buffer.alloc(ng ? 28 : 16);
    if (ng) {
      const total = 28 + ((flen + 3) & ~3) + 4;
      hdr.writeUInt32LE(6, 0);
      hdr.writeUInt32LE(total, 4);
      hdr.writeUInt32LE(0, 8);
      hdr.writeUInt32LE(Math.floor(usec / 0x1_0000_0000), 12);
      hdr.writeUInt32LE(usec >>> 0, 16);
      hdr.writeUInt32LE(flen, 20);
      hdr.writeUInt32LE(flen, 24);
      put(hdr);
      put(frame.subarray(0, flen));
      const tail = Buffer.alloc(((4 - (flen % 4)) % 4) + 4);
      tail.writeUInt32LE(total, tail.length - 4);
      put(tail);
    } else {
      hdr.writeUInt32LE(Math.floor(usec / 1e6), 0);
      hdr.writeUInt32LE(usec % 1e6, 4);
      hdr.writeUInt32LE(flen, 8);
      hdr.writeUInt32LE(flen, 12);
      put(hdr);
      put(frame.subarray(0, flen));
    }
    packets++;
  };
  const send = (h2c: boolean, bytes: Buffer): void => {
    let n = 0;
    for (let off = 0; off < bytes.length; off += mss) {
      packet(h2c, bytes, off, Math.min(mss, bytes.length - off));
      if (acks && !h2c && ++n % 2 === 0) packet(true, bytes, 0, 0);
    }
  };
  send(true, encodeIcReq({}));
  send(false, encodeIcResp({ maxh2cdata: 0x20000 }));
  // The I/O queue's Connect (1024 bytes in capsule), so that tshark knows the queue too.
  const connect = Buffer.alloc(HLEN[PduType.CapsuleCmd] + CONNECT_DATA_LEN);
  writeCapsuleCmd(
    connect,
    0,
    buildConnectSqe({ cid: 0, qid: 1, sqsize: 127, kato: 0 }),
    CONNECT_DATA_LEN,
    HLEN[PduType.CapsuleCmd],
    false,
    false,
  );
  send(true, connect);
  const resp = Buffer.alloc(HLEN[PduType.CapsuleResp]);
  writeCapsuleResp(resp, 0, 0, 0, 0, 0, 0, 0, false);
  send(false, resp);
  // No digests: a CapsuleCmd of 72 bytes; a C2HData header, the data and a CapsuleResp.
  const cmd = Buffer.alloc(HLEN[PduType.CapsuleCmd] + DIGEST_LEN);
  const dh = HLEN[PduType.C2HData];
  const c2h = Buffer.alloc(dh + READ + HLEN[PduType.CapsuleResp], 0x5a);
  for (let cid = 0; written + used < size; cid = (cid + 1) & 0x3f) {
    const sqe = buildRwSqe({ cid, opc: IoOpc.Read, nsid: 1, slba: cid * 256, nlb: 256, len: READ, inCapsule: false });
    const n = writeCapsuleCmd(cmd, 0, sqe, 0, 0, false, false);
    send(true, cmd.subarray(0, n));
    writeDataHeader(c2h, 0, PduType.C2HData, cid, 0, 0, READ, PduFlag.LAST_PDU, dh, false, false);
    writeCapsuleResp(c2h, dh + READ, cid, 0, 0, 0, 0, 1, false);
    send(false, c2h);
  }
  flush();
  closeSync(fd);
  return packets;
}
