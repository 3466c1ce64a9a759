// The PDU receive state machine shared by host and target.
//
// feed() takes whatever chunk the socket delivered, consumes min(available,
// remaining) per state, and never throws: a bad PDU moves the receiver to the
// sticky ERR state and reports one ProtocolError (the caller answers with a
// TermReq and closes the queue). Headers are copied into a small scratch buffer;
// payload goes once, straight to the destination the handler chose for this PDU
// (setDataDest), or is only checksummed and dropped when the handler chose none.
//
// Offload seam: a device that already placed payload bytes at the destination
// (the socket device reads straight into the I/O buffer) calls feedPlaced(n, crc)
// instead of feed(); the receiver then skips the copy and, when the device also
// checksummed those bytes, the software CRC. A PDU's digest counts as checked by
// the device only if every piece of its data came with the device's CRC and
// nothing cast doubt on it (distrustDeviceCrc): otherwise the receiver verifies it
// in software, over the data in the destination.
//
// Pause: a handler may call pause() (the target does while its sends do not drain);
// the receiver then stops at the next PDU boundary, in the middle of a chunk if need
// be, and keeps the unparsed rest of that chunk until resume(). The check is one flag
// per PDU header, nothing per byte.
import {
  CH_LEN,
  DIGEST_LEN,
  Fes,
  HLEN,
  hasHdgst,
  IC_PLEN,
  mayCarryData,
  OFF,
  PDO_MAX,
  PduFlag,
  PduType,
  TERM_REQ_MAX_PLEN,
} from './constants.ts';
import { crc32c, crc32cUpdate } from './crc32c.ts';
import { ProtocolError } from './errors.ts';
import { type CapsuleCmd, type DataPdu, decodeHeader, decodeInto, newReusable, type Pdu, type ReusablePdu, type TermReq } from './pdu.ts';

/** What the receiver waits for. */
export const RecvState = {
  /** the 8-byte common header */
  CH: 0,
  /** the rest of the header and its digest */
  PSH: 1,
  /** pad bytes between the header (digest) and PDO */
  PAD: 2,
  /** the data of a CapsuleCmd / H2CData / C2HData */
  DATA: 3,
  /** the 4-byte data digest */
  DDGST: 4,
  /** the error data of a TermReq (a copy of the peer's bad header) */
  TERM: 5,
  /** sticky: a protocol error happened, a TermReq arrived, or halt(); everything after is ignored */
  ERR: 6,
} as const;
export type RecvState = (typeof RecvState)[keyof typeof RecvState];

export type Role = 'host' | 'target';

export interface RecvHandler {
  /**
   * A complete, validated header. For a PDU with data the handler calls
   * rx.setDataDest() here, or the data is checksummed and dropped. Returning a
   * ProtocolError ends the queue.
   */
  onPdu(pdu: Pdu): ProtocolError | undefined;
  /**
   * Every data byte of the current PDU (and its digest, if any) has arrived.
   * `ddgstOk` is false on a data digest mismatch; `crcByDevice` tells that every
   * piece of the PDU was checksummed by the offload device.
   */
  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void;
  onError(err: ProtocolError): void;
}

/**
 * What a socket placement or an offload device may see of a receiver: its state,
 * read-only, and the two ways to hand it bytes. Only the receiver changes its own
 * fields (the queue sets the negotiated digests once, through setNegotiated).
 */
export interface RxView {
  readonly state: RecvState;
  readonly streamPos: number;
  readonly hdgst: boolean;
  readonly ddgst: boolean;
  /** Where the current PDU's data goes (undefined = discarded) and the next byte's offset in it. */
  readonly destBuf: Buffer | undefined;
  readonly destPos: number;
  readonly dataRemaining: number;
  readonly unitRemaining: number;
  readonly currentPdu: DataPdu | CapsuleCmd | undefined;
  readonly dataCrcSoFar: number;
  feed(chunk: Buffer): void;
  feedPlaced(n: number, crc?: number): void;
  feedChecked(chunk: Buffer, start: number, n: number, crc: number | undefined): void;
  distrustDeviceCrc(): void;
}

