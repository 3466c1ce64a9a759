// Follows the NVMe/TCP PDUs of one reassembled direction: collects each header (CH
// + PSH, without the header digest) in a small scratch buffer, hands it up, and
// skips the rest of the PDU by its PLEN (data, padding and digests are never
// copied or looked at).
//
// Sync: the scanner starts in sync at a stream start (a SYN, or the first bytes of a
// flow found by its ICReq/ICResp), else it searches. A header that cannot be right
// (type, HLEN, PLEN, PDO or flags out of place, see plausibleCh) or a gap that is not
// inside a PDU's body loses sync: the scanner then searches every delivered piece
// for a header whose successor, when it starts in the same piece, is plausible too.
// A gap inside a PDU's body (data the capture lost or cut off) keeps sync: the PDU
// lengths still say where the next header is.
import { CH_LEN, DIGEST_LEN, HLEN, IC_PLEN, OFF, PDA_MAX, PduFlag, PduType, TERM_REQ_MAX_PLEN } from '../protocol/constants.ts';

/** Which PDU types a direction may carry. */
export const Role = { ANY: 0, H2C: 1, C2H: 2 } as const;
export type Role = (typeof Role)[keyof typeof Role];

const H2C_TYPES = (1 << PduType.ICReq) | (1 << PduType.H2CTermReq) | (1 << PduType.CapsuleCmd) | (1 << PduType.H2CData);
const C2H_TYPES =
  (1 << PduType.ICResp) | (1 << PduType.C2HTermReq) | (1 << PduType.CapsuleResp) | (1 << PduType.C2HData) | (1 << PduType.R2T);
const ROLE_TYPES = [H2C_TYPES | C2H_TYPES, H2C_TYPES, C2H_TYPES];

/** Number of PDU type codes (0x00..0x09): index of PduScanner.counts. */
export const PDU_TYPES = 10;

/** Largest header collected: the IC PDUs' 128 bytes. */
const HDR_MAX = IC_PLEN;

export interface PduHeaderView {
  /** Sequence number of the PDU's first byte. */
  seq: number;
  type: number;
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
  /** The header (hlen bytes from offset 0; decode with protocol/pdu.ts). Scratch: valid during the call. */
  hdr: Buffer;
}

export interface ScanOptions {
  role?: Role | undefined;
  /** Largest PLEN believed (default 16 MiB + 256). */
  maxPlen?: number;
  /** The first header must be an ICReq or ICResp, else the scanner stops (to tell whether a flow is NVMe/TCP at all). */
  icFirst?: boolean | undefined;
}

