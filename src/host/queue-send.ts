// Send side of a host queue: CapsuleCmd headers built in place in the writer's batch
// arena (writeCapsuleCmd), in-capsule data, and the H2CData PDUs answering an R2T.
// Payload buffers are handed to the socket as they are (never concatenated) with their
// data digest. CPDA is always 0 here (the queue refuses another), so a CapsuleCmd with
// in-capsule data has PDO = HLEN + HDGST: no pad, and the same header size either way.
import { DIGEST_LEN, Fes, HLEN, OFF, PduFlag, PduType, SglType } from '../protocol/constants.ts';
import { crc32c } from '../protocol/crc32c.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { type R2t, writeCapsuleCmd } from '../protocol/pdu.ts';
import { SqeOff } from '../protocol/sqe.ts';
import { putDataHeader, putDigest } from '../transport/put.ts';
import type { PduWriter } from '../transport/writer.ts';
import { DataDir, type HostCommand } from './request.ts';

const CMD_HLEN = HLEN[PduType.CapsuleCmd];
const DATA_HLEN = HLEN[PduType.H2CData];

export class QueueSender {
  constructor(
    private readonly writer: PduWriter,
    private readonly hdgst: boolean,
    private readonly ddgst: boolean,
  ) {}

  send(buf: Buffer): void {
    this.writer.send(buf);
  }

  /** Hands everything queued to the socket now (before it is ended). */
  flushNow(): void {
    this.writer.flushNow();
  }

  /** Writes the CID and SGL into the SQE and sends the CapsuleCmd (with in-capsule data if any). */
  sendCapsule(cmd: HostCommand): void {
    const sqe = cmd.sqe;
    sqe.writeUInt16LE(cmd.cid, SqeOff.CID);
    if (cmd.dir === DataDir.H2C) {
      // SGL1: in-capsule data (offset 0 = ICDOFF) or a transport data block fetched by R2T.
      // Two 32-bit stores: writeBigUInt64LE computes BigInt halves per call.
      sqe.writeUInt32LE(0, SqeOff.SGL_ADDR);
      sqe.writeUInt32LE(0, SqeOff.SGL_ADDR + 4);
      sqe.writeUInt32LE(cmd.len, SqeOff.SGL_LEN);
      sqe[SqeOff.SGL_TYPE] = cmd.inCapsule ? SglType.InCapsuleOffset : SglType.TransportDataBlock;
    }
    const icd = cmd.inCapsule ? cmd.len : 0;
    // The header is built in place in the writer's batch arena (no Buffer of its own);
    // with CPDA 0 its length is also the PDO of in-capsule data.
    const w = this.writer;
    const pdo = CMD_HLEN + (this.hdgst ? DIGEST_LEN : 0);
    const at = w.reserve(pdo);
    writeCapsuleCmd(w.buf, at, sqe, icd, pdo, this.hdgst, this.ddgst);
    if (icd !== 0) {
      w.send(cmd.data!);
      if (this.ddgst) putDigest(w, crc32c(cmd.data!));
    }
    w.endPdu();
  }

  /**
   * Answers an R2T with H2CData PDUs of at most MAXH2CDATA bytes, DATAO = R2TO + k,
   * TTAG echoed, LAST_PDU on the final one. Refuses (as Linux does) an R2T for a
   * command that is not an R2T write, with R2TL 0, beyond the data, or overlapping
   * data already requested.
   */
  onR2t(cmd: HostCommand, r2t: R2t, maxh2cdata: number): ProtocolError | undefined {
    const t = r2t.type;
    if (cmd.dir !== DataDir.H2C || cmd.inCapsule) {
      return new ProtocolError(`R2T for cid 0x${cmd.cid.toString(16)}, which has no R2T data`, Fes.InvalidHeaderField, OFF.CCCID, t);
    }
    if (r2t.r2tl === 0) return new ProtocolError('R2T with R2TL 0', Fes.InvalidHeaderField, OFF.R2TL, t);
    if (r2t.r2to + r2t.r2tl > cmd.len) {
      return new ProtocolError(`R2T ${r2t.r2to}+${r2t.r2tl} beyond the command's ${cmd.len} bytes`, Fes.DataOutOfRange, OFF.R2TL, t);
    }
    if (r2t.r2to < cmd.r2tEnd) {
      return new ProtocolError(`R2T at ${r2t.r2to} overlaps data already requested (${cmd.r2tEnd})`, Fes.InvalidHeaderField, OFF.R2TO, t);
    }
    const end = r2t.r2to + r2t.r2tl;
    cmd.r2tEnd = end;
    const data = cmd.data!;
    const w = this.writer;
    const { hdgst, ddgst } = this;
    // CPDA 0: the data follows the header and its digest.
    const pdo = DATA_HLEN + (hdgst ? DIGEST_LEN : 0);
    for (let off = r2t.r2to; off < end; ) {
      const n = Math.min(end - off, maxh2cdata);
      const flags = off + n === end ? PduFlag.LAST_PDU : 0;
      putDataHeader(w, PduType.H2CData, cmd.cid, r2t.ttag, off, n, flags, pdo, hdgst, ddgst);
      const chunk = data.subarray(off, off + n);
      w.send(chunk);
      if (ddgst) putDigest(w, crc32c(chunk));
      off += n;
    }
    return undefined;
  }
}
