// Feeding a capture to the reader: from a file (read in place into one reused buffer),
// from stdin ('-', so that `dumpcap -w - | nvmeotcp replay -` works live), or from any
// Readable. Then the one-call form: read, analyze, and insist on NVMe/TCP.
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { type AnalyzerOptions, CaptureAnalyzer, DEFAULT_CAPTURE_PORTS, type CaptureHandlers, type CaptureSummary } from './analyzer.ts';
import { CaptureError } from './errors.ts';
import { type CaptureFormat, type CapturePacket, CaptureReader, type ReaderOptions, type ReaderStats } from './reader.ts';

/** A file path, '-' for stdin, or a byte stream. */
export type CaptureSource = string | Readable;

export interface ReadOptions extends ReaderOptions {
  /** Bytes read from a file at a time (default 1 MiB). */
  chunkSize?: number;
  /** Called after each chunk with the input bytes consumed so far (for a progress bar). */
  onProgress?: ((bytes: number) => void) | undefined;
}

/**
 * Reads a whole capture, calling onPacket for every packet record (see the lifetime
 * contract in reader.ts). Resolves with the reader (format, stats) at the end of the
 * input; rejects with a one-line CaptureError on bad input or an unreadable file.
 */
export async function readCapture(src: CaptureSource, onPacket: (p: CapturePacket) => void, o: ReadOptions = {}): Promise<CaptureReader> {
  const reader = new CaptureReader(onPacket, o);
  if (typeof src === 'string' && src !== '-') await readFile(src, reader, o.chunkSize ?? 1 << 20, o.onProgress);
  else await readStream(src === '-' ? process.stdin : src, reader, o.onProgress);
  reader.end();
  return reader;
}

type Progress = ReadOptions['onProgress'];

async function readFile(path: string, reader: CaptureReader, chunkSize: number, progress: Progress): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CaptureError(`cannot open capture ${path}: ${reason(e)}`);
  }
  try {
    const buf = Buffer.allocUnsafe(chunkSize);
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, chunkSize, null));
      } catch (e) {
        throw new CaptureError(`cannot read capture ${path}: ${reason(e)}`);
      }
      if (n === 0) break;
      // The reader copies what it keeps, so the same buffer is read into again.
      reader.push(n === chunkSize ? buf : buf.subarray(0, n));
      progress?.(reader.stats.bytes);
    }
  } finally {
    await fh.close();
  }
}

async function readStream(r: Readable, reader: CaptureReader, progress: Progress): Promise<void> {
  for await (const chunk of r) {
    if (typeof chunk === 'string') throw new CaptureError('capture stream delivers text: it must not have an encoding set');
    reader.push(chunk as Buffer);
    progress?.(reader.stats.bytes);
  }
}

function reason(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
  };
  if (typeof err.code === 'string' && err.code in text) return text[err.code];
  return typeof err.message === 'string' ? err.message : String(e);
}

export interface AnalyzeOptions extends AnalyzerOptions, ReadOptions {
  /** Resolve even when no NVMe/TCP connection was found (default: reject with a CaptureError). */
  allowNoFlows?: boolean;
}

export interface AnalyzeResult extends CaptureSummary {
  format: CaptureFormat;
  reader: ReaderStats;
}

/** Reads and analyzes a capture, calling `handlers` in capture order (see analyzer.ts). */
export async function analyzeCapture(src: CaptureSource, handlers: CaptureHandlers = {}, o: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const a = new CaptureAnalyzer(handlers, o);
  const reader = await readCapture(src, (p) => a.packet(p), o);
  const sum = a.finish();
  if (sum.nvmeFlows.length === 0 && o.allowNoFlows !== true) throw noFlowsError(sum, o.ports);
  return { ...sum, format: reader.format!, reader: reader.stats };
}

function noFlowsError(s: CaptureSummary, ports: readonly number[] | undefined): CaptureError {
  const d = s.decode;
  const why =
    d.unknownLink > 0 && d.tcp === 0
      ? `, link type ${d.unknownLinkTypes.join(', ')} not supported`
      : ` (no ICReq/ICResp at a connection start, none on port ${(ports ?? DEFAULT_CAPTURE_PORTS).join(' or ')}; name the target port)`;
  return new CaptureError(`no NVMe/TCP connection found: ${s.packets} packets, ${s.tcpFlows} TCP connections${why}`);
}
