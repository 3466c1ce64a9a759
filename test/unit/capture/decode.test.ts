// Link, IP and TCP decoding: every link type, VLAN stacks, IPv4 options and fragments,
// IPv6 extension headers, TCP options, and snaplen cuts inside headers or payload.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoded, decodeTcp, TcpPacket } from '../../../src/capture/decode.ts';
import { LinkType } from '../../../src/capture/reader.ts';
import { ah6, EtherType, ether, ext6, frag6, frame, ipv4, ipv6, type TcpSpec } from '../../helpers/pcap-build.ts';

const PAYLOAD = Buffer.from('nvme/tcp payload bytes');
const SEG: TcpSpec = { sport: 40000, dport: 4420, seq: 0xfffffff0, ack: 77, payload: PAYLOAD };

function decode(linkType: number, f: Buffer, caplen = f.length, origLen = f.length): { code: Decoded; t: TcpPacket } {
  const t = new TcpPacket();
  return { code: decodeTcp(linkType, f, 0, caplen, origLen, t), t };
}

function payloadOf(t: TcpPacket): string {
  return t.buf.toString('latin1', t.payloadOff, t.payloadOff + t.payloadLen);
}

function addr(t: TcpPacket, which: 'src' | 'dst'): string {
  const o = which === 'src' ? t.srcAddr : t.dstAddr;
  return t.buf.toString('hex', o, o + t.addrLen);
}

const LINKS: [string, number, { le?: boolean }][] = [
  ['Ethernet', LinkType.ETHERNET, {}],
  ['Linux SLL', LinkType.LINUX_SLL, {}],
  ['Linux SLL2', LinkType.LINUX_SLL2, {}],
  ['NULL (little-endian writer)', LinkType.NULL, { le: true }],
  ['NULL (big-endian writer)', LinkType.NULL, { le: false }],
  ['LOOP', LinkType.LOOP, {}],
  ['raw IP', LinkType.RAW, {}],
];

for (const [name, lt, o] of LINKS) {
  for (const v of [4, 6]) {
    test(`decode - ${name}, IPv${v}`, () => {
      const ip = v === 4 ? ipv4(SEG) : ipv6(SEG);
      const { code, t } = decode(lt, frame(lt, ip, o));
      assert.equal(code, Decoded.TCP);
      assert.equal(t.ipVersion, v);
      assert.equal(t.addrLen, v === 4 ? 4 : 16);
      assert.equal(addr(t, 'src'), v === 4 ? '0a000001' : 'fd000000000000000000000000000001');
      assert.equal(t.sport, 40000);
      assert.equal(t.dport, 4420);
      assert.equal(t.seq, 0xfffffff0);
      assert.equal(t.ack, 77);
      assert.equal(t.flags, 0x18);
      assert.equal(payloadOf(t), PAYLOAD.toString('latin1'));
      assert.equal(t.missing, 0);
    });
  }
}

test('decode - IPV4 (228) and IPV6 (229) link types', () => {
  assert.equal(decode(LinkType.IPV4, ipv4(SEG)).code, Decoded.TCP);
  assert.equal(decode(LinkType.IPV6, ipv6(SEG)).code, Decoded.TCP);
});

test('decode - VLAN tags: 802.1Q, 802.1ad QinQ, legacy 0x9100, stacked', () => {
  for (const tags of [
    [EtherType.VLAN],
    [EtherType.QINQ, EtherType.VLAN],
    [EtherType.QINQ_OLD, EtherType.VLAN],
    [EtherType.QINQ, EtherType.QINQ, EtherType.VLAN],
  ]) {
    for (const ip of [ipv4(SEG), ipv6(SEG)]) {
      const { code, t } = decode(LinkType.ETHERNET, frame(LinkType.ETHERNET, ip, { tags }));
      assert.equal(code, Decoded.TCP, `tags ${tags.map((x) => x.toString(16))}`);
      assert.equal(payloadOf(t), PAYLOAD.toString('latin1'));
    }
  }
});

test('decode - Ethernet padding after a short IP packet is not payload', () => {
  const f = frame(LinkType.ETHERNET, ipv4({ ...SEG, payload: Buffer.from('ab') }));
  assert.equal(f.length, 60);
  const { t } = decode(LinkType.ETHERNET, f);
  assert.equal(payloadOf(t), 'ab');
});

test('decode - IPv4 options and TCP options are skipped by IHL and data offset', () => {
  const ip = ipv4(
    { ...SEG, tcpOptions: Buffer.from('020405b40101080a0000000100000002', 'hex') },
    { ipOptions: Buffer.from('94040000', 'hex') },
  );
  const { code, t } = decode(LinkType.RAW, ip);
  assert.equal(code, Decoded.TCP);
  assert.equal(t.payloadOff, 24 + 36);
  assert.equal(payloadOf(t), PAYLOAD.toString('latin1'));
});

