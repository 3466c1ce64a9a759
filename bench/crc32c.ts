// CRC32C throughput of every implementation, measured in one run so the ratios hold:
//   node --import tsx bench/crc32c.ts [--seconds S]
// For each size the best of 5 timed rounds (the machine is shared): GB/s, ns per call,
// and the ratio to sse4_crc32 (`--seconds` is the time per implementation and size). Calls chain (each continues the previous CRC), as a
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

/** Calls to `update` over n bytes, chained; returns the ns they took. */
function timeCalls(update: Update, buf: Buffer, n: number, calls: number): number {
  let crc = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) crc = update(crc, buf, 8, 8 + n) >>> 0;
  const ns = Number(process.hrtime.bigint() - t0);
  return crc === 0.5 ? 0 : ns; // crc stays live
}

/** How many calls take about `seconds` / ROUNDS. */
function calibrate(update: Update, buf: Buffer, n: number): number {
  let calls = 16;
  let ns = timeCalls(update, buf, n, calls);
  while (ns < 5e6) ns = timeCalls(update, buf, n, (calls *= 2));
  return Math.max(1, Math.ceil((seconds * 1e9) / ROUNDS / (ns / calls)));
}

// Rounds take turns between the implementations, so a burst of load elsewhere on the
// machine hits them alike; each keeps its best round.
const ROUNDS = 5;
const buf = Buffer.alloc(1024 * 1024 + 16);
for (let k = 0; k < buf.length; k++) buf[k] = (k * 2654435761) >>> 24;
const width = Math.max(...impls.map(([n]) => n.length));
for (const n of SIZES) {
  const calls = impls.map(([, update]) => calibrate(update, buf, n));
  const best = impls.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < ROUNDS; r++)
    impls.forEach(([, update], k) => {
      best[k] = Math.min(best[k]!, timeCalls(update, buf, n, calls[k]!) / calls[k]!);
    });
  const sse4 = best[impls.findIndex(([name]) => name === 'sse4_crc32')];
  process.stdout.write(`\n${n} bytes\n`);
  impls.forEach(([name], k) => {
    const ns = best[k]!;
    const ratio = sse4 === undefined ? '' : `  ${(sse4 / ns).toFixed(2)}x sse4_crc32`;
    process.stdout.write(`  ${name.padEnd(width)}  ${(n / ns).toFixed(2).padStart(6)} GB/s  ${ns.toFixed(1).padStart(9)} ns${ratio}\n`);
  });
}
