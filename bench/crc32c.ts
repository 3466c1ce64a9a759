// CRC32C throughput of every implementation, measured in one run so the ratios hold:
//   node --import tsx bench/crc32c.ts [--seconds S]
// For each size the best of 5 timed rounds (the machine is shared): GB/s, ns per call,
// and the ratio to sse4_crc32. Calls chain (each continues the previous CRC), as a
// receiver's do. `crc32cUpdate` is the public entry point with its short-input JS path.
import {
  CRC32C_IMPLEMENTATIONS,
  type Crc32cImpl,
  crc32cImplementation,
  crc32cUpdate,
  loadCrc32cImplementation,
} from '../src/protocol/crc32c.ts';

const SIZES = [24, 64, 72, 4096, 128 * 1024, 1024 * 1024];
const i = process.argv.indexOf('--seconds');
const seconds = i > 0 ? Number(process.argv[i + 1]) : 0.2;
if (!(seconds > 0)) {
  process.stderr.write('usage: bench/crc32c.ts [--seconds S] (S > 0)\n');
  process.exit(2);
}

type Update = Crc32cImpl['update'];
const impls: [string, Update][] = [];
for (const name of CRC32C_IMPLEMENTATIONS) {
  const impl = loadCrc32cImplementation(name);
  if (typeof impl === 'string') process.stdout.write(`${name}: not measured (${impl})\n`);
  else impls.push([impl.name, impl.update]);
}
impls.push([`crc32cUpdate [${crc32cImplementation()}]`, crc32cUpdate]);

/** Best ns per call over 5 rounds of about `seconds` / 5 each, after a calibration run. */
function measure(update: Update, buf: Buffer, n: number): number {
  let crc = 0;
  const time = (calls: number) => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < calls; k++) crc = update(crc, buf, 8, 8 + n) >>> 0;
    return Number(process.hrtime.bigint() - t0);
  };
  let calls = 16;
  let ns = time(calls);
  while (ns < 5e6) ns = time((calls *= 2));
  const per = Math.max(1, Math.ceil((seconds * 1e9) / 5 / (ns / calls)));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 5; r++) best = Math.min(best, time(per) / per);
  return best;
}

const buf = Buffer.alloc(1024 * 1024 + 16);
for (let k = 0; k < buf.length; k++) buf[k] = (k * 2654435761) >>> 24;
const width = Math.max(...impls.map(([n]) => n.length));
for (const n of SIZES) {
  const rows = impls.map(([name, update]) => [name, measure(update, buf, n)] as const);
  const sse4 = rows.find(([name]) => name === 'sse4_crc32')?.[1];
  process.stdout.write(`\n${n} bytes\n`);
  for (const [name, ns] of rows) {
    const ratio = sse4 === undefined ? '' : `  ${(sse4 / ns).toFixed(2)}x sse4_crc32`;
    process.stdout.write(`  ${name.padEnd(width)}  ${(n / ns).toFixed(2).padStart(6)} GB/s  ${ns.toFixed(1).padStart(9)} ns${ratio}\n`);
  }
}
