// The capture layer: pcap/pcapng reading, packet decoding, TCP reassembly and NVMe/TCP
// flow analysis of captured traffic. Imports only node builtins and src/protocol/.
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
