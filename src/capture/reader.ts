// A streaming reader of pcap and pcapng capture files. It is fed chunks of any size
// (a file read in pieces, stdin, a pipe from dumpcap) and calls back once per packet
// record; it never holds more than one record, so memory stays bounded whatever the
// size of the input.
//
// Formats (facts from the libpcap file format and the pcapng draft):
//   pcap   global header 24 bytes: magic u32 @0 | version 2×u16 | thiszone | sigfigs |
//          snaplen u32 @16 | network (link type) u32 @20. Magic a1b2c3d4 = µs, a1b23c4d = ns
//          timestamps, read in the writer's byte order (d4c3b2a1 / 4d3cb2a1 = swapped).
//          Record header 16 bytes: ts_sec | ts_usec or ts_nsec | incl_len | orig_len.
//   pcapng blocks: type u32 | total length u32 | body | total length u32 (a multiple of 4).
//          SHB 0x0A0D0D0A: byte-order magic 1A2B3C4D @8 starts a section in that byte order;
//          interfaces are numbered per section. IDB 1: link type u16 @8, snaplen u32 @12,
//          options (if_tsresol 9, if_tsoffset 14). EPB 6: interface u32 @8, timestamp hi/lo
//          @12/@16, captured u32 @20, original u32 @24, data @28. SPB 3: original u32 @8,
//          data @12 (interface 0, no timestamp). OPB 2 (obsolete): interface u16 @8,
//          timestamp @12/@16, captured @20, original @24, data @28. Other blocks are skipped.
//
// Lifetime contract: the CapturePacket handed to the callback, and the bytes it points
// at, are only valid during the callback. The object is reused for the next packet, and
// `buf` is either the caller's chunk (which the caller may reuse once push() returns) or
// the reader's own scratch buffer (overwritten by the next record that spans chunks).
// Copy what must outlive the callback.
import { CaptureError } from './errors.ts';

