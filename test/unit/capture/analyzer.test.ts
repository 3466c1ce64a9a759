// The analyzer over synthetic captures: NVMe/TCP flows found by ICReq on any port or by
// the well-known port, commands decoded, PDUs counted per direction, controller-to-host
// segments handed out in capture order (retransmissions and reordering included), on
// every link type, in pcap and pcapng, in both byte orders and fed in any chunking.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CaptureAnalyzer, Dir, FlowKind, formatAddr, type TcpFlow } from '../../../src/capture/analyzer.ts';
import { CaptureError } from '../../../src/capture/errors.ts';
import { CaptureReader, LinkType } from '../../../src/capture/reader.ts';
import { analyzeCapture } from '../../../src/capture/source.ts';
import { IoOpc, PduType } from '../../../src/protocol/constants.ts';
import { frame, ipv4, ipv6, pcapFile, pcapngFile, type Rec } from '../../helpers/pcap-build.ts';
import { type Digests, SESSION_READS, type SessionPacket, sessionPackets, sessionTurns } from '../../helpers/nvme-session.ts';

interface Run {
  flows: TcpFlow[];
  tcpFlows: number;
  /** Event log in call order. */
  log: string[];
  commands: { opc: number; cid: number; sglLen: number; isRead: boolean; qid: number }[];
  decode: CaptureAnalyzer['decode'];
}

/** Reads a capture file fed in chunks of `chunk` bytes, logging every event. */
function analyze(file: Buffer, chunk = file.length, ports?: number[]): Run {
  const log: string[] = [];
  const commands: Run['commands'] = [];
  const a = new CaptureAnalyzer(
    {
      flow: (f) => log.push(`flow ${f.id} ${f.detectedBy}`),
      segment: (f, s) =>
        log.push(
          `seg ${f.id} ${s.dir === Dir.H2C ? 'h2c' : 'c2h'} ${s.seq} ${s.end - s.start}${s.missing ? ` -${s.missing}` : ''} #${s.index}`,
        ),
      command: (f, c) => {
        log.push(`cmd ${f.id} ${c.cid}`);
        commands.push({ opc: c.opc, cid: c.cid, sglLen: c.sglLen, isRead: c.isRead, qid: c.qid });
      },
      gap: (f, dir, seq, n) => log.push(`gap ${f.id} ${dir} ${seq} ${n}`),
      close: (f) => log.push(`close ${f.id}`),
    },
    { ports },
  );
  const r = new CaptureReader((p) => a.packet(p));
  for (let off = 0; off < file.length; off += chunk) r.push(file.subarray(off, off + chunk));
  r.end();
  const s = a.finish();
  return { flows: s.nvmeFlows, tcpFlows: s.tcpFlows, log, commands, decode: s.decode };
}

function recs(pkts: readonly SessionPacket[], linkType: number, v6 = false): Rec[] {
  return pkts.map((p, i) => ({
    data: frame(linkType, v6 ? ipv6({ ...p, src: p.h2c ? 'fd00::1' : 'fd00::2', dst: p.h2c ? 'fd00::2' : 'fd00::1' }) : ipv4(p)),
    tsSec: 1_700_000_000 + i,
    tsNsec: i * 1000,
  }));
}

function typesOf(counts: Float64Array): number[] {
  const out: number[] = [];
  counts.forEach((n, t) => {
    for (let i = 0; i < n; i++) out.push(t);
  });
  return out;
}

function sorted(a: readonly number[]): number[] {
  return [...a].sort((x, y) => x - y);
}

const DIGESTS: Digests[] = [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: true },
];