export interface ReceiverOptions {
  role: Role;
  /** Largest data length (DATAL or in-capsule data) accepted in one PDU. */
  maxDataLen: number;
  /**
   * Decode every CapsuleCmd and H2CData (target) or CapsuleResp and C2HData (host) into
   * one object of the receiver's per type, SQE or CQE buffer included, instead of a new
   * one per PDU: the object handed to onPdu (and onDataDone) is then valid only until
   * the next PDU's header, and the handler copies what it keeps (the queues do; a
   * recorder that keeps PDUs must not set this).
   */
  reusePdus?: boolean;
}

/**
 * Copies header bytes: up to 32 with a loop (Buffer#copy makes a typed-array view per
 * call, ~50 ns, against ~1.5 ns per byte by hand), longer runs (a 64-byte SQE) natively.
 */
function copySmall(src: Buffer, srcOff: number, dst: Buffer, dstOff: number, n: number): void {
  if (n > 32) src.copy(dst, dstOff, srcOff, srcOff + n);
  else for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
}

/** PDU types a role accepts, as a 256-entry table (1 = allowed): an index per PDU instead of a Set lookup. */
function typeTable(types: number[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const x of types) t[x] = 1;
  return t;
}
const HOST_TYPES = typeTable([PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T]);
const TARGET_TYPES = typeTable([PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData]);

export class PduReceiver implements RxView {
  readonly role: Role;
  private readonly allowed: Uint8Array;
  readonly maxDataLen: number;
  /** Negotiated in ICReq/ICResp (setNegotiated). */
  private _hdgst = false;
  private _ddgst = false;
  /** The PDA we announced to the peer (our HPDA as host, CPDA as target); 0 = no alignment check. */
  private _pda = 0;
  /** True once the ICReq/ICResp exchange is complete. */
  private _icDone = false;

  private _state: RecvState = RecvState.CH;
  /** Bytes consumed since the connection started: our stand-in for the TCP sequence number. */
  private _streamPos = 0;

  // ---- current PDU ----
  private readonly hdr = Buffer.alloc(IC_PLEN + DIGEST_LEN);
  private hdrGot = 0;
  private hdrNeed = CH_LEN;
  /**
   * Where the current header is read from: `hdr` (assembled across chunks), or the
   * chunk itself at `hoff` when the whole header arrived in one piece (no copy).
   * fail() copies a chunk header into `hdr` so lastHeader outlives the chunk.
   */
  private hsrc: Buffer = this.hdr;
  private hoff = 0;
  private padRemaining = 0;
  private pdu: DataPdu | CapsuleCmd | undefined;
  private term: TermReq | undefined;
  /** Data bytes of the current PDU still to come. */
  private _dataRemaining = 0;
  /** Where the current PDU's data goes; undefined = discard. */
  private _destBuf: Buffer | undefined;
  /** Next write position in destBuf. */
  private _destPos = 0;
  /** destPos at the first data byte of the current PDU. */
  private dataStart = 0;
  private dataCrc = 0;
  private crcByDevice = true;
  private readonly ddgstBuf = Buffer.alloc(DIGEST_LEN);
  private ddgstGot = 0;
  /** With reusePdus: the objects capsules and data PDUs are decoded into (by role), else undefined. */
  private readonly capsule: ReusablePdu | undefined;
  private readonly dataPdu: ReusablePdu | undefined;

  // ---- pause (pause() / resume()) ----
  private _paused = false;
  /** The chunk feed() stopped in while paused, and where in it the next PDU starts. */
  private held: Buffer | undefined = undefined;
  private heldAt = 0;

  constructor(
    opts: ReceiverOptions,
    private readonly handler: RecvHandler,
  ) {
    this.role = opts.role;
    this.allowed = opts.role === 'host' ? HOST_TYPES : TARGET_TYPES;
    this.maxDataLen = opts.maxDataLen;
    const host = opts.role === 'host';
    this.capsule = opts.reusePdus ? newReusable(host ? PduType.CapsuleResp : PduType.CapsuleCmd) : undefined;
    this.dataPdu = opts.reusePdus ? newReusable(host ? PduType.C2HData : PduType.H2CData) : undefined;
  }

