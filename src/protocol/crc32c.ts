// CRC-32C (Castagnoli), the NVMe/TCP header and data digest: reflected polynomial
// 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, sent little-endian.
//
// The running value is the *finalised* CRC of the bytes so far (0 before any byte),
// as every implementation below takes and returns it, so pieces chain:
//   crc32cUpdate(crc32cUpdate(0, a), b) === crc32c(a ++ b)
//
// Implementations, the first that loads wins:
//   native      our addon (native/crc32c.c): interleaved crc32q streams combined by
//               carry-less multiply; built by `npm ci`/`npm install` into build/, or
//               shipped prebuilt in prebuilds/<platform>-<arch>/
//   sse4_crc32  optional dependency, one crc32 stream, compiled at install
//   @node-rs/crc32  prebuilt
//   js          the table loop below
// A native call costs ~50 ns (ours) to ~110-140 ns (the others) however short the
// input, the table loop ~2.5 ns a byte, so inputs up to `small` bytes stay in JS.
// NVMEOTCP_CRC32C=native|sse4|node-rs|js forces one (tests, benchmarks).
import { createRequire } from 'node:module';

export const CRC32C_INIT = 0;

/** The CRC of buf[start, end) continued from crc (end > start); any integer that >>> 0 makes the CRC. */
type Update = (crc: number, buf: Uint8Array, start: number, end: number) => number;

/** One implementation, as loadCrc32cImplementation() returns it. */
export interface Crc32cImpl {
  readonly name: string;
  readonly update: Update;
  /** Inputs up to this many bytes go through the JS table loop. */
  readonly small: number;
}

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

function tableCrc(crc: number, buf: Uint8Array, start: number, end: number): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const req = createRequire(import.meta.url);

/** A locally built addon, then a shipped prebuilt one (paths relative to this file), and what their absence means. */
const NATIVE_PATHS: readonly (readonly [string, string])[] = [
  ['../../build/Release/crc32c.node', 'not built'],
  [`../../prebuilds/${process.platform}-${process.arch}/crc32c.node`, `no prebuilt ${process.platform}-${process.arch} binary`],
];

interface NativeAddon {
  update(crc: number, buf: Uint8Array, start: number, end: number): number;
  /** 'pclmul' (interleaved streams), 'sse4.2' (one stream) or 'table'. */
  implementation: string;
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown }).code === 'MODULE_NOT_FOUND';
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n', 1)[0]!;
}

/** Each loader returns the implementation or why it is not usable here. */
const LOADERS: Readonly<Record<string, () => Crc32cImpl | string>> = {
  native() {
    const why: string[] = [];
    for (const [path, missing] of NATIVE_PATHS) {
      let m: NativeAddon;
      try {
        m = req(path) as NativeAddon;
      } catch (e) {
        why.push(isNotFound(e) ? missing : `${path}: ${firstLine(e)}`);
        continue;
      }
      // Without SSE4.2 the addon runs portable table code: other packages may use
      // the CPU's own CRC instructions (arm64), so try them first.
      if (m.implementation === 'table') return `${path}: no CRC instructions on this CPU`;
      const update = m.update;
      return { name: `native (${m.implementation})`, small: 16, update };
    }
    return why.join(', ');
  },
  sse4() {
    let m: { calculate(buf: Buffer, initial?: number): number; hardware_support: boolean };
    try {
      m = req('sse4_crc32') as typeof m;
    } catch (e) {
      // Installed but never compiled: its `bindings` loader finds no .node file.
      if (/Could not locate the bindings file/.test(firstLine(e))) return 'not built (its install script did not run)';
      throw e;
    }
    // Without SSE4.2 the addon falls back to its own table code: slower than @node-rs.
    if (!m.hardware_support) return 'no SSE4.2 on this CPU';
    const calc = m.calculate;
    return {
      name: 'sse4_crc32',
      small: 48,
      update: (crc, buf, start, end) => calc(asBuffer(buf, start, end), crc),
    };
  },
  'node-rs'() {
    const { crc32c } = req('@node-rs/crc32') as { crc32c(buf: Buffer, initial?: number): number };
    return { name: '@node-rs/crc32', small: 48, update: (crc, buf, start, end) => crc32c(asBuffer(buf, start, end), crc) };
  },
  js() {
    return { name: 'js', small: Number.POSITIVE_INFINITY, update: tableCrc };
  },
};

/** A Buffer over buf[start, end), the whole of buf itself when it is one. */
function asBuffer(buf: Uint8Array, start: number, end: number): Buffer {
  if (start === 0 && end === buf.length && Buffer.isBuffer(buf)) return buf;
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
}

/** The implementations in order of preference. */
export const CRC32C_IMPLEMENTATIONS: readonly string[] = Object.keys(LOADERS);

const skipped: string[] = [];

/** Load one implementation by name (see CRC32C_IMPLEMENTATIONS), or say why it is not usable here. */
export function loadCrc32cImplementation(name: string): Crc32cImpl | string {
  try {
    return LOADERS[name]!();
  } catch (e) {
    return isNotFound(e) ? 'not installed' : firstLine(e);
  }
}

/** A bad NVMEOTCP_CRC32C, thrown when this module loads; the CLI prints its message alone. */
export class Crc32cChoiceError extends Error {
  readonly code = 'ERR_NVMEOTCP_CRC32C';
}

function choose(): Crc32cImpl {
  const forced = process.env['NVMEOTCP_CRC32C'];
  if (forced !== undefined && forced !== '') {
    if (!(forced in LOADERS))
      throw new Crc32cChoiceError(`NVMEOTCP_CRC32C=${forced}: no such implementation (${CRC32C_IMPLEMENTATIONS.join(', ')})`);
    const impl = loadCrc32cImplementation(forced);
    if (typeof impl === 'string') throw new Crc32cChoiceError(`NVMEOTCP_CRC32C=${forced}: not usable here: ${impl}`);
    return impl;
  }
  for (const name of CRC32C_IMPLEMENTATIONS) {
    const impl = loadCrc32cImplementation(name);
    if (typeof impl !== 'string') return impl;
    skipped.push(`${name}: ${impl}`);
  }
  throw new Error('unreachable: the js implementation always loads');
}

const impl = choose();
const implUpdate = impl.update;
const SMALL = impl.small;

/** The CRC32C implementation in use, e.g. "native (pclmul)", "sse4_crc32", "@node-rs/crc32", "js". */
export function crc32cImplementation(): string {
  return impl.name;
}

/** Why each implementation preferred to the one in use was passed over (one line each). */
export function crc32cSkipped(): readonly string[] {
  return skipped;
}

/** Continue a CRC32C over buf[start, end). */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  const n = end - start;
  if (n <= 0) return crc;
  if (n <= SMALL) return tableCrc(crc, buf, start, end);
  return implUpdate(crc, buf, start, end) >>> 0;
}

/** CRC32C of buf[start, end). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cUpdate(CRC32C_INIT, buf, start, end);
}