for (const d of DIGESTS) {
  test(`analyzer - a session on port 4420, hdgst=${d.hdgst} ddgst=${d.ddgst}: flow, commands, PDU counts, segments`, () => {
    const { turns, h2cTypes, c2hTypes } = sessionTurns(d);
    const pkts = sessionPackets(turns, { ctrlIsn: 0xffff_f000 }); // the controller's stream wraps
    const run = analyze(pcapFile(LinkType.ETHERNET, recs(pkts, LinkType.ETHERNET)));
    assert.equal(run.tcpFlows, 1);
    assert.equal(run.flows.length, 1);
    const f = run.flows[0];
    assert.equal(f.kind, FlowKind.NVME);
    assert.equal(f.detectedBy, 'port');
    assert.equal(f.describe(), 'host 10.1.0.1:45000 -> controller 10.1.0.2:4420');
    assert.equal(f.dgst, (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0));
    assert.equal(f.icresp?.maxh2cdata, 0x10000);
    assert.equal(f.qid, 1);
    assert.equal(f.closed, true);
    assert.deepEqual(typesOf(f.h2c!.pduCounts), sorted(h2cTypes));
    assert.deepEqual(typesOf(f.c2h!.pduCounts), sorted(c2hTypes));
    assert.deepEqual(
      run.commands.filter((c) => c.isRead).map((c) => [c.cid, c.sglLen]),
      SESSION_READS.map((r) => [r.cid, r.len]),
    );
    assert.deepEqual(
      run.commands.map((c) => c.opc),
      [0x7f, IoOpc.Read, IoOpc.Read, IoOpc.Read, IoOpc.Write],
    );
    // Every data segment of both directions, in capture order.
    const data = pkts.map((p, i) => ({ p, i })).filter(({ p }) => (p.payload?.length ?? 0) > 0);
    assert.deepEqual(
      run.log.filter((l) => l.startsWith('seg')),
      data.map(({ p, i }) => `seg 1 ${p.h2c ? 'h2c' : 'c2h'} ${p.seq} ${p.payload!.length} #${i + 1}`),
    );
    assert.equal(f.c2h!.reasm.startSeq, 0xffff_f001);
    assert.equal(f.c2h!.reasm.stats.gaps, 0);
    assert.equal(run.log.at(-1), 'close 1');
  });
}

test('analyzer - every link type, IPv4 and IPv6, pcap and pcapng in both byte orders, read in any chunking: the same result', () => {
  const { turns } = sessionTurns({ hdgst: true, ddgst: false });
  const pkts = sessionPackets(turns, { ctrlPort: 34567, mss: 700 });
  let ref: string[] | undefined;
  for (const lt of [LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.RAW]) {
    for (const v6 of [false, true]) {
      const rs = recs(pkts, lt, v6);
      for (const file of [
        pcapFile(lt, rs),
        pcapFile(lt, rs, { le: false, ns: true }),
        pcapngFile(lt, rs),
        pcapngFile(lt, rs, { le: false, tsresol: 9 }),
      ]) {
        const run = analyze(file, 997);
        assert.equal(run.flows.length, 1, `link ${lt} v6 ${v6}`);
        assert.equal(run.flows[0].detectedBy, 'icreq', 'found by its ICReq on a port nobody named');
        const log = [...run.log, ...run.commands.map((c) => JSON.stringify(c))];
        ref ??= log;
        assert.deepEqual(log, ref, `link ${lt} v6 ${v6}`);
      }
    }
  }
  const one = recs(pkts, LinkType.LINUX_SLL, true);
  const run = analyze(pcapngFile(LinkType.LINUX_SLL, one), 1);
  assert.deepEqual(run.log, ref!.slice(0, run.log.length));
  assert.equal(formatAddr(run.flows[0].addr[0]), 'fd00::1');
});

test('analyzer - controller-to-host retransmissions and reordering reach the segment handler as captured; the streams are still whole', () => {
  const { turns, c2hTypes } = sessionTurns({ hdgst: false, ddgst: true });
  const pkts = sessionPackets(turns, { ctrlIsn: 0xffff_fc00, mss: 512 });
  const c2hData = pkts.map((p, i) => ({ p, i })).filter(({ p }) => !p.h2c && (p.payload?.length ?? 0) > 0);
  // Swap two data segments of the controller, and retransmit one (a copy right after the next).
  const [a, b] = [c2hData[10].i, c2hData[11].i];
  const order = pkts.map((_, i) => i);
  [order[a], order[b]] = [order[b], order[a]];
  order.splice(c2hData[20].i + 2, 0, c2hData[20].i);
  const wire = order.map((i) => pkts[i]);
  const run = analyze(pcapngFile(LinkType.ETHERNET, recs(wire, LinkType.ETHERNET)));
  const f = run.flows[0];
  const c2hSegs = run.log.filter((l) => l.startsWith('seg 1 c2h'));
  assert.deepEqual(
    c2hSegs.map((l) => Number(l.split(' ')[3])),
    wire.filter((p) => !p.h2c && (p.payload?.length ?? 0) > 0).map((p) => p.seq),
  );
  assert.equal(c2hSegs.length, c2hData.length + 1, 'the retransmission too');
  const st = f.c2h!.reasm.stats;
  assert.equal(st.outOfOrder, 1);
  assert.equal(st.dupSegments, 1);
  assert.equal(st.gaps, 0);
  assert.deepEqual(typesOf(f.c2h!.pduCounts), sorted(c2hTypes));
  assert.equal(f.c2h!.scan.desyncs, 0);
});