  /** What the receiver waits for. */
  get state(): RecvState {
    return this._state;
  }
  /** Bytes consumed since the connection started: our stand-in for the TCP sequence number. */
  get streamPos(): number {
    return this._streamPos;
  }
  get hdgst(): boolean {
    return this._hdgst;
  }
  get ddgst(): boolean {
    return this._ddgst;
  }
  get icDone(): boolean {
    return this._icDone;
  }
  get dataRemaining(): number {
    return this._dataRemaining;
  }
  get destBuf(): Buffer | undefined {
    return this._destBuf;
  }
  get destPos(): number {
    return this._destPos;
  }

  /**
   * The ICReq/ICResp exchange is done: digests as negotiated, and the PDA we announced
   * (our HPDA as host, CPDA as target; 0 = no alignment check). From here on the
   * receiver accepts every PDU type of its role except ICReq/ICResp.
   */
  setNegotiated(hdgst: boolean, ddgst: boolean, pda: number): void {
    this._hdgst = hdgst;
    this._ddgst = ddgst;
    this._pda = pda;
    this._icDone = true;
  }

  /** The current data PDU (valid in PAD/DATA/DDGST). */
  get currentPdu(): DataPdu | CapsuleCmd | undefined {
    return this.pdu;
  }

  /** Called from RecvHandler.onPdu: place this PDU's data at buf[off...]. */
  setDataDest(buf: Buffer, off: number): void {
    this._destBuf = buf;
    this._destPos = off;
  }

