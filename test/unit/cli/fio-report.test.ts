// perf's JSON against what fio itself writes: real `fio --output-format=json` output
// of fio 3.33 (Debian) is committed under test/fixtures/fio/ (randread.json: the brief's
// one-job psync run; randrw-numjobs2.json: options before --name, so "global options",
// and numjobs=2). Our report of a comparable run must have every key fio has there, with
// the same JSON types, recursively, and nothing of ours among them ("nvmeotcp" objects
// only) — so whatever reads fio's JSON reads ours.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ctime, type FioRun, fioJson, fioText } from '../../../src/cli/fio-report.ts';
import { runWorkload, type WorkloadOptions, type WorkloadResult } from '../../../src/workload/workload.ts';
import { MemDevice } from '../../helpers/workload-devices.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/fio/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

/** Keys not claimed: the disks fio measured (we have none); job options are whatever was given. */
const FREE_FORM = new Set(['job options', 'global options']);
const NOT_OURS = new Set(['disk_util']);

/** Every key path of fio's `want` is in `got` with the same JSON type; returns our keys fio does not have. */
function compareShape(want: unknown, got: unknown, path: string, extra: string[]): void {
  const type = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  assert.equal(type(got), type(want), `${path}: ${type(got)} where fio has ${type(want)}`);
  if (type(want) === 'array') {
    const w = want as unknown[];
    const g = got as unknown[];
    assert.equal(g.length, w.length, `${path}: ${g.length} entries where fio has ${w.length}`);
    for (const [i, x] of w.entries()) compareShape(x, g[i], `${path}[${i}]`, extra);
    return;
  }
  if (type(want) !== 'object') return;
  const w = want as Record<string, unknown>;
  const g = got as Record<string, unknown>;
  for (const k of Object.keys(w)) {
    if (NOT_OURS.has(k)) continue;
    assert.ok(k in g, `${path}.${k}: missing (fio has it)`);
    if (!FREE_FORM.has(k)) compareShape(w[k], g[k], `${path}.${k}`, extra);
  }
  for (const k of Object.keys(g)) if (!(k in w)) extra.push(`${path}.${k}`);
}

async function run(o: WorkloadOptions, numjobs: number, globalOptions: Record<string, string>): Promise<FioRun> {
  const dev = new MemDevice(512, 32768);
  const results: WorkloadResult[] = await Promise.all(Array.from({ length: numjobs }, (_, i) => runWorkload(dev, { ...o, seed: i + 1 })));
  return {
    tool: 'nvmeotcp-0.0.0',
    end: new Date(2026, 11, 4, 3, 18, 27),
    wallMs: 1500,
    globalOptions,
    jobs: results.map((result) => ({ name: 'x', options: { name: 'x' }, result, extra: { verifiedBlocks: result.verifiedBlocks } })),
    extra: { offload: null },
  };
}

test('fio json - a one-job randread has every key fio 3.33 writes, with the same types', async () => {
  const ours = fioJson(await run({ rw: 'randread', bs: 4096, iodepth: 4, totalBytes: 4096 * 3000 }, 1, {}));
  const extra: string[] = [];
  compareShape(fixture('randread.json'), JSON.parse(JSON.stringify(ours)), '$', extra);
  // fio's randread run has no "global options"; ours always names the engine there.
  assert.deepEqual(extra.sort(), ['$.global options', '$.jobs[0].nvmeotcp', '$.nvmeotcp']);
  const job = (ours.jobs as Record<string, Record<string, Record<string, unknown>>>[])[0];
  // Percentiles keyed as fio keys them, values in ns; nothing of write or trim.
  const fioJob = (fixture('randread.json').jobs as (typeof job)[])[0];
  assert.deepEqual(Object.keys(job.read.clat_ns.percentile as object), Object.keys(fioJob.read.clat_ns.percentile as object));
  assert.equal(job.write.clat_ns.percentile, undefined);
  assert.equal(job.read.total_ios, 3000);
  assert.equal(job.read.io_bytes, 3000 * 4096);
  assert.equal(job.read.io_kbytes, 3000 * 4);
  // bw is KiB/s of bw_bytes; iops over the runtime in ms.
  const rd = job.read as unknown as Record<string, number>;
  assert.equal(rd.bw, Math.floor(rd.bw_bytes / 1024));
  assert.ok(Math.abs(rd.iops - (3000 * 1000) / rd.runtime) < 1e-5);
  // The latency buckets are shares of all I/O: they add up to 100%.
  const buckets = ['latency_ns', 'latency_us', 'latency_ms'].flatMap((k) => Object.values(job[k] as unknown as Record<string, number>));
  assert.ok(Math.abs(buckets.reduce((a, v) => a + v, 0) - 100) < 1e-3);
});

test('fio json - numjobs 2 randrw: two jobs, global options, and both directions as fio writes them', async () => {
  const r = await run({ rw: 'randrw', bs: 4096, iodepth: 2, totalBytes: 4096 * 2000 }, 2, { ioengine: 'nvmeotcp' });
  const ours = fioJson(r);
  const extra: string[] = [];
  compareShape(fixture('randrw-numjobs2.json'), JSON.parse(JSON.stringify(ours)), '$', extra);
  assert.deepEqual(extra.sort(), ['$.jobs[0].nvmeotcp', '$.jobs[1].nvmeotcp', '$.nvmeotcp']);
  assert.equal(ours['fio version'], 'nvmeotcp-0.0.0');
  assert.equal(ours.time, 'Fri Dec  4 03:18:27 2026');
  const jobs = ours.jobs as Record<string, Record<string, number>>[];
  // Each job did its own io_size.
  for (const j of jobs) assert.equal(j.read.total_ios + j.write.total_ios, 2000);
  // The text form: a block per job, then the group's READ and WRITE lines.
  const text = fioText(r);
  assert.equal(text.match(/^x: \(groupid=0, jobs=1\): err= 0: pid=\d+: Fri Dec {2}4 03:18:27 2026$/gm)?.length, 2);
  assert.match(text, /^ {2}read: IOPS=[\d.]+k?, BW=[\d.]+[KMG]?i?B\/s \([\d.]+[kMG]?B\/s\)\([\d.]+[KMG]?i?B\/\d+msec\)$/m);
  assert.match(text, /\nRun status group 0 \(all jobs\):\n {3}READ: bw=.*run=\d+-\d+msec\n {2}WRITE: bw=/);
});

test('fio json - a failed job reports errno EILSEQ for a verification failure, EIO otherwise', async () => {
  const r = await run({ rw: 'randread', bs: 4096, iodepth: 1, totalBytes: 4096 }, 1, {});
  const job = (j: FioRun) => (fioJson(j).jobs as Record<string, unknown>[])[0];
  r.jobs[0].result.error = 'verify: lba 7: fill differs';
  assert.equal(job(r).error, 84);
  r.jobs[0].result.error = 'queue 1 went away';
  assert.equal(job(r).error, 5);
});

test('fio json - ctime pads the day as ctime(3) does', () => {
  assert.equal(ctime(new Date(2026, 0, 15, 9, 5, 7)), 'Thu Jan 15 09:05:07 2026');
});