test('analyzer - lost controller-to-host segments: gaps reported, the PDU count resumes after them', () => {
  const { turns, c2hTypes } = sessionTurns({ hdgst: false, ddgst: false });
  const pkts = sessionPackets(turns, { mss: 512 });
  const c2hData = pkts.map((p, i) => ({ p, i })).filter(({ p }) => !p.h2c && (p.payload?.length ?? 0) > 0);
  // Drop a segment inside the 20000-byte read's data: a gap inside a PDU keeps sync.
  const lost = c2hData[12];
  const wire = pkts.filter((_, i) => i !== lost.i);
  const run = analyze(pcapFile(LinkType.ETHERNET, recs(wire, LinkType.ETHERNET)));
  const f = run.flows[0];
  assert.ok(run.log.includes(`gap 1 ${Dir.C2H} ${lost.p.seq} ${lost.p.payload!.length}`), run.log.join('\n'));
  assert.equal(f.c2h!.reasm.stats.gapBytes, lost.p.payload!.length);
  assert.deepEqual(typesOf(f.c2h!.pduCounts), sorted(c2hTypes));
  assert.equal(f.c2h!.scan.gapInBody, lost.p.payload!.length);
});

test('analyzer - a capture that starts mid-connection: on the named port it is searched, elsewhere it is not NVMe/TCP', () => {
  const { turns } = sessionTurns({ hdgst: true, ddgst: true });
  const pkts = sessionPackets(turns, { ctrlPort: 5555, mss: 300 });
  // From the middle of the Connect on.
  const mid = pkts.slice(6);
  const file = pcapFile(LinkType.RAW, recs(mid, LinkType.RAW));
  assert.equal(analyze(file).flows.length, 0);
  const run = analyze(file, file.length, [5555]);
  assert.equal(run.flows.length, 1);
  const f = run.flows[0];
  assert.equal(f.detectedBy, 'port');
  assert.equal(f.qid, -1, 'the Connect was missed');
  assert.deepEqual(
    run.commands.map((c) => [c.cid, c.isRead]),
    [...SESSION_READS.map((r) => [r.cid, true]), [0x20, false]],
    'reads on a queue whose Connect was not seen count as I/O reads',
  );
  assert.equal(f.c2h!.pduCounts[PduType.C2HData], 5);
});

test('analyzer - a capture of the controller side only: found by its ICResp', () => {
  const { turns, c2hTypes } = sessionTurns({ hdgst: false, ddgst: false });
  const pkts = sessionPackets(turns, { ctrlPort: 6000 }).filter((p) => !p.h2c);
  const run = analyze(pcapFile(LinkType.RAW, recs(pkts, LinkType.RAW)));
  const f = run.flows[0];
  assert.equal(f.detectedBy, 'icresp');
  assert.equal(f.describe(), 'host 10.1.0.1:45000 -> controller 10.1.0.2:6000');
  assert.deepEqual(typesOf(f.c2h!.pduCounts), sorted(c2hTypes));
});

test('analyzer - other TCP traffic is told apart; a reused 4-tuple is a new connection', () => {
  const { turns } = sessionTurns({ hdgst: false, ddgst: false });
  const http = sessionPackets([{ h2c: [Buffer.from('GET / HTTP/1.1\r\n\r\n')], c2h: [Buffer.from('HTTP/1.1 200 OK\r\n\r\n')] }], {
    ctrlPort: 80,
    hostPort: 50000,
  });
  const first = sessionPackets(turns, { ctrlPort: 7000, hostIsn: 5 });
  const again = sessionPackets(turns, { ctrlPort: 7000, hostIsn: 900_000, ctrlIsn: 77 });
  const run = analyze(pcapFile(LinkType.RAW, recs([...http, ...first, ...again], LinkType.RAW)));
  assert.equal(run.tcpFlows, 3);
  assert.deepEqual(
    run.flows.map((f) => [f.id, f.detectedBy, f.closed]),
    [
      [2, 'icreq', true],
      [3, 'icreq', true],
    ],
  );
  assert.equal(run.commands.length, 10);
});

