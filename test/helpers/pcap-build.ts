// Builders of capture files and packets for the capture-layer tests: pcap and pcapng
// in either byte order, and frames of each link type around IPv4/IPv6 + TCP.
import { LinkType } from '../../src/capture/reader.ts';

export interface Rec {
  data: Buffer;
  /** Length on the wire (default data.length). */
  origLen?: number;
  tsSec?: number;
  /** Nanoseconds within the second. */
  tsNsec?: number;
  /** pcapng: interface id (default 0). */
  iface?: number;
}

function u16(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}

function u32(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

/** A pcap file (µs or ns timestamps, in little or big endian). */
export function pcapFile(linkType: number, recs: readonly Rec[], o: { le?: boolean; ns?: boolean; snaplen?: number } = {}): Buffer {
  const le = o.le ?? true;
  const parts = [
    u32(o.ns ? 0xa1b23c4d : 0xa1b2c3d4, le),
    u16(2, le),
    u16(4, le),
    u32(0, le),
    u32(0, le),
    u32(o.snaplen ?? 262144, le),
    u32(linkType, le),
  ];
  for (const r of recs) {
    const frac = o.ns ? (r.tsNsec ?? 0) : Math.floor((r.tsNsec ?? 0) / 1000);
    parts.push(u32(r.tsSec ?? 0, le), u32(frac, le), u32(r.data.length, le), u32(r.origLen ?? r.data.length, le), r.data);
  }
  return Buffer.concat(parts);
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]);
}

/** A pcapng option list (code, value) ending with opt_endofopt. */
export function options(le: boolean, opts: readonly [number, Buffer][]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, v] of opts) parts.push(u16(code, le), u16(v.length, le), pad4(v));
  parts.push(u32(0, le));
  return Buffer.concat(parts);
}

/** A pcapng block of `type` with `body` (padded), total length before and after. */
export function block(type: number, body: Buffer, le: boolean): Buffer {
  const b = pad4(body);
  const len = 12 + b.length;
  return Buffer.concat([u32(type, le), u32(len, le), b, u32(len, le)]);
}

export function shb(le: boolean, opts: readonly [number, Buffer][] = []): Buffer {
  const body = Buffer.concat([u32(0x1a2b3c4d, le), u16(1, le), u16(0, le), Buffer.alloc(8, 0xff), options(le, opts)]);
  return block(0x0a0d0d0a, body, le);
}

/** Interface Description Block; tsresol is the raw if_tsresol byte (omitted: µs). */
export function idb(
  le: boolean,
  linkType: number,
  o: { snaplen?: number | undefined; tsresol?: number | undefined; tsoffset?: number | undefined } = {},
): Buffer {
  const opts: [number, Buffer][] = [[2, Buffer.from('lo')]];
  if (o.tsresol !== undefined) opts.push([9, Buffer.from([o.tsresol])]);
  if (o.tsoffset !== undefined) {
    const v = Buffer.alloc(8);
    if (le) v.writeBigInt64LE(BigInt(o.tsoffset));
    else v.writeBigInt64BE(BigInt(o.tsoffset));
    opts.push([14, v]);
  }
  return block(1, Buffer.concat([u16(linkType, le), u16(0, le), u32(o.snaplen ?? 0, le), options(le, opts)]), le);
}

/** Timestamp in units of 1/unitsPerSec, as the two 32-bit halves. */
function tsUnits(r: Rec, unitsPerSec: bigint): [number, number] {
  const t = BigInt(r.tsSec ?? 0) * unitsPerSec + (BigInt(r.tsNsec ?? 0) * unitsPerSec) / 1_000_000_000n;
  return [Number(t >> 32n), Number(t & 0xffffffffn)];
}

/** Enhanced Packet Block, timestamp in units of 1/unitsPerSec (default µs). */
export function epb(le: boolean, r: Rec, unitsPerSec = 1_000_000n): Buffer {
  const [hi, lo] = tsUnits(r, unitsPerSec);
  const body = Buffer.concat([
    u32(r.iface ?? 0, le),
    u32(hi, le),
    u32(lo, le),
    u32(r.data.length, le),
    u32(r.origLen ?? r.data.length, le),
    pad4(r.data),
    options(le, [[1, Buffer.from('comment')]]),
  ]);
  return block(6, body, le);
}

/** Obsolete Packet Block (type 2). */
export function opb(le: boolean, r: Rec, unitsPerSec = 1_000_000n): Buffer {
  const [hi, lo] = tsUnits(r, unitsPerSec);
  const body = Buffer.concat([
    u16(r.iface ?? 0, le),
    u16(0, le),
    u32(hi, le),
    u32(lo, le),
    u32(r.data.length, le),
    u32(r.origLen ?? r.data.length, le),
    pad4(r.data),
  ]);
  return block(2, body, le);
}

/** Simple Packet Block: original length and data (interface 0). */
export function spb(le: boolean, data: Buffer, origLen = data.length): Buffer {
  return block(3, Buffer.concat([u32(origLen, le), pad4(data)]), le);
}

/** A simple pcapng file: one section, one interface, EPBs. */
export function pcapngFile(
  linkType: number,
  recs: readonly Rec[],
  o: { le?: boolean | undefined; tsresol?: number | undefined } = {},
): Buffer {
  const le = o.le ?? true;
  const r = o.tsresol;
  const units = r === undefined ? 1_000_000n : r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
  return Buffer.concat([shb(le), idb(le, linkType, { tsresol: r }), ...recs.map((x) => epb(le, x, units))]);
}

// ------------------------------------------------------------ packets