/** LINKTYPE_* values the decoder knows. */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the writer's byte order. */
  NULL: 0,
  ETHERNET: 1,
  /** Raw IP (v4 or v6 by the version nibble). */
  RAW: 101,
  /** OpenBSD loopback: like NULL, address family in network byte order. */
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export interface CapturePacket {
  /** 1-based number of the packet record in the input (tshark's frame.number). */
  index: number;
  /** File offset of the record (pcap record header, or pcapng block). */
  fileOffset: number;
  linkType: number;
  /** Interface id within its pcapng section (0 for pcap). */
  interfaceId: number;
  /** buf[off, off + caplen) are the captured bytes. Valid during the callback only. */
  buf: Buffer;
  off: number;
  caplen: number;
  /** Length of the packet on the wire (caplen < origLen: cut by the snaplen). */
  origLen: number;
  /** Timestamp: seconds since 1970 and nanoseconds within that second (0/0 when the record has none). */
  tsSec: number;
  tsNsec: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export interface ReaderOptions {
  /** Largest pcap record or pcapng block accepted, in bytes (default 16 MiB): a larger length means a corrupt file. */
  maxBlock?: number;
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAP_US_SWAPPED = 0xd4c3b2a1;
const PCAP_NS_SWAPPED = 0x4d3cb2a1;
const PCAP_HDR = 24;
const PCAP_REC_HDR = 16;

const BT_SHB = 0x0a0d0d0a;
const BT_OPB = 0x00000002;
const BT_IDB = 0x00000001;
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
const BOM = 0x1a2b3c4d;
/** Smallest block: type, length, trailing length. */
const PCAPNG_MIN = 12;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const State = { START: 0, PCAP: 1, PCAPNG: 2 } as const;
type State = (typeof State)[keyof typeof State];

interface Iface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second (if_tsresol; default 10^6). */
  units: number;
  /** Seconds added to every timestamp (if_tsoffset). */
  offset: number;
}

export interface ReaderStats {
  /** Packet records (pcap records, EPB, SPB, OPB). */
  packets: number;
  /** pcapng sections (SHB). */
  sections: number;
  /** pcapng blocks of types the reader skips (NRB, ISB, DSB, custom...). */
  skippedBlocks: number;
  /** Bytes consumed. */
  bytes: number;
}

export class CaptureReader {
  readonly stats: ReaderStats = { packets: 0, sections: 0, skippedBlocks: 0, bytes: 0 };
  private state: State = State.START;
  private le = true;
  /** pcap: nanosecond timestamps. */
  private nsec = false;
  private pcapLinkType = 0;
  private ifaces: Iface[] = [];
  /** Bytes a unit's head must have before its size is known. */
  private headNeed = PCAPNG_MIN;
  /** A unit that spans chunks is gathered here. */
  private scratch = Buffer.allocUnsafe(64 << 10);
  private have = 0;
  private readonly maxBlock: number;
  private readonly pkt: CapturePacket = {
    index: 0,
    fileOffset: 0,
    linkType: 0,
    interfaceId: 0,
    buf: Buffer.alloc(0),
    off: 0,
    caplen: 0,
    origLen: 0,
    tsSec: 0,
    tsNsec: 0,
  };

  constructor(
    private readonly onPacket: (p: CapturePacket) => void,
    o: ReaderOptions = {},
  ) {
    this.maxBlock = o.maxBlock ?? 16 << 20;
  }

  /** 'pcap' or 'pcapng' once the magic has been read, else undefined. */
  get format(): CaptureFormat | undefined {
    return this.state === State.PCAP ? 'pcap' : this.state === State.PCAPNG ? 'pcapng' : undefined;
  }

  /** Link type of a pcap file, or of the most recent pcapng section's interfaces (for reports). */
  get linkTypes(): number[] {
    return this.state === State.PCAP ? [this.pcapLinkType] : this.ifaces.map((i) => i.linkType);
  }

  /** Feeds the next chunk. The reader keeps no reference to `chunk` after returning. Throws CaptureError on bad input. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    if (this.have > 0) {
      pos = this.gather(chunk);
      if (this.have > 0) return;
    }
    while (len - pos >= this.headNeed) {
      const size = this.unitSize(chunk, pos);
      if (len - pos < size) break;
      this.unit(chunk, pos, size);
      pos += size;
    }
    if (pos < len) {
      this.reserve(len - pos);
      chunk.copy(this.scratch, 0, pos, len);
      this.have = len - pos;
    }
  }

  /** The input is over: throws CaptureError if it was empty or stops inside a record. */
  end(): void {
    const at = this.stats.bytes;
    if (this.state === State.START) {
      if (this.have === 0) throw new CaptureError('empty input: no capture data');
      if (this.have >= 4) checkMagic(this.scratch.readUInt32BE(0));
      throw new CaptureError(`truncated capture: file ends after ${this.have} bytes, inside the file header`, 0);
    }
    if (this.have === 0) return;
    const what = this.state === State.PCAP ? 'pcap record' : 'pcapng block';
    if (this.have < this.headNeed) {
      throw new CaptureError(`truncated capture: ${what} header cut after ${this.have} of ${this.headNeed} bytes`, at);
    }
    const size = this.unitSize(this.scratch, 0);
    throw new CaptureError(`truncated capture: ${what} of ${size} bytes cut after ${this.have}`, at);
  }

  // ------------------------------------------------------------ framing

  /** Completes the unit in scratch from the head of `chunk`; returns the bytes taken. */
  private gather(chunk: Buffer): number {
    let pos = 0;
    if (this.have < this.headNeed) {
      const n = Math.min(this.headNeed - this.have, chunk.length);
      chunk.copy(this.scratch, this.have, 0, n);
      this.have += n;
      pos = n;
      if (this.have < this.headNeed) return pos;
    }
    const size = this.unitSize(this.scratch, 0);
    this.reserve(size);
    const n = Math.min(size - this.have, chunk.length - pos);
    chunk.copy(this.scratch, this.have, pos, pos + n);
    this.have += n;
    pos += n;
    if (this.have < size) return pos;
    this.have = 0;
    this.unit(this.scratch, 0, size);
    return pos;
  }

  /** Grows scratch to hold n bytes, keeping what it has. */
  private reserve(n: number): void {
    if (n <= this.scratch.length) return;
    const b = Buffer.allocUnsafe(Math.max(n, this.scratch.length * 2));
    this.scratch.copy(b, 0, 0, this.have);
    this.scratch = b;
  }

  private u32(b: Buffer, off: number): number {
    return this.le ? b.readUInt32LE(off) : b.readUInt32BE(off);
  }

  private u16(b: Buffer, off: number): number {
    return this.le ? b.readUInt16LE(off) : b.readUInt16BE(off);
  }

  /** Size of the unit starting at b[off] (headNeed bytes are there). Validates what it reads. */
  private unitSize(b: Buffer, off: number): number {
    const at = this.stats.bytes;
    switch (this.state) {
      case State.START:
        return checkMagic(b.readUInt32BE(off)) === BT_SHB ? this.shbSize(b, off) : PCAP_HDR;
      case State.PCAP: {
        const caplen = this.u32(b, off + 8);
        if (caplen > this.maxBlock) {
          throw new CaptureError(`corrupt pcap record: captured length ${caplen} exceeds ${this.maxBlock} bytes`, at);
        }
        return PCAP_REC_HDR + caplen;
      }
      default: {
        if (b.readUInt32LE(off) === BT_SHB) return this.shbSize(b, off);
        return this.checkBlockLen(this.u32(b, off + 4), at);
      }
    }
  }

  private shbSize(b: Buffer, off: number): number {
    const at = this.stats.bytes;
    const bom = b.readUInt32LE(off + 8);
    if (bom === BOM) this.le = true;
    else if (bom === 0x4d3c2b1a) this.le = false;
    else throw new CaptureError(`corrupt pcapng section header: byte-order magic 0x${bom.toString(16)}`, at + 8);
    return this.checkBlockLen(this.u32(b, off + 4), at);
  }

  private checkBlockLen(len: number, at: number): number {
    if (len < PCAPNG_MIN || len % 4 !== 0 || len > this.maxBlock) {
      throw new CaptureError(`corrupt pcapng block: total length ${len}`, at + 4);
    }
    return len;
  }

  // ------------------------------------------------------------ units

  /** Handles one complete unit b[off, off + size); stats.bytes is its file offset on entry. */
  private unit(b: Buffer, off: number, size: number): void {
    switch (this.state) {
      case State.START:
        if (b.readUInt32BE(off) === BT_SHB) this.block(b, off, size);
        else this.pcapHeader(b, off);
        break;
      case State.PCAP:
        this.pcapRecord(b, off, size);
        break;
      default:
        this.block(b, off, size);
    }
    this.stats.bytes += size;
  }

  private pcapHeader(b: Buffer, off: number): void {
    const magic = b.readUInt32BE(off);
    this.le = magic === PCAP_US_SWAPPED || magic === PCAP_NS_SWAPPED;
    this.nsec = magic === PCAP_NS || magic === PCAP_NS_SWAPPED;
    // Bit 26 (FCS length present) and bits 28-31 (FCS length) are not part of the link type.
    this.pcapLinkType = this.u32(b, off + 20) & 0x03ffffff;
    this.state = State.PCAP;
    this.headNeed = PCAP_REC_HDR;
  }

  private pcapRecord(b: Buffer, off: number, size: number): void {
    const p = this.pkt;
    p.index = ++this.stats.packets;
    p.fileOffset = this.stats.bytes;
    p.linkType = this.pcapLinkType;
    p.interfaceId = 0;
    p.buf = b;
    p.off = off + PCAP_REC_HDR;
    p.caplen = size - PCAP_REC_HDR;
    p.origLen = this.u32(b, off + 12);
    p.tsSec = this.u32(b, off);
    const frac = this.u32(b, off + 4);
    p.tsNsec = this.nsec ? frac : frac * 1000;
    this.onPacket(p);
  }

  private block(b: Buffer, off: number, size: number): void {
    const at = this.stats.bytes;
    if (this.u32(b, off + size - 4) !== size) {
      throw new CaptureError(`corrupt pcapng block: trailing length ${this.u32(b, off + size - 4)} differs from ${size}`, at);
    }
    const type = this.state === State.START || b.readUInt32LE(off) === BT_SHB ? BT_SHB : this.u32(b, off);
    switch (type) {
      case BT_SHB: {
        if (size < 28) throw new CaptureError(`corrupt pcapng section header: length ${size}`, at);
        const major = this.u16(b, off + 12);
        if (major !== 1) throw new CaptureError(`unsupported pcapng version ${major}.${this.u16(b, off + 14)}`, at);
        this.state = State.PCAPNG;
        this.headNeed = PCAPNG_MIN;
        this.ifaces = [];
        this.stats.sections++;
        return;
      }
      case BT_IDB:
        if (size < 20) throw new CaptureError(`corrupt pcapng interface block: length ${size}`, at);
        this.ifaces.push(this.idb(b, off, size));
        return;
      case BT_EPB:
      case BT_OPB: {
        if (size < 32) throw new CaptureError(`corrupt pcapng packet block: length ${size}`, at);
        const ifId = type === BT_EPB ? this.u32(b, off + 8) : this.u16(b, off + 8);
        const caplen = this.u32(b, off + 20);
        if (28 + caplen > size - 4) {
          throw new CaptureError(`corrupt pcapng packet block: captured length ${caplen} in a block of ${size}`, at);
        }
        const ifc = this.iface(ifId, at);
        this.packet(ifc, ifId, b, off + 28, caplen, this.u32(b, off + 24), at);
        const hi = this.u32(b, off + 12);
        const lo = this.u32(b, off + 16);
        this.timestamp(ifc, hi, lo);
        this.onPacket(this.pkt);
        return;
      }
      case BT_SPB: {
        if (size < 16) throw new CaptureError(`corrupt pcapng simple packet block: length ${size}`, at);
        const ifc = this.iface(0, at);
        const orig = this.u32(b, off + 8);
        let caplen = Math.min(orig, size - 16);
        if (ifc.snaplen > 0 && caplen > ifc.snaplen) caplen = ifc.snaplen;
        this.packet(ifc, 0, b, off + 12, caplen, orig, at);
        this.pkt.tsSec = 0;
        this.pkt.tsNsec = 0;
        this.onPacket(this.pkt);
        return;
      }
      default:
        this.stats.skippedBlocks++;
    }
  }

  private iface(id: number, at: number): Iface {
    const ifc = this.ifaces[id];
    if (ifc === undefined) {
      throw new CaptureError(`corrupt pcapng packet block: interface ${id}, but the section has ${this.ifaces.length}`, at);
    }
    return ifc;
  }

  private packet(ifc: Iface, ifId: number, b: Buffer, dataOff: number, caplen: number, orig: number, at: number): void {
    const p = this.pkt;
    p.index = ++this.stats.packets;
    p.fileOffset = at;
    p.linkType = ifc.linkType;
    p.interfaceId = ifId;
    p.buf = b;
    p.off = dataOff;
    p.caplen = caplen;
    p.origLen = orig;
  }

  private idb(b: Buffer, off: number, size: number): Iface {
    const ifc: Iface = { linkType: this.u16(b, off + 8), snaplen: this.u32(b, off + 12), units: 1e6, offset: 0 };
    const end = off + size - 4;
    for (let o = off + 16; o + 4 <= end; ) {
      const code = this.u16(b, o);
      const len = this.u16(b, o + 2);
      if (code === OPT_ENDOFOPT || o + 4 + len > end) break;
      if (code === OPT_IF_TSRESOL && len >= 1) {
        const r = b[o + 4];
        ifc.units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
      } else if (code === OPT_IF_TSOFFSET && len >= 8) {
        const lo = this.u32(b, o + 4 + (this.le ? 0 : 4));
        const hi = this.le ? b.readInt32LE(o + 8) : b.readInt32BE(o + 4);
        ifc.offset = hi * 0x1_0000_0000 + lo;
      }
      o += 4 + ((len + 3) & ~3);
    }
    return ifc;
  }

  /** Splits the 64-bit count of `units` per second into seconds and nanoseconds, exactly. */
  private timestamp(ifc: Iface, hi: number, lo: number): void {
    const p = this.pkt;
    const d = ifc.units;
    if (d > 2 ** 36) {
      const t = (BigInt(hi) << 32n) | BigInt(lo);
      const big = BigInt(d);
      p.tsSec = Number(t / big) + ifc.offset;
      p.tsNsec = Number(((t % big) * 1_000_000_000n) / big);
      return;
    }
    // Long division of hi:lo by d in 16-bit digits (each partial stays below 2^53).
    const q1 = Math.floor(hi / d);
    let r = hi - q1 * d;
    let t = r * 65536 + (lo >>> 16);
    const q2 = Math.floor(t / d);
    r = t - q2 * d;
    t = r * 65536 + (lo & 0xffff);
    const q3 = Math.floor(t / d);
    r = t - q3 * d;
    p.tsSec = q1 * 0x1_0000_0000 + q2 * 65536 + q3 + ifc.offset;
    p.tsNsec = 1e9 % d === 0 ? r * (1e9 / d) : Math.floor((r * 1e9) / d);
  }
}

/** Returns the magic if it starts a pcap or pcapng file, else throws. */
function checkMagic(magic: number): number {
  switch (magic) {
    case PCAP_US:
    case PCAP_NS:
    case PCAP_US_SWAPPED:
    case PCAP_NS_SWAPPED:
    case BT_SHB:
      return magic;
    default:
      throw new CaptureError(
        `not a pcap or pcapng file: magic 0x${magic.toString(16).padStart(8, '0')} (expected a1b2c3d4, a1b23c4d or 0a0d0d0a)`,
        0,
      );
  }
}