const Phase = { HDR: 0, BODY: 1, SEARCH: 2, STOPPED: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

export class PduScanner {
  /** Headers seen, by PDU type. */
  readonly counts = new Float64Array(PDU_TYPES);
  /** Times sync was lost, and stream bytes passed over while searching. */
  desyncs = 0;
  searchedBytes = 0;
  /** Gap bytes that fell inside PDUs whose extent was known (sync kept). */
  gapInBody = 0;
  /** PDUs whose header was cut by a gap after its CH: skipped by PLEN, not reported. */
  cutHeaders = 0;
  /** Called with the type when the first CH is an ICReq/ICResp one (icFirst scanners), before the rest of that header. */
  onIcCh: ((type: number) => void) | undefined;
  role: Role;
  /** Header digest: -1 unknown, else 0/1 (from ICReq/ICResp); makes the plausibility check stricter. */
  hdgst = -1;
  ddgst = -1;
  private phase: Phase;
  private readonly hdr = Buffer.alloc(HDR_MAX);
  private hdrGot = 0;
  private hdrNeed = CH_LEN;
  private bodyLeft = 0;
  private pduSeq = 0;
  private icFirst: boolean;
  private readonly maxPlen: number;
  private readonly view: PduHeaderView;

  constructor(
    private readonly onPdu: (h: PduHeaderView) => void,
    /** Sync lost (or, with icFirst, the first header was not an IC PDU: the scanner has stopped). */
    private readonly onLost: (seq: number) => void,
    o: ScanOptions = {},
  ) {
    this.role = o.role ?? Role.ANY;
    this.maxPlen = o.maxPlen ?? (16 << 20) + 256;
    this.icFirst = o.icFirst === true;
    this.phase = Phase.SEARCH;
    this.view = { seq: 0, type: 0, flags: 0, hlen: 0, pdo: 0, plen: 0, hdr: this.hdr };
  }

  /** Before the first data: `inSync` if the stream's first byte is known to start a PDU, else search. */
  start(inSync: boolean): void {
    if (this.phase !== Phase.STOPPED) this.phase = inSync ? Phase.HDR : Phase.SEARCH;
  }

  /** The scanner follows PDU boundaries right now. */
  get inSync(): boolean {
    return this.phase === Phase.HDR || this.phase === Phase.BODY;
  }

  get stopped(): boolean {
    return this.phase === Phase.STOPPED;
  }

  /** Stops for good (the flow is not NVMe/TCP). */
  stop(): void {
    this.phase = Phase.STOPPED;
  }

  /** Lets a scanner built with icFirst accept any PDU from now on. */
  acceptAny(): void {
    this.icFirst = false;
  }

  data(buf: Buffer, start: number, end: number, seq: number): void {
    let off = start;
    let hdrAt = -1; // where the header being collected starts, if in this piece
    while (off < end) {
      switch (this.phase) {
        case Phase.HDR: {
          if (this.hdrGot === 0) {
            this.pduSeq = (seq + (off - start)) >>> 0;
            hdrAt = off;
          }
          const n = Math.min(end - off, this.hdrNeed - this.hdrGot);
          buf.copy(this.hdr, this.hdrGot, off, off + n);
          this.hdrGot += n;
          off += n;
          // A header that is not one: search again from its second byte.
          if (this.hdrGot === this.hdrNeed && !this.header() && hdrAt >= 0) off = hdrAt + 1;
          break;
        }
        case Phase.BODY: {
          const n = Math.min(end - off, this.bodyLeft);
          this.bodyLeft -= n;
          off += n;
          if (this.bodyLeft === 0) this.phase = Phase.HDR;
          break;
        }
        case Phase.SEARCH:
          off = this.search(buf, off, end);
          break;
        default:
          return;
      }
    }
  }

  gap(seq: number, n: number): void {
    if (this.phase === Phase.BODY && n <= this.bodyLeft) {
      this.gapInBody += n;
      this.bodyLeft -= n;
      if (this.bodyLeft === 0) this.phase = Phase.HDR;
    } else if (this.phase === Phase.HDR && this.hdrNeed > CH_LEN && this.hdrGot + n <= this.hdr.readUInt32LE(OFF.PLEN)) {
      // The header was cut (snaplen) after its CH: the PDU is not reported, but its PLEN keeps sync.
      this.cutHeaders++;
      this.gapInBody += n;
      this.bodyLeft = this.hdr.readUInt32LE(OFF.PLEN) - this.hdrGot - n;
      this.hdrGot = 0;
      this.hdrNeed = CH_LEN;
      this.phase = this.bodyLeft > 0 ? Phase.BODY : Phase.HDR;
    } else if (this.phase === Phase.HDR || this.phase === Phase.BODY) {
      this.lose(seq);
    }
  }

  private lose(seq: number): void {
    this.desyncs++;
    this.hdrGot = 0;
    this.hdrNeed = CH_LEN;
    this.phase = this.icFirst ? Phase.STOPPED : Phase.SEARCH;
    this.onLost(seq >>> 0);
  }

  /** hdr holds hdrNeed bytes: the CH (then the whole header). Returns false if sync was lost. */
  private header(): boolean {
    const h = this.hdr;
    if (this.hdrNeed === CH_LEN) {
      const plen = this.plausibleCh(h, 0);
      if (plen < 0 || (this.icFirst && h[OFF.TYPE] > PduType.ICResp)) {
        this.lose(this.pduSeq);
        return false;
      }
      if (this.icFirst) {
        this.icFirst = false;
        this.onIcCh?.(h[OFF.TYPE]);
      }
      this.hdrNeed = h[OFF.HLEN];
      return true;
    }
    const type = h[OFF.TYPE];
    const plen = h.readUInt32LE(OFF.PLEN);
    if (!this.plausibleBody(h, 0)) {
      this.lose(this.pduSeq);
      return false;
    }
    this.counts[type]++;
    const v = this.view;
    v.seq = this.pduSeq;
    v.type = type;
    v.flags = h[OFF.FLAGS];
    v.hlen = this.hdrNeed;
    v.pdo = h[OFF.PDO];
    v.plen = plen;
    this.icFirst = false;
    this.hdrGot = 0;
    this.hdrNeed = CH_LEN;
    this.bodyLeft = plen - v.hlen;
    this.phase = this.bodyLeft > 0 ? Phase.BODY : Phase.HDR;
    this.onPdu(v);
    return true;
  }

  /** Searches buf[off, end) for a PDU start; on a find, resumes sync there. Returns where it stopped. */
  private search(buf: Buffer, off: number, end: number): number {
    for (let c = off; c + CH_LEN <= end; c++) {
      if (this.plausibleCh(buf, c) < 0) continue;
      const hlen = buf[c + OFF.HLEN];
      if (c + hlen <= end && !this.plausibleBody(buf, c)) continue;
      const next = c + buf.readUInt32LE(c + OFF.PLEN);
      if (next + CH_LEN <= end && this.plausibleCh(buf, next) < 0) continue;
      this.searchedBytes += c - off;
      this.phase = Phase.HDR;
      this.hdrGot = 0;
      this.hdrNeed = CH_LEN;
      return c;
    }
    this.searchedBytes += end - off;
    return end;
  }

  /** PLEN of a plausible common header at b[o] (8 bytes), else -1. */
  private plausibleCh(b: Buffer, o: number): number {
    const type = b[o];
    if (type >= PDU_TYPES || ((ROLE_TYPES[this.role] >> type) & 1) === 0) return -1;
    const flags = b[o + OFF.FLAGS];
    const hlen = b[o + OFF.HLEN];
    const pdo = b[o + OFF.PDO];
    const plen = b.readUInt32LE(o + OFF.PLEN);
    if (hlen !== HLEN[type] || (flags & 0xf0) !== 0 || plen < hlen || plen > this.maxPlen) return -1;
    const hd = flags & PduFlag.HDGSTF ? DIGEST_LEN : 0;
    const dd = flags & PduFlag.DDGSTF ? DIGEST_LEN : 0;
    if (type >= PduType.CapsuleCmd && this.hdgst >= 0 && hd !== this.hdgst * DIGEST_LEN) return -1;
    switch (type) {
      case PduType.ICReq:
      case PduType.ICResp:
        return flags === 0 && pdo === 0 && plen === IC_PLEN ? plen : -1;
      case PduType.H2CTermReq:
      case PduType.C2HTermReq:
        return flags === 0 && plen <= TERM_REQ_MAX_PLEN ? plen : -1;
      case PduType.CapsuleResp:
      case PduType.R2T:
        return (flags & ~PduFlag.HDGSTF) === 0 && pdo === 0 && plen === hlen + hd ? plen : -1;
      case PduType.CapsuleCmd:
        if ((flags & ~(PduFlag.HDGSTF | PduFlag.DDGSTF)) !== 0) return -1;
        if (plen === hlen + hd) return pdo === 0 && dd === 0 ? plen : -1;
        return pdo >= hlen + hd && pdo + dd < plen ? plen : -1;
      default:
        // H2CData / C2HData: data after the header and its padding, at least one byte of it.
        if (type === PduType.H2CData && (flags & PduFlag.SUCCESS) !== 0) return -1;
        if (this.ddgst >= 0 && dd !== this.ddgst * DIGEST_LEN) return -1;
        return pdo >= hlen + hd && pdo + dd < plen ? plen : -1;
    }
  }

  /** Checks of the whole header (b[o, o + hlen)) beyond the CH. */
  private plausibleBody(b: Buffer, o: number): boolean {
    const type = b[o];
    if (type === PduType.H2CData || type === PduType.C2HData) {
      const dd = b[o + OFF.FLAGS] & PduFlag.DDGSTF ? DIGEST_LEN : 0;
      return b.readUInt32LE(o + OFF.DATAL) === b.readUInt32LE(o + OFF.PLEN) - b[o + OFF.PDO] - dd;
    }
    if (type === PduType.ICReq || type === PduType.ICResp) {
      return b.readUInt16LE(o + OFF.PFV) === 0 && b[o + OFF.HPDA] <= PDA_MAX && b[o + OFF.DGST] <= 3;
    }
    return true;
  }
}