export interface TcpSpec {
  src?: string;
  dst?: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  /** TCP flags byte (default ACK|PSH when there is payload, else ACK). */
  flags?: number;
  payload?: Buffer | undefined;
  /** TCP option bytes (padded to 4). */
  tcpOptions?: Buffer;
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => {
    b.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return b;
}

export function tcpHeader(s: TcpSpec): Buffer {
  const opt = s.tcpOptions ? pad4(s.tcpOptions) : Buffer.alloc(0);
  const h = Buffer.alloc(20 + opt.length);
  h.writeUInt16BE(s.sport, 0);
  h.writeUInt16BE(s.dport, 2);
  h.writeUInt32BE(s.seq >>> 0, 4);
  h.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  h[12] = ((20 + opt.length) / 4) << 4;
  h[13] = s.flags ?? ((s.payload?.length ?? 0) > 0 ? 0x18 : 0x10);
  h.writeUInt16BE(65535, 14);
  opt.copy(h, 20);
  return Buffer.concat([h, s.payload ?? Buffer.alloc(0)]);
}

/** IPv4 packet (protocol 6 unless given), with optional IP options and fragment field. */
export function ipv4(s: TcpSpec, o: { ipOptions?: Buffer; proto?: number; frag?: number; body?: Buffer } = {}): Buffer {
  const opt = o.ipOptions ? pad4(o.ipOptions) : Buffer.alloc(0);
  const body = o.body ?? tcpHeader(s);
  const h = Buffer.alloc(20 + opt.length);
  h[0] = 0x40 | ((20 + opt.length) / 4);
  h.writeUInt16BE(h.length + body.length, 2);
  h.writeUInt16BE(o.frag ?? 0x4000, 6); // DF
  h[8] = 64;
  h[9] = o.proto ?? 6;
  ipv4Bytes(s.src ?? '10.0.0.1').copy(h, 12);
  ipv4Bytes(s.dst ?? '10.0.0.2').copy(h, 16);
  opt.copy(h, 20);
  return Buffer.concat([h, body]);
}

/** An IPv6 extension header: [next header set by ipv6()] type and its bytes. */
export type Ext6 = { type: number; bytes: Buffer };

/** Hop-by-hop (0), routing (43), destination options (60): (len+1)*8 bytes. */
export function ext6(type: number, len8 = 0): Ext6 {
  const b = Buffer.alloc((len8 + 1) * 8);
  b[1] = len8;
  if (type === 43) b[2] = 0; // routing type 0, segments left 0
  return { type, bytes: b };
}

export function frag6(offset8: number, more: boolean): Ext6 {
  const b = Buffer.alloc(8);
  b.writeUInt16BE((offset8 << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(0x1234, 4);
  return { type: 44, bytes: b };
}

export function ah6(len4 = 4): Ext6 {
  const b = Buffer.alloc((len4 + 2) * 4);
  b[1] = len4;
  return { type: 51, bytes: b };
}

export function ipv6(s: TcpSpec, exts: readonly Ext6[] = [], o: { body?: Buffer; proto?: number } = {}): Buffer {
  const body = o.body ?? tcpHeader(s);
  const chain = exts.map((e, i) => {
    const b = Buffer.from(e.bytes);
    b[0] = i + 1 < exts.length ? exts[i + 1].type : (o.proto ?? 6);
    return b;
  });
  const payload = Buffer.concat([...chain, body]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = exts.length > 0 ? exts[0].type : (o.proto ?? 6);
  h[7] = 64;
  ipv6Bytes(s.src ?? 'fd00::1').copy(h, 8);
  ipv6Bytes(s.dst ?? 'fd00::2').copy(h, 24);
  return Buffer.concat([h, payload]);
}

export const EtherType = { IPV4: 0x0800, IPV6: 0x86dd, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, QINQ_OLD: 0x9100 } as const;

/** An Ethernet frame around `ip`, with VLAN tags (outer first) and zero padding to 60 bytes. */
export function ether(ip: Buffer, etype: number, tags: readonly number[] = []): Buffer {
  const parts: Buffer[] = [Buffer.from('020000000002020000000001', 'hex')];
  for (const tpid of tags) {
    const t = Buffer.alloc(2);
    t.writeUInt16BE(tpid);
    parts.push(t, Buffer.from([0x00, 0x05]));
  }
  const e = Buffer.alloc(2);
  e.writeUInt16BE(etype);
  parts.push(e, ip);
  const f = Buffer.concat(parts);
  return f.length < 60 ? Buffer.concat([f, Buffer.alloc(60 - f.length)]) : f;
}

/** A frame of `linkType` carrying IP packet `ip` (version from its first nibble). */
export function frame(linkType: number, ip: Buffer, o: { le?: boolean; tags?: readonly number[] } = {}): Buffer {
  const v6 = ip[0] >> 4 === 6;
  const etype = v6 ? EtherType.IPV6 : EtherType.IPV4;
  switch (linkType) {
    case LinkType.ETHERNET:
      return ether(ip, etype, o.tags);
    case LinkType.LINUX_SLL: {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0); // to us
      h.writeUInt16BE(772, 2); // ARPHRD_LOOPBACK
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etype, 14);
      return Buffer.concat([h, ip]);
    }
    case LinkType.LINUX_SLL2: {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etype, 0);
      h.writeUInt32BE(1, 4); // ifindex
      h.writeUInt16BE(772, 8);
      h[10] = 0;
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
    case LinkType.NULL: {
      const h = Buffer.alloc(4);
      const af = v6 ? 30 : 2;
      if (o.le ?? true) h.writeUInt32LE(af);
      else h.writeUInt32BE(af);
      return Buffer.concat([h, ip]);
    }
    case LinkType.LOOP: {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(v6 ? 24 : 2);
      return Buffer.concat([h, ip]);
    }
    default:
      return ip; // RAW, IPV4, IPV6
  }
}
