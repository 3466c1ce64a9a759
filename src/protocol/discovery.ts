// Discovery log page (Get Log Page LID 0x70): a 1024-byte header and one 1024-byte
// entry per subsystem port. Layout: NVMe over Fabrics Specification 1.1, Discovery Log
// Page (Linux include/linux/nvme.h nvmf_disc_rsp_page_hdr / nvmf_disc_rsp_page_entry;
// SPDK include/spdk/nvmf_spec.h).
import { checkLen, checkUint, getString, putString, readU64, writeU64 } from './fields.ts';

// ---------------------------------------------------------------------------
// Header, 1024 bytes:
//   @0 GENCTR u64 | @8 NUMREC u64 | @16 RECFMT u16 (0) | @18 DLPF u8 | @20 TDLPL u32 | rest reserved
// Hosts read the first 20 bytes alone (libnvme), then entries at LPO 1024 + 1024*i.
// ---------------------------------------------------------------------------

export const DISC_HDR_LEN = 1024;
export const DISC_ENTRY_LEN = 1024;
/** Bytes of the header a host needs: GENCTR, NUMREC, RECFMT. */
export const DISC_HDR_MIN = 20;

export const DiscHdrOff = { GENCTR: 0, NUMREC: 8, RECFMT: 16 } as const;

// ---------------------------------------------------------------------------
// Entry, 1024 bytes:
//   @0 TRTYPE (3 TCP) | @1 ADRFAM (1 IPv4, 2 IPv6) | @2 SUBTYPE (1 referral, 2 NVM, 3 current
//   discovery) | @3 TREQ (1:0 secure channel, bit2 SQ flow control disable allowed)
//   @4 PORTID u16 | @6 CNTLID u16 (0xFFFF dynamic) | @8 ASQSZ u16 | @10 EFLAGS u16
//   @32 TRSVCID[32] ASCII, space-padded (as SPDK) | @256 SUBNQN[256] NUL-padded
//   @512 TRADDR[256] ASCII, space-padded | @768 TSAS[256]: TCP SECTYPE @768 (0 none, 1 TLS1.2, 2 TLS1.3)
// ---------------------------------------------------------------------------

export const DiscEntryOff = {
  TRTYPE: 0,
  ADRFAM: 1,
  SUBTYPE: 2,
  TREQ: 3,
  PORTID: 4,
  CNTLID: 6,
  ASQSZ: 8,
  EFLAGS: 10,
  TRSVCID: 32,
  SUBNQN: 256,
  TRADDR: 512,
  SECTYPE: 768,
} as const;

export const TrType = { RDMA: 1, FC: 2, TCP: 3, LOOP: 254 } as const;
export const AdrFam = { IPv4: 1, IPv6: 2, IB: 3, FC: 4, LOOP: 254 } as const;
export const SubType = { Referral: 1, Nvme: 2, CurrentDiscovery: 3 } as const;
/** TREQ bit 2: the host may disable SQ flow control (libnvme then adds disable_sqflow). */
export const TREQ_DISABLE_SQFLOW = 0x04;
/** TREQ bits 1:0, secure channel (Linux NVMF_TREQ_*): what the port asks of a host. */
export const Treq = { NotSpecified: 0, Required: 1, NotRequired: 2, Mask: 3 } as const;
/** TSAS SECTYPE for TCP (Linux NVMF_TCP_SECTYPE_*). */
export const SecType = { None: 0, Tls12: 1, Tls13: 2 } as const;

export interface DiscoveryEntry {
  trtype: number;
  adrfam: number;
  subtype: number;
  treq: number;
  portid: number;
  cntlid: number;
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  sectype: number;
}

export interface DiscoveryLogHeader {
  genctr: number;
  numrec: number;
  recfmt: number;
}

export interface DiscoveryLog extends DiscoveryLogHeader {
  entries: DiscoveryEntry[];
}