test('analyzer - a snaplen-cut capture: the segments say how much each lost, the PDU headers that fit are found', () => {
  const { turns } = sessionTurns({ hdgst: false, ddgst: false });
  const pkts = sessionPackets(turns, { ctrlPort: 4420, mss: 1400, perPdu: true });
  const full = recs(pkts, LinkType.ETHERNET);
  const snap = 54 + 100; // Ethernet + IPv4 + TCP headers, then 100 payload bytes
  const cut = full.map((r) => ({ ...r, data: r.data.subarray(0, snap), origLen: r.data.length }));
  const run = analyze(pcapFile(LinkType.ETHERNET, cut, { snaplen: snap }));
  const f = run.flows[0];
  const missing = pkts.reduce((n, p) => n + Math.max(0, (p.payload?.length ?? 0) - 100), 0);
  assert.equal(run.decode.missingPayload, missing);
  assert.equal(f.h2c!.missing + f.c2h!.missing, missing);
  // Every PDU starts a segment here, so every header is within the first 100 bytes but the ICs' 128.
  assert.equal(f.c2h!.pduCounts[PduType.CapsuleResp], 5);
  assert.equal(f.c2h!.pduCounts[PduType.C2HData], 5);
  assert.equal(f.h2c!.scan.cutHeaders + f.c2h!.scan.cutHeaders, 2);
  assert.equal(f.detectedBy, 'port');
  assert.equal(f.dgst, 0, 'the ICResp header was cut: digests unknown');
  assert.deepEqual(
    run.commands.map((c) => [c.cid, c.qid]),
    [[1, 1], ...SESSION_READS.map((r) => [r.cid, 1]), [0x20, 1]],
  );
  assert.ok(run.log.some((l) => / -\d+ #/.test(l)));
});

test('analyzeCapture - from a Readable in 1-byte chunks, the same as from the whole buffer', async () => {
  const { turns } = sessionTurns({ hdgst: true, ddgst: true });
  const file = pcapngFile(LinkType.LINUX_SLL2, recs(sessionPackets(turns, { ctrlPort: 4420 }), LinkType.LINUX_SLL2));
  const reads: string[] = [];
  const res = await analyzeCapture(
    Readable.from(
      (function* () {
        for (let i = 0; i < file.length; i++) yield file.subarray(i, i + 1);
      })(),
    ),
    { command: (_f, c) => c.isRead && reads.push(`${c.cid}:${c.sglLen}`) },
  );
  assert.equal(res.format, 'pcapng');
  assert.equal(res.nvmeFlows.length, 1);
  assert.deepEqual(
    reads,
    SESSION_READS.map((r) => `${r.cid}:${r.len}`),
  );
});

test('analyzeCapture - no NVMe/TCP connection, or an unsupported link type: one clear line', async () => {
  const http = sessionPackets([{ h2c: [Buffer.from('GET / HTTP/1.1\r\n\r\n')], c2h: [Buffer.from('HTTP/1.1 200 OK\r\n\r\n')] }], {
    ctrlPort: 80,
  });
  const none = pcapFile(LinkType.RAW, recs(http, LinkType.RAW));
  await assert.rejects(analyzeCapture(Readable.from([none])), (e: unknown) => {
    assert.ok(e instanceof CaptureError);
    assert.equal(
      e.message,
      'no NVMe/TCP connection found: 8 packets, 1 TCP connections (no ICReq/ICResp at a connection start, none on port 4420 or 8009; name the target port)',
    );
    return true;
  });
  const res = await analyzeCapture(Readable.from([none]), {}, { allowNoFlows: true });
  assert.equal(res.tcpFlows, 1);

  const { turns } = sessionTurns({ hdgst: false, ddgst: false });
  const odd = pcapFile(147, recs(sessionPackets(turns), LinkType.RAW));
  await assert.rejects(
    analyzeCapture(Readable.from([odd])),
    /^CaptureError: no NVMe\/TCP connection found: \d+ packets, 0 TCP connections, link type 147 not supported$/,
  );
  const a = new CaptureAnalyzer();
  const r = new CaptureReader((p) => a.packet(p));
  r.push(odd);
  r.end();
  assert.equal(a.decode.unknownLink, a.packets);
  assert.deepEqual(a.decode.unknownLinkTypes, [147]);

  await assert.rejects(
    analyzeCapture('/nonexistent/x.pcap'),
    /^CaptureError: cannot open capture \/nonexistent\/x\.pcap: no such file or directory$/,
  );
});

test('analyzer - order of events: a segment before the PDUs it carries; the segment that reveals a flow right after the flow event', () => {
  const { turns } = sessionTurns({ hdgst: false, ddgst: false });
  const pkts = sessionPackets(turns, { ctrlPort: 9999, mss: 3000 });
  const log: string[] = [];
  const segs: { seq: number; end: number }[] = [];
  const a = new CaptureAnalyzer({
    flow: (f) => log.push(`flow ${f.detectedBy}`),
    segment: (_f, s) => {
      log.push(`seg ${s.dir} ${s.seq}`);
      segs.push({ seq: s.seq, end: s.seq + s.end - s.start });
    },
    pdu: (_f, dir, h) => {
      // The segment holding this PDU's first byte was handed out already.
      assert.ok(
        segs.some((s) => h.seq >= s.seq && h.seq < s.end),
        `pdu at ${h.seq} before its segment`,
      );
      log.push(`pdu ${dir} ${h.type}`);
    },
    command: (_f, c) => log.push(`cmd ${c.cid}`),
  });
  const r = new CaptureReader((p) => a.packet(p));
  r.push(pcapFile(LinkType.RAW, recs(pkts, LinkType.RAW)));
  r.end();
  a.finish();
  const icreq = pkts.find((p) => p.h2c && p.payload?.length)!;
  const icresp = pkts.find((p) => !p.h2c && p.payload?.length)!;
  assert.deepEqual(log.slice(0, 8), [
    'flow icreq',
    `seg ${Dir.H2C} ${icreq.seq}`,
    `pdu ${Dir.H2C} ${PduType.ICReq}`,
    `seg ${Dir.C2H} ${icresp.seq}`,
    `pdu ${Dir.C2H} ${PduType.ICResp}`,
    `seg ${Dir.H2C} ${icresp.ack}`,
    'cmd 1',
    `pdu ${Dir.H2C} ${PduType.CapsuleCmd}`,
  ]);
});

test('analyzer - closed and non-NVMe connections are forgotten after flowIdlePackets: the table stays bounded', () => {
  const { turns } = sessionTurns({ hdgst: false, ddgst: false });
  const nvme = sessionPackets(turns, { ctrlPort: 4420, fin: false }); // stays open
  const others: SessionPacket[] = [];
  for (let i = 0; i < 300; i++) {
    others.push(
      ...sessionPackets([{ h2c: [Buffer.from(`GET /${i} HTTP/1.1\r\n\r\n`)], c2h: [Buffer.from('HTTP/1.1 204\r\n\r\n')] }], {
        ctrlPort: 80,
        hostPort: 20000 + i,
      }),
    );
  }
  // A port-4420 connection that never carries data is not an NVMe/TCP flow.
  const idle = sessionPackets([], { ctrlPort: 4420, hostPort: 1234 });
  const a = new CaptureAnalyzer({}, { flowIdlePackets: 100 });
  const r = new CaptureReader((p) => {
    a.packet(p);
    assert.ok(a.liveFlows <= 2 + Math.ceil(200 / 8) + 1, `${a.liveFlows} flows live at packet ${a.packets}`);
  });
  r.push(pcapFile(LinkType.RAW, recs([...nvme, ...idle, ...others], LinkType.RAW)));
  r.end();
  const s = a.finish();
  assert.equal(s.tcpFlows, 302);
  assert.equal(s.nvmeFlows.length, 1);
  assert.equal(s.nvmeFlows[0].closed, false);
  assert.equal(s.nvmeFlows[0].commands, 5);
});