test('decode - IPv6 extension headers: hop-by-hop, routing, destination options, fragment, AH', () => {
  const chains = [
    [ext6(0)],
    [ext6(0, 1), ext6(43, 2), ext6(60)],
    [frag6(0, true)],
    [ext6(0), ah6(), ext6(60, 3)],
    [ext6(60), frag6(0, false)],
  ];
  for (const exts of chains) {
    const { code, t } = decode(LinkType.RAW, ipv6(SEG, exts));
    assert.equal(code, Decoded.TCP, exts.map((e) => e.type).join(','));
    assert.equal(payloadOf(t), PAYLOAD.toString('latin1'));
  }
  assert.equal(decode(LinkType.RAW, ipv6(SEG, [frag6(0, true)])).t.firstFragment, true);
});

test('decode - fragments: a first fragment decodes, later ones are skipped', () => {
  const first = decode(LinkType.RAW, ipv4(SEG, { frag: 0x2000 }));
  assert.equal(first.code, Decoded.TCP);
  assert.equal(first.t.firstFragment, true);
  assert.equal(decode(LinkType.RAW, ipv4(SEG, { frag: 0x2000 | 185 })).code, Decoded.FRAGMENT);
  assert.equal(decode(LinkType.RAW, ipv4(SEG, { frag: 185 })).code, Decoded.FRAGMENT);
  assert.equal(decode(LinkType.RAW, ipv6(SEG, [frag6(185, false)])).code, Decoded.FRAGMENT);
  assert.equal(decode(LinkType.RAW, ipv6(SEG, [ext6(0), frag6(1, true)])).code, Decoded.FRAGMENT);
});

test('decode - not TCP, not IP, unknown link type, malformed', () => {
  assert.equal(decode(LinkType.RAW, ipv4(SEG, { proto: 17 })).code, Decoded.NOT_TCP);
  assert.equal(decode(LinkType.RAW, ipv6(SEG, [ext6(0)], { proto: 58 })).code, Decoded.NOT_TCP);
  assert.equal(decode(LinkType.ETHERNET, ether(Buffer.alloc(28), EtherType.ARP)).code, Decoded.NOT_IP);
  assert.equal(decode(LinkType.ETHERNET, ether(Buffer.alloc(28), 0x0040)).code, Decoded.NOT_IP, '802.3 length field');
  const nullOther = Buffer.concat([Buffer.from([7, 0, 0, 0]), ipv4(SEG)]);
  assert.equal(decode(LinkType.NULL, nullOther).code, Decoded.NOT_IP);
  assert.equal(decode(147, ipv4(SEG)).code, Decoded.UNKNOWN_LINK);
  const badIhl = ipv4(SEG);
  badIhl[0] = 0x44;
  assert.equal(decode(LinkType.RAW, badIhl).code, Decoded.MALFORMED);
  const v6in4 = ipv4(SEG);
  v6in4[0] = 0x65;
  assert.equal(decode(LinkType.IPV4, v6in4).code, Decoded.MALFORMED);
  const badDoff = ipv4(SEG);
  badDoff[20 + 12] = 0x40;
  assert.equal(decode(LinkType.RAW, badDoff).code, Decoded.MALFORMED);
});

test('decode - snaplen: a cut inside the headers is TRUNCATED, a cut inside the payload counts the missing bytes', () => {
  const lt = LinkType.ETHERNET;
  for (const tags of [[], [EtherType.VLAN]]) {
    for (const ip of [ipv4(SEG), ipv6(SEG, [ext6(0)])]) {
      const f = frame(lt, ip, { tags });
      const hdrs = f.length - PAYLOAD.length;
      for (let cap = 0; cap < hdrs; cap++) {
        assert.equal(decode(lt, f, cap, f.length).code, Decoded.TRUNCATED, `caplen ${cap}`);
      }
      for (let cap = hdrs; cap <= f.length; cap++) {
        const { code, t } = decode(lt, f, cap, f.length);
        assert.equal(code, Decoded.TCP);
        assert.equal(t.payloadLen, cap - hdrs);
        assert.equal(t.missing, f.length - cap, `caplen ${cap}`);
      }
    }
  }
});

test('decode - a length field larger than the frame on the wire is not believed', () => {
  const ip = ipv4(SEG);
  ip.writeUInt16BE(9000, 2);
  const { code, t } = decode(LinkType.RAW, ip);
  assert.equal(code, Decoded.TCP);
  assert.equal(payloadOf(t), PAYLOAD.toString('latin1'));
  assert.equal(t.missing, 0);
  // IPv4 total length 0 (segmentation offload): the frame's length counts.
  const tso = ipv4(SEG);
  tso.writeUInt16BE(0, 2);
  assert.equal(payloadOf(decode(LinkType.RAW, tso).t), PAYLOAD.toString('latin1'));
});