/** Writes one entry into `buf` at `off` (1024 bytes, fully overwritten). */
export function encodeDiscoveryEntry(e: DiscoveryEntry, buf: Buffer, off: number): void {
  checkLen('discovery entry', buf, DISC_ENTRY_LEN, off);
  const O = DiscEntryOff;
  buf.fill(0, off, off + DISC_ENTRY_LEN);
  buf[off + O.TRTYPE] = checkUint('discovery trtype', e.trtype, 8);
  buf[off + O.ADRFAM] = checkUint('discovery adrfam', e.adrfam, 8);
  buf[off + O.SUBTYPE] = checkUint('discovery subtype', e.subtype, 8);
  buf[off + O.TREQ] = checkUint('discovery treq', e.treq, 8);
  buf.writeUInt16LE(checkUint('discovery portid', e.portid, 16), off + O.PORTID);
  buf.writeUInt16LE(checkUint('discovery cntlid', e.cntlid, 16), off + O.CNTLID);
  buf.writeUInt16LE(checkUint('discovery asqsz', e.asqsz, 16), off + O.ASQSZ);
  buf.writeUInt16LE(checkUint('discovery eflags', e.eflags, 16), off + O.EFLAGS);
  putString(buf, off + O.TRSVCID, 32, e.trsvcid, 'space', 'discovery trsvcid');
  putString(buf, off + O.SUBNQN, 256, e.subnqn, 'nul', 'discovery subnqn');
  putString(buf, off + O.TRADDR, 256, e.traddr, 'space', 'discovery traddr');
  buf[off + O.SECTYPE] = checkUint('discovery sectype', e.sectype, 8);
}

export function parseDiscoveryEntry(buf: Buffer, off = 0): DiscoveryEntry {
  checkLen('discovery entry', buf, DISC_ENTRY_LEN, off);
  const O = DiscEntryOff;
  return {
    trtype: buf[off + O.TRTYPE]!,
    adrfam: buf[off + O.ADRFAM]!,
    subtype: buf[off + O.SUBTYPE]!,
    treq: buf[off + O.TREQ]!,
    portid: buf.readUInt16LE(off + O.PORTID),
    cntlid: buf.readUInt16LE(off + O.CNTLID),
    asqsz: buf.readUInt16LE(off + O.ASQSZ),
    eflags: buf.readUInt16LE(off + O.EFLAGS),
    trsvcid: getString(buf, off + O.TRSVCID, 32, 'latin1'),
    subnqn: getString(buf, off + O.SUBNQN, 256),
    traddr: getString(buf, off + O.TRADDR, 256, 'latin1'),
    sectype: buf[off + O.SECTYPE]!,
  };
}

/**
 * The whole log: 1024-byte header (RECFMT 0, NUMREC = entries.length) then the entries.
 * A target serves any (LPO, length) window of this buffer.
 */
export function encodeDiscoveryLog(genctr: number, entries: readonly DiscoveryEntry[]): Buffer {
  const b = Buffer.alloc(DISC_HDR_LEN + DISC_ENTRY_LEN * entries.length);
  writeU64(b, genctr, DiscHdrOff.GENCTR, 'discovery genctr');
  writeU64(b, entries.length, DiscHdrOff.NUMREC, 'discovery numrec');
  for (let i = 0; i < entries.length; i++) encodeDiscoveryEntry(entries[i]!, b, DISC_HDR_LEN + DISC_ENTRY_LEN * i);
  return b;
}

/** GENCTR, NUMREC, RECFMT from the first 20 bytes. */
export function parseDiscoveryLogHeader(buf: Buffer): DiscoveryLogHeader {
  checkLen('discovery log header', buf, DISC_HDR_MIN);
  return {
    genctr: readU64(buf, DiscHdrOff.GENCTR, 'discovery genctr'),
    numrec: readU64(buf, DiscHdrOff.NUMREC, 'discovery numrec'),
    recfmt: buf.readUInt16LE(DiscHdrOff.RECFMT),
  };
}

/**
 * Decodes the header (≥ 20 bytes needed) and every complete entry present, up to NUMREC.
 * A partial read (the 20-byte header alone, or a log cut short) gives fewer entries than
 * `numrec`: callers that need them all compare `entries.length` with `numrec`.
 */
export function parseDiscoveryLog(buf: Buffer): DiscoveryLog {
  const hdr = parseDiscoveryLogHeader(buf);
  const present = Math.max(0, Math.floor((buf.length - DISC_HDR_LEN) / DISC_ENTRY_LEN));
  const n = Math.min(hdr.numrec, present);
  const entries: DiscoveryEntry[] = [];
  for (let i = 0; i < n; i++) entries.push(parseDiscoveryEntry(buf, DISC_HDR_LEN + DISC_ENTRY_LEN * i));
  return { ...hdr, entries };
}
