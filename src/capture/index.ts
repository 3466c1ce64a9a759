// The capture layer: pcap/pcapng reading, packet decoding, TCP reassembly and NVMe/TCP
// flow analysis of captured traffic. Imports only node builtins and src/protocol/.
//
//   reader.ts      CaptureReader: chunks in, one CapturePacket per record out (bounded memory)
//   decode.ts      decodeTcp: link + IP + TCP headers of a packet into a reused TcpPacket
//   flow-table.ts  4-tuple -> flow, both directions in one entry, no allocation per lookup
//   reassembly.ts  Reassembler: one direction's bytes in order, gaps reported
//   pdu-scan.ts    PduScanner: NVMe/TCP PDU headers of a reassembled stream
//   analyzer.ts    CaptureAnalyzer: all of the above, events in capture order
//   source.ts      readCapture / analyzeCapture: a file path, '-' (stdin) or a Readable
//
// A replay drives it like this (every view is valid during its call only; copy to keep):
//
//   const res = await analyzeCapture(fileOrDash, {
//     flow(f) {},                  // NVMe/TCP found: f.hostSide, f.detectedBy
//     command(f, c) {},            // host CapsuleCmd: c.cid, c.isRead, c.sglLen (a setup)
//     segment(f, s) {              // every segment as captured, retransmissions included
//       if (s.dir === Dir.C2H) nic.receive(q, { seq: s.seq, payload: s.buf.subarray(s.start, s.end) });
//     },                           // s.missing: bytes the snaplen cut off (not placeable)
//     pdu(f, dir, h) {},           // each PDU header of either reassembled stream (completions)
//     gap(f, dir, seq, n) {},      // stream bytes missing from the capture
//   }, { ports: [4420, 8009] });   // rejects with a one-line CaptureError on bad input
export {
  type AnalyzerOptions,
  CaptureAnalyzer,
  type CaptureHandlers,
  type CaptureSummary,
  type CommandView,
  DEFAULT_CAPTURE_PORTS,
  type DecodeCounts,
  Dir,
  FlowKind,
  FlowSide,
  formatAddr,
  type IcReqInfo,
  type IcRespInfo,
  type SegmentView,
  TcpFlow,
} from './analyzer.ts';
export { Decoded, decodeTcp, TcpFlag, TcpPacket } from './decode.ts';
export { CaptureError } from './errors.ts';
export { PDU_TYPES, type PduHeaderView, PduScanner, Role, type ScanOptions } from './pdu-scan.ts';
export { type CaptureFormat, type CapturePacket, CaptureReader, LinkType, type ReaderOptions, type ReaderStats } from './reader.ts';
export { Reassembler, type ReassemblyStats, type StreamSink } from './reassembly.ts';
export {
  type AnalyzeOptions,
  type AnalyzeResult,
  analyzeCapture,
  type CaptureSource,
  type ReadOptions,
  readCapture,
} from './source.ts';
