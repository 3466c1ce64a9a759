// Link, IP and TCP header decoding of one captured packet, into a reused TcpPacket
// (offsets into the packet's buffer, no copies, no allocation).
//
// Link layers: Ethernet (14 bytes, EtherType @12) with any number of VLAN tags
// (802.1Q 0x8100, 802.1ad 0x88a8, legacy QinQ 0x9100: 4 bytes each, next EtherType @+2);
// Linux cooked SLL (16 bytes, protocol @14) and SLL2 (20 bytes, protocol @0); BSD
// loopback NULL (4-byte address family in the writer's byte order) and LOOP (same,
// network order); raw IP (101, 228, 229).
// IPv4: version/IHL @0, total length @2, flags + fragment offset @6, protocol @9,
// addresses @12/@16; options up to IHL×4. IPv6: payload length @4, next header @6,
// addresses @8/@24; extension headers hop-by-hop (0), routing (43), destination
// options (60) are (len+1)×8 bytes, fragment (44) is 8 bytes, AH (51) (len+2)×4.
// TCP: ports @0/@2, seq @4, ack @8, data offset (×4) in the high nibble of @12, flags @13.
import { LinkType } from './reader.ts';

/** What decodeTcp found. */
export const Decoded = {
  TCP: 0,
  /** The link type is not one the decoder knows. */
  UNKNOWN_LINK: 1,
  /** Not IPv4/IPv6 (ARP, LLC, other EtherTypes or address families). */
  NOT_IP: 2,
  /** IP, but not TCP. */
  NOT_TCP: 3,
  /** An IP fragment other than the first: no TCP header in it. */
  FRAGMENT: 4,
  /** The capture was cut (snaplen) before the end of the TCP header. */
  TRUNCATED: 5,
  /** A header field that cannot be (IPv4 IHL < 5, TCP data offset < 5, a length past the packet...). */
  MALFORMED: 6,
} as const;
export type Decoded = (typeof Decoded)[keyof typeof Decoded];

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** A decoded TCP segment: fields, and offsets into `buf`. Reused from packet to packet. */
export class TcpPacket {
  buf: Buffer = Buffer.alloc(0);
  ipVersion = 4;
  /** buf[srcAddr, srcAddr + addrLen) and buf[dstAddr, ...) are the IP addresses. */
  srcAddr = 0;
  dstAddr = 0;
  addrLen = 4;
  sport = 0;
  dport = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** buf[payloadOff, payloadOff + payloadLen) is the captured TCP payload. */
  payloadOff = 0;
  payloadLen = 0;
  /** Payload bytes the segment carried on the wire but the capture cut off (snaplen). */
  missing = 0;
  /** The first fragment of a fragmented IP packet: the payload continues in fragments not decoded. */
  firstFragment = false;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;

/** Address families a NULL/LOOP header may carry for IPv6 (Linux, NetBSD/OpenBSD, FreeBSD, Darwin). */
function isAfInet6(af: number): boolean {
  return af === 10 || af === 24 || af === 28 || af === 30;
}

/**
 * Decodes buf[off, off + caplen) of link type `linkType` (origLen: its length on the wire)
 * into `out`. Returns a Decoded code; `out` is meaningful only for Decoded.TCP.
 */
export function decodeTcp(linkType: number, buf: Buffer, off: number, caplen: number, origLen: number, out: TcpPacket): Decoded {
  const end = off + caplen;
  let p = off;
  let etype: number;
  switch (linkType) {
    case LinkType.ETHERNET:
      if (caplen < 14) return Decoded.TRUNCATED;
      etype = buf.readUInt16BE(off + 12);
      p = off + 14;
      break;
    case LinkType.LINUX_SLL:
      if (caplen < 16) return Decoded.TRUNCATED;
      etype = buf.readUInt16BE(off + 14);
      p = off + 16;
      break;
    case LinkType.LINUX_SLL2:
      if (caplen < 20) return Decoded.TRUNCATED;
      etype = buf.readUInt16BE(off);
      p = off + 20;
      break;
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (caplen < 4) return Decoded.TRUNCATED;
      const be = buf.readUInt32BE(off);
      // NULL is in the writer's byte order: a value above 0xffff is one read the wrong way.
      const af = linkType === LinkType.LOOP || be <= 0xffff ? be : buf.readUInt32LE(off);
      etype = af === 2 ? ETH_IPV4 : isAfInet6(af) ? ETH_IPV6 : 0;
      p = off + 4;
      break;
    }
    case LinkType.RAW:
      if (caplen < 1) return Decoded.TRUNCATED;
      etype = buf[off] >> 4 === 4 ? ETH_IPV4 : buf[off] >> 4 === 6 ? ETH_IPV6 : 0;
      break;
    case LinkType.IPV4:
      etype = ETH_IPV4;
      break;
    case LinkType.IPV6:
      etype = ETH_IPV6;
      break;
    default:
      return Decoded.UNKNOWN_LINK;
  }
  while (etype === ETH_VLAN || etype === ETH_QINQ || etype === ETH_QINQ_OLD) {
    if (p + 4 > end) return Decoded.TRUNCATED;
    etype = buf.readUInt16BE(p + 2);
    p += 4;
  }
  // Bytes of the packet on the wire from p on (the IP packet, plus any link padding).
  const wireLeft = origLen - (p - off);
  out.buf = buf;
  out.firstFragment = false;
  const ipStart = p;
  let proto: number;
  let ipEnd: number; // end of the IP packet as its header declares it (may be past `end`)
  if (etype === ETH_IPV4) {
    if (p + 20 > end) return Decoded.TRUNCATED;
    const vihl = buf[p];
    const ihl = (vihl & 0x0f) * 4;
    if (vihl >> 4 !== 4 || ihl < 20) return Decoded.MALFORMED;
    if (p + ihl > end) return Decoded.TRUNCATED;
    const total = buf.readUInt16BE(p + 2);
    const frag = buf.readUInt16BE(p + 6);
    if ((frag & 0x1fff) !== 0) return Decoded.FRAGMENT;
    out.firstFragment = (frag & 0x2000) !== 0;
    proto = buf[p + 9];
    out.ipVersion = 4;
    out.srcAddr = p + 12;
    out.dstAddr = p + 16;
    out.addrLen = 4;
    // Total length 0: a segmentation-offload packet captured before it was cut; trust the frame.
    if (total !== 0 && total < ihl) return Decoded.MALFORMED;
    ipEnd = p + (total === 0 ? wireLeft : total);
    p += ihl;
  } else if (etype === ETH_IPV6) {
    if (p + 40 > end) return Decoded.TRUNCATED;
    if (buf[p] >> 4 !== 6) return Decoded.MALFORMED;
    const plen = buf.readUInt16BE(p + 4);
    out.ipVersion = 6;
    out.srcAddr = p + 8;
    out.dstAddr = p + 24;
    out.addrLen = 16;
    ipEnd = p + 40 + (plen === 0 ? wireLeft - 40 : plen); // 0: a jumbogram (or offload), see above
    proto = buf[p + 6];
    p += 40;
    for (;;) {
      if (proto === IPPROTO_HOPOPTS || proto === IPPROTO_ROUTING || proto === IPPROTO_DSTOPTS) {
        if (p + 8 > end) return Decoded.TRUNCATED;
        proto = buf[p];
        p += (buf[p + 1] + 1) * 8;
      } else if (proto === IPPROTO_FRAGMENT) {
        if (p + 8 > end) return Decoded.TRUNCATED;
        const fo = buf.readUInt16BE(p + 2);
        if ((fo & 0xfff8) !== 0) return Decoded.FRAGMENT;
        if ((fo & 1) !== 0) out.firstFragment = true;
        proto = buf[p];
        p += 8;
      } else if (proto === IPPROTO_AH) {
        if (p + 8 > end) return Decoded.TRUNCATED;
        proto = buf[p];
        p += (buf[p + 1] + 2) * 4;
      } else {
        break;
      }
    }
  } else {
    return Decoded.NOT_IP;
  }
  if (proto !== IPPROTO_TCP) return Decoded.NOT_TCP;
  // A length field claiming more than the frame had on the wire is not believed.
  if (ipEnd > ipStart + wireLeft) ipEnd = ipStart + wireLeft;
  if (p + 20 > end) return Decoded.TRUNCATED;
  const doff = (buf[p + 12] >> 4) * 4;
  if (doff < 20) return Decoded.MALFORMED;
  if (p + doff > end) return Decoded.TRUNCATED;
  if (ipEnd < p + doff) return Decoded.MALFORMED;
  out.sport = buf.readUInt16BE(p);
  out.dport = buf.readUInt16BE(p + 2);
  out.seq = buf.readUInt32BE(p + 4);
  out.ack = buf.readUInt32BE(p + 8);
  out.flags = buf[p + 13];
  const payload = p + doff;
  const captured = Math.min(end, ipEnd) - payload;
  out.payloadOff = payload;
  out.payloadLen = captured;
  out.missing = ipEnd - payload - captured;
  return Decoded.TCP;
}