  /**
   * Feed bytes from the stream. Never throws on bad input. While paused it keeps the
   * rest of `chunk` (a view, not a copy: the caller stops reading into that memory
   * until resume()) and must not be fed again before resume().
   */
  feed(chunk: Buffer): void {
    if (this.held !== undefined) throw new Error('PduReceiver.feed() while paused with unparsed bytes held');
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this._state) {
        case RecvState.CH:
          if (this._paused) {
            // A PDU boundary: the rest waits for resume() (checked per PDU, never per byte).
            this.held = chunk;
            this.heldAt = off;
            return;
          }
          off = len - off >= CH_LEN && this.hdrGot === 0 ? this.headerInPlace(chunk, off) : this.recvHeader(chunk, off);
          break;
        case RecvState.PSH:
          off = this.recvHeader(chunk, off);
          break;
        case RecvState.PAD: {
          const n = Math.min(len - off, this.padRemaining);
          this.padRemaining -= n;
          off += n;
          this._streamPos += n;
          if (this.padRemaining === 0) this._state = RecvState.DATA;
          break;
        }
        case RecvState.DATA:
          off = this.recvData(chunk, off);
          break;
        case RecvState.DDGST:
          off = this.recvDdgst(chunk, off);
          break;
        case RecvState.TERM:
          off = this.recvTerm(chunk, off);
          break;
        default:
          return; // ERR: ignore the rest
      }
    }
  }

  /**
   * `n` data bytes of the current PDU were already written at destBuf[destPos...]
   * by an offload device. `crc` is the device's running CRC32C of this PDU's data
   * after those bytes (it continues from dataCrcSoFar), or undefined when the
   * device did not checksum them.
   */
  feedPlaced(n: number, crc?: number): void {
    if (this._state !== RecvState.DATA || this._destBuf === undefined || !(n >= 0 && n <= this._dataRemaining)) {
      this.fail(new ProtocolError('placed bytes outside a data phase', Fes.PduSequenceError));
      return;
    }
    if (this._ddgst) {
      if (crc === undefined || !this.crcByDevice) {
        this.dataCrc = crc32cUpdate(this.dataCrc, this._destBuf, this._destPos, this._destPos + n);
        this.crcByDevice = false;
      } else {
        this.dataCrc = crc;
      }
    }
    this._destPos += n;
    this._dataRemaining -= n;
    this._streamPos += n;
    if (this._dataRemaining === 0) this.endData();
  }

  /**
   * `n` data bytes of the current PDU at chunk[start...] that an offload device
   * checksummed (`crc`, as for feedPlaced) but did not place: the receiver copies them
   * to the destination, without a software CRC, and goes on as feedPlaced does.
   */
  feedChecked(chunk: Buffer, start: number, n: number, crc: number | undefined): void {
    const dest = this._destBuf;
    if (this._state === RecvState.DATA && dest !== undefined && n >= 0 && n <= this._dataRemaining) {
      chunk.copy(dest, this._destPos, start, start + n);
    }
    this.feedPlaced(n, crc);
  }

  /** Running CRC32C of the current PDU's data so far (for a device continuing it). */
  get dataCrcSoFar(): number {
    return this.dataCrc;
  }

  /**
   * Some of the current PDU's data or its digest came in a segment the device did
   * not CRC-check (skb without ulp_crc): the digest is verified in software. The CRC
   * of the data so far is recomputed from the destination (nvme_tcp_ddp_ddgst_recalc)
   * and the rest is checksummed as it comes. No-op outside DATA/DDGST or when the
   * PDU is already verified in software.
   */
  distrustDeviceCrc(): void {
    if ((this._state !== RecvState.DATA && this._state !== RecvState.DDGST) || !this._ddgst || !this.crcByDevice) return;
    this.crcByDevice = false;
    const dest = this._destBuf;
    // Without a destination no byte came through feedPlaced, so dataCrc is software's already.
    if (dest !== undefined) this.dataCrc = crc32cUpdate(0, dest, this.dataStart, this._destPos);
  }

  /**
   * Bytes still missing from the unit the receiver waits for: the common header (CH),
   * the rest of the header and its digest (PSH), pad (PAD), data (DATA), the data
   * digest (DDGST) or TermReq data (TERM); 0 in ERR. A socket placement bounds its
   * next read with it so a read never runs past the unit into the next payload.
   */
  get unitRemaining(): number {
    switch (this._state) {
      case RecvState.CH:
      case RecvState.PSH:
        return this.hdrNeed - this.hdrGot;
      case RecvState.PAD:
        return this.padRemaining;
      case RecvState.DATA:
      case RecvState.TERM:
        return this._dataRemaining;
      case RecvState.DDGST:
        return DIGEST_LEN - this.ddgstGot;
      default:
        return 0;
    }
  }

  /** Stop processing (the queue is closing). */
  halt(): void {
    this._state = RecvState.ERR;
    this._paused = false;
    this.held = undefined;
  }

  /**
   * Stop delivering PDUs at the next PDU boundary: the PDU in progress (its data, its
   * onDataDone) is finished, the next one waits. feed() keeps the unparsed rest of its
   * chunk until resume(). Called by a handler (the target, while its sends do not drain).
   */
  pause(): void {
    if (this._state !== RecvState.ERR) this._paused = true;
  }

  /** True from pause() to resume(). */
  get paused(): boolean {
    return this._paused;
  }

  /** Bytes of the last chunk that a pause kept unparsed (0 when none). */
  get heldBytes(): number {
    return this.held === undefined ? 0 : this.held.length - this.heldAt;
  }

  /**
   * Delivers again: first the bytes a pause kept, from where it stopped (they may pause
   * it again, keeping the rest), then whatever is fed next.
   */
  resume(): void {
    this._paused = false;
    const c = this.held;
    if (c === undefined) return;
    this.held = undefined;
    this.feed(this.heldAt === 0 ? c : c.subarray(this.heldAt));
  }

  // ------------------------------------------------------------ states

  private recvHeader(chunk: Buffer, off: number): number {
    const n = Math.min(chunk.length - off, this.hdrNeed - this.hdrGot);
    copySmall(chunk, off, this.hdr, this.hdrGot, n);
    this.hdrGot += n;
    this._streamPos += n;
    off += n;
    if (this.hdrGot < this.hdrNeed) return off;
    if (this._state === RecvState.CH) {
      const err = this.checkCh(this.hdr, 0);
      if (err) {
        this.fail(err);
        return chunk.length;
      }
      this._state = RecvState.PSH;
      if (this.hdrGot < this.hdrNeed) return off;
    }
    this.hsrc = this.hdr;
    this.hoff = 0;
    this.onHeader();
    return this._state === RecvState.ERR ? chunk.length : off;
  }

  /**
   * A header starting at chunk[off] with at least the CH there: validated and decoded
   * where it lies when the whole header is in this chunk (the common case), else
   * assembled in `hdr` as usual.
   */
  private headerInPlace(chunk: Buffer, off: number): number {
    const err = this.checkCh(chunk, off);
    if (err) {
      copySmall(chunk, off, this.hdr, 0, CH_LEN);
      this.hdrGot = CH_LEN;
      this._streamPos += CH_LEN;
      this.fail(err);
      return chunk.length;
    }
    const need = this.hdrNeed;
    if (chunk.length - off < need) {
      this._state = RecvState.PSH;
      return this.recvHeader(chunk, off);
    }
    this.hdrGot = need;
    this._streamPos += need;
    this.hsrc = chunk;
    this.hoff = off;
    this.onHeader();
    if (this._state === RecvState.ERR) return chunk.length;
    if (this._state !== RecvState.CH) {
      // Data follows: keep the header for lastHeader while the PDU's data arrives.
      copySmall(chunk, off, this.hdr, 0, need);
    }
    this.hsrc = this.hdr;
    this.hoff = 0;
    return off + need;
  }

  /** Validates the common header at h[at...]; sets hdrNeed to the full header length. */
  private checkCh(h: Buffer, at: number): ProtocolError | undefined {
    const type = h[at + OFF.TYPE]!;
    const flags = h[at + OFF.FLAGS]!;
    const hlen = h[at + OFF.HLEN]!;
    const pdo = h[at + OFF.PDO]!;
    const plen = h.readUInt32LE(at + OFF.PLEN);
    if (this.allowed[type] !== 1) {
      return new ProtocolError(`unexpected PDU type 0x${type.toString(16)}`, Fes.InvalidHeaderField, OFF.TYPE, type);
    }
    const isIc = type === PduType.ICReq || type === PduType.ICResp;
    if (isIc === this._icDone) {
      return new ProtocolError(isIc ? 'second ICReq/ICResp' : 'PDU before connection initialization', Fes.PduSequenceError, 0, type);
    }
    if (hlen !== HLEN[type]) {
      return new ProtocolError(`bad HLEN ${hlen}`, Fes.InvalidHeaderField, OFF.HLEN, type);
    }
    const digestible = hasHdgst(type);
    const hflag = (flags & PduFlag.HDGSTF) !== 0;
    if (digestible && hflag !== this._hdgst) {
      return new ProtocolError(
        this._hdgst ? 'header digest negotiated but HDGSTF clear' : 'HDGSTF set but header digest not negotiated',
        Fes.InvalidHeaderField,
        OFF.FLAGS,
        type,
      );
    }
    const hd = digestible && this._hdgst ? DIGEST_LEN : 0;
    switch (type) {
      case PduType.ICReq:
      case PduType.ICResp:
        if (plen !== IC_PLEN) return new ProtocolError(`bad PLEN ${plen}`, Fes.InvalidHeaderField, OFF.PLEN, type);
        break;
      case PduType.H2CTermReq:
      case PduType.C2HTermReq:
        if (plen < hlen || plen > TERM_REQ_MAX_PLEN) {
          return new ProtocolError(`bad TermReq PLEN ${plen}`, Fes.InvalidHeaderField, OFF.PLEN, type);
        }
        break;
      case PduType.CapsuleResp:
      case PduType.R2T:
        if (plen !== hlen + hd) return new ProtocolError(`bad PLEN ${plen}`, Fes.InvalidHeaderField, OFF.PLEN, type);
        break;
      default: {
        // CapsuleCmd (optional in-capsule data), H2CData, C2HData (data required).
        const isCmd = type === PduType.CapsuleCmd;
        if (isCmd && plen === hlen + hd) break;
        if (plen <= hlen + hd) return new ProtocolError(`bad PLEN ${plen}`, Fes.InvalidHeaderField, OFF.PLEN, type);
        if (pdo < hlen + hd || pdo > PDO_MAX || pdo >= plen) {
          return new ProtocolError(`bad PDO ${pdo}`, Fes.InvalidHeaderField, OFF.PDO, type);
        }
        if (this._pda !== 0 && pdo % ((this._pda + 1) * 4) !== 0) {
          return new ProtocolError(`PDO ${pdo} not aligned to PDA ${this._pda}`, Fes.InvalidHeaderField, OFF.PDO, type);
        }
        // The DDGSTF flag is checked once the header digest has vouched for the header
        // (onHeader); until then the length follows what was negotiated.
        const dataLen = plen - pdo - (this._ddgst ? DIGEST_LEN : 0);
        if (dataLen <= 0) return new ProtocolError(`bad PLEN ${plen}`, Fes.InvalidHeaderField, OFF.PLEN, type);
        if (dataLen > this.maxDataLen) {
          return new ProtocolError(`data length ${dataLen} exceeds the limit ${this.maxDataLen}`, Fes.DataLimitExceeded, 0, type);
        }
      }
    }
    this.hdrNeed = hlen + hd;
    return undefined;
  }

  private onHeader(): void {
    const h = this.hsrc;
    const at = this.hoff;
    const type = h[at + OFF.TYPE]!;
    const hlen = h[at + OFF.HLEN]!;
    const hd = this.hdrNeed - hlen;
    if (hd > 0) {
      const got = h.readUInt32LE(at + hlen);
      const want = crc32c(h, at, at + hlen);
      if (got !== want) {
        this.fail(
          new ProtocolError(
            `header digest mismatch: received 0x${got.toString(16)}, computed 0x${want.toString(16)}`,
            Fes.HeaderDigestError,
            0,
            type,
          ),
        );
        return;
      }
    }
    const flagErr = this.checkDataFlags(type, h[at + OFF.FLAGS]!, h.readUInt32LE(at + OFF.PLEN), hlen + hd);
    if (flagErr) {
      this.fail(flagErr);
      return;
    }
    const pdu = this.decode(h, at, type);
    if (type === PduType.H2CTermReq || type === PduType.C2HTermReq) {
      this.term = pdu as TermReq;
      const dl = pdu.plen - hlen;
      if (dl > 0) {
        this.term.data = Buffer.alloc(dl);
        this._dataRemaining = dl;
        this._destPos = 0;
        this._state = RecvState.TERM;
        return;
      }
      this.deliverTerm();
      return;
    }
    let dataLen = 0;
    if (mayCarryData(type)) {
      if (pdu.plen > hlen + hd) {
        // DDGSTF equals the negotiated ddgst here (checkDataFlags).
        dataLen = pdu.plen - pdu.pdo - (this._ddgst ? DIGEST_LEN : 0);
        if (type !== PduType.CapsuleCmd && (pdu as DataPdu).datal !== dataLen) {
          this.fail(
            new ProtocolError(`DATAL ${(pdu as DataPdu).datal} does not match PLEN ${pdu.plen}`, Fes.InvalidHeaderField, OFF.DATAL, type),
          );
          return;
        }
      }
    }
    this._destBuf = undefined;
    this._destPos = 0;
    this.pdu = dataLen > 0 ? (pdu as DataPdu | CapsuleCmd) : undefined;
    const err = this.handler.onPdu(pdu);
    if (err) {
      this.fail(err);
      return;
    }
    if (this._state === RecvState.ERR) return; // handler halted us
    if (dataLen === 0) {
      this.resetHeader();
      return;
    }
    // (re-read: the handler may have set it)
    const dest = this._destBuf as Buffer | undefined;
    if (dest !== undefined && this._destPos + dataLen > dest.length) {
      this.fail(new ProtocolError('data destination too small', Fes.DataOutOfRange, 0, type));
      return;
    }
    this._dataRemaining = dataLen;
    this.dataStart = this._destPos;
    this.dataCrc = 0;
    this.crcByDevice = true;
    this.ddgstGot = 0;
    this.padRemaining = pdu.pdo - hlen - hd;
    this._state = this.padRemaining > 0 ? RecvState.PAD : RecvState.DATA;
  }

  private decode(h: Buffer, at: number, type: number): Pdu {
    const c = this.capsule;
    if (c !== undefined && type === c.type) return decodeInto(h, at, c);
    const d = this.dataPdu;
    if (d !== undefined && type === d.type) return decodeInto(h, at, d);
    return decodeHeader(h, at);
  }

  /**
   * Flag rules that need a trusted header (checked after the header digest, as Linux
   * does): DDGSTF must match the negotiation on a PDU with data, and C2HData SUCCESS
   * needs LAST (L-host nvme_tcp_handle_c2h_data, S-host nvme_tcp_c2h_data_hdr_handle).
   */
  private checkDataFlags(type: number, flags: number, plen: number, hdrLen: number): ProtocolError | undefined {
    if (!mayCarryData(type)) return undefined;
    if (plen > hdrLen && ((flags & PduFlag.DDGSTF) !== 0) !== this._ddgst) {
      return new ProtocolError(
        this._ddgst ? 'data digest negotiated but DDGSTF clear' : 'DDGSTF set but data digest not negotiated',
        Fes.InvalidHeaderField,
        OFF.FLAGS,
        type,
      );
    }
    if (type === PduType.C2HData && (flags & PduFlag.SUCCESS) !== 0 && (flags & PduFlag.LAST_PDU) === 0) {
      return new ProtocolError('C2HData SUCCESS set without LAST_PDU', Fes.InvalidHeaderField, OFF.FLAGS, type);
    }
    return undefined;
  }

  private recvData(chunk: Buffer, off: number): number {
    const n = Math.min(chunk.length - off, this._dataRemaining);
    const end = off + n;
    if (this._destBuf !== undefined) {
      chunk.copy(this._destBuf, this._destPos, off, end);
      this._destPos += n;
    }
    if (this._ddgst) {
      this.dataCrc = crc32cUpdate(this.dataCrc, chunk, off, end);
      this.crcByDevice = false;
    }
    this._dataRemaining -= n;
    this._streamPos += n;
    if (this._dataRemaining === 0) this.endData();
    return end;
  }

  private endData(): void {
    if (this._ddgst) {
      this._state = RecvState.DDGST;
      return;
    }
    this.crcByDevice = false;
    this.finishData(true);
  }

  private recvDdgst(chunk: Buffer, off: number): number {
    const n = Math.min(chunk.length - off, DIGEST_LEN - this.ddgstGot);
    copySmall(chunk, off, this.ddgstBuf, this.ddgstGot, n);
    this.ddgstGot += n;
    this._streamPos += n;
    if (this.ddgstGot === DIGEST_LEN) {
      this.finishData(this.ddgstBuf.readUInt32LE(0) === this.dataCrc >>> 0);
    }
    return off + n;
  }

  private finishData(ok: boolean): void {
    const pdu = this.pdu!;
    const byDevice = this._ddgst && this.crcByDevice;
    this.resetHeader();
    this.handler.onDataDone(pdu, ok, byDevice);
  }

  private recvTerm(chunk: Buffer, off: number): number {
    const t = this.term!;
    const n = Math.min(chunk.length - off, this._dataRemaining);
    chunk.copy(t.data, this._destPos, off, off + n);
    this._destPos += n;
    this._dataRemaining -= n;
    this._streamPos += n;
    if (this._dataRemaining === 0) this.deliverTerm();
    return off + n;
  }

  private deliverTerm(): void {
    const t = this.term!;
    this.term = undefined;
    this.resetHeader();
    // A TermReq ends the connection either way; the handler decides how to report it.
    // Nothing after it is parsed: the peer closes, and any further bytes are not PDUs.
    const err = this.handler.onPdu(t);
    if (err) this.fail(err);
    else this._state = RecvState.ERR;
  }

  private resetHeader(): void {
    if (this._state === RecvState.ERR) return;
    this._state = RecvState.CH;
    this.hdrGot = 0;
    this.hdrNeed = CH_LEN;
    this.pdu = undefined;
    this._destBuf = undefined;
    this._dataRemaining = 0;
  }

  private fail(err: ProtocolError): void {
    if (this._state === RecvState.ERR) return;
    if (this.hsrc !== this.hdr) {
      // The header was read in place: keep a copy for lastHeader (the chunk is reused).
      this.hsrc.copy(this.hdr, 0, this.hoff, this.hoff + this.hdrGot);
      this.hsrc = this.hdr;
      this.hoff = 0;
    }
    this._state = RecvState.ERR;
    this.handler.onError(err);
  }

  /**
   * The header that is being (or was last) received, for TermReq error data: the CH
   * when the CH itself was bad, else the HLEN header bytes (never the digest). A view
   * into scratch memory: copy it (encodeTermReq does) before the next feed().
   */
  get lastHeader(): Buffer {
    const n = this.hdrNeed > CH_LEN ? Math.min(this.hdrGot, this.hdr[OFF.HLEN]!) : CH_LEN;
    return this.hdr.subarray(0, Math.max(n, CH_LEN));
  }
}
