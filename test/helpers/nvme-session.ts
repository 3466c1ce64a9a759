// A synthetic NVMe/TCP connection as captured packets, for the capture analyzer tests:
// the two PDU streams of a session (ICReq/ICResp, an I/O queue Connect, reads, an
// in-capsule write), cut into TCP segments with chosen ISNs and MSS, with the
// handshake and teardown around them.
import { IoOpc, PduFlag, PduType } from '../../src/protocol/constants.ts';
import { crc32c } from '../../src/protocol/crc32c.ts';
import { buildRwSqe } from '../../src/protocol/admin.ts';
import { buildConnectSqe } from '../../src/protocol/fabrics.ts';
import { encodeIcReq, encodeIcResp } from '../../src/protocol/pdu.ts';
import type { TcpSpec } from './pcap-build.ts';
import { encodeCapsuleCmd, encodeCapsuleResp, encodeDataHeader, encodeDdgst } from './pdu-encode.ts';

export interface Digests {
  hdgst: boolean;
  ddgst: boolean;
}

/** One exchange: the PDUs the host sends, then the controller's answer (each PDU whole: header, data, digests). */
export interface Turn {
  h2c: Buffer[];
  c2h: Buffer[];
}

export interface SessionReads {
  cid: number;
  len: number;
}

/** The reads of the session (CID, bytes), each answered by C2HData PDUs of at most 8 KiB. */
export const SESSION_READS: readonly SessionReads[] = [
  { cid: 0x11, len: 4096 },
  { cid: 0x12, len: 20000 },
  { cid: 0x13, len: 512 },
];

function dataPdu(type: typeof PduType.C2HData, cccid: number, datao: number, data: Buffer, d: Digests, flags: number): Buffer {
  const hdr = encodeDataHeader(type, { cccid, datao, datal: data.length, flags }, d);
  return Buffer.concat([hdr, data, d.ddgst ? encodeDdgst(crc32c(data)) : Buffer.alloc(0)]);
}

/** The turns of a session on I/O queue 1, and how many PDUs of each type each direction has. */
export function sessionTurns(d: Digests): { turns: Turn[]; h2cTypes: number[]; c2hTypes: number[] } {
  const dgst = (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0);
  const h2cTypes: number[] = [];
  const c2hTypes: number[] = [];
  const turns: Turn[] = [];
  const turn = (h: Buffer[], ht: number[], c: Buffer[], ct: number[]) => {
    turns.push({ h2c: h, c2h: c });
    h2cTypes.push(...ht);
    c2hTypes.push(...ct);
  };
  turn([encodeIcReq({ dgst })], [PduType.ICReq], [encodeIcResp({ dgst, maxh2cdata: 0x10000 })], [PduType.ICResp]);
  const connectData = Buffer.alloc(1024, 0x5a);
  turn(
    [
      Buffer.concat([
        encodeCapsuleCmd(buildConnectSqe({ cid: 1, qid: 1, sqsize: 31, kato: 0 }), 1024, d),
        connectData,
        d.ddgst ? encodeDdgst(crc32c(connectData)) : Buffer.alloc(0),
      ]),
    ],
    [PduType.CapsuleCmd],
    [encodeCapsuleResp({ cid: 1 }, d.hdgst)],
    [PduType.CapsuleResp],
  );
  for (const r of SESSION_READS) {
    const sqe = buildRwSqe({
      cid: r.cid,
      opc: IoOpc.Read,
      nsid: 1,
      slba: r.cid * 100,
      nlb: Math.ceil(r.len / 512),
      len: r.len,
      inCapsule: false,
    });
    const c: Buffer[] = [];
    const ct: number[] = [];
    for (let off = 0; off < r.len; off += 8192) {
      const n = Math.min(8192, r.len - off);
      const data = Buffer.alloc(n, r.cid);
      c.push(dataPdu(PduType.C2HData, r.cid, off, data, d, off + n === r.len ? PduFlag.LAST_PDU : 0));
      ct.push(PduType.C2HData);
    }
    c.push(encodeCapsuleResp({ cid: r.cid }, d.hdgst));
    ct.push(PduType.CapsuleResp);
    turn([encodeCapsuleCmd(sqe, 0, d)], [PduType.CapsuleCmd], c, ct);
  }
  const wdata = Buffer.alloc(2048, 0xaa);
  const wsqe = buildRwSqe({ cid: 0x20, opc: IoOpc.Write, nsid: 1, slba: 8, nlb: 4, len: 2048, inCapsule: true });
  turn(
    [Buffer.concat([encodeCapsuleCmd(wsqe, 2048, d), wdata, d.ddgst ? encodeDdgst(crc32c(wdata)) : Buffer.alloc(0)])],
    [PduType.CapsuleCmd],
    [encodeCapsuleResp({ cid: 0x20 }, d.hdgst)],
    [PduType.CapsuleResp],
  );
  return { turns, h2cTypes, c2hTypes };
}

export interface SessionOptions {
  host?: string;
  ctrl?: string;
  hostPort?: number;
  ctrlPort?: number;
  hostIsn?: number;
  ctrlIsn?: number;
  mss?: number;
  /** Start with the three-way handshake (default true) and end with FIN both ways (default true). */
  handshake?: boolean;
  fin?: boolean;
  /** Each PDU starts a segment (default: a turn's PDUs are sent back to back, cut every mss bytes). */
  perPdu?: boolean;
}

/** A captured packet of the session; `h2c` tells the direction. */
export interface SessionPacket extends TcpSpec {
  h2c: boolean;
}

/** The packets of one connection carrying `turns`, in wire order. */
export function sessionPackets(turns: readonly Turn[], o: SessionOptions = {}): SessionPacket[] {
  const host = o.host ?? '10.1.0.1';
  const ctrl = o.ctrl ?? '10.1.0.2';
  const hp = o.hostPort ?? 45000;
  const cp = o.ctrlPort ?? 4420;
  const mss = o.mss ?? 1000;
  let hs = (o.hostIsn ?? 1000) >>> 0;
  let cs = (o.ctrlIsn ?? 0x10000) >>> 0;
  const out: SessionPacket[] = [];
  const h = (flags: number, payload?: Buffer): void => {
    out.push({ h2c: true, src: host, dst: ctrl, sport: hp, dport: cp, seq: hs, ack: cs, flags, payload });
    hs = (hs + (payload?.length ?? 0) + (flags & 0x03 ? 1 : 0)) >>> 0;
  };
  const c = (flags: number, payload?: Buffer): void => {
    out.push({ h2c: false, src: ctrl, dst: host, sport: cp, dport: hp, seq: cs, ack: hs, flags, payload });
    cs = (cs + (payload?.length ?? 0) + (flags & 0x03 ? 1 : 0)) >>> 0;
  };
  if (o.handshake ?? true) {
    h(0x02);
    c(0x12);
    h(0x10);
  }
  const send = (pdus: Buffer[], out: (flags: number, payload: Buffer) => void): void => {
    for (const b of o.perPdu ? pdus : [Buffer.concat(pdus)]) {
      for (let off = 0; off < b.length; off += mss) out(0x18, b.subarray(off, off + mss));
    }
  };
  for (const t of turns) {
    send(t.h2c, h);
    send(t.c2h, c);
  }
  if (o.fin ?? true) {
    h(0x11);
    c(0x11);
    h(0x10);
  }
  return out;
}
