// A `target` subprocess on 127.0.0.1:0 driven by the other verbs as subprocesses:
// discover, list, connect, perf (counters checked against the workload done),
// stats against the target's endpoint, and a clean SIGTERM stop.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileChildren } from '../helpers/subprocess.ts';
import { cli, startTarget } from './cli-helpers.ts';

const NQN = 'nqn.2024-01.io.example:cli';
let port = 0;
let statsUrl = '';
// The shared target: killed after the last test, described in the report of any test that fails.
const shared = fileChildren();

before(async () => {
  const t = await startTarget(
    ['--nqn', NQN, '--ns', 'ram:16M', '--ns', 'ram:8M', '--stats-listen', '127.0.0.1:0', '--data-budget', '64M'],
    shared,
  );
  port = t.port;
  statsUrl = t.statsUrl!;
});

const conn = () => ['-a', '127.0.0.1', '-s', String(port)];

interface FioDirection {
  total_ios: number;
  io_bytes: number;
}
/** The parts of perf's fio-shaped JSON these tests read. */
interface PerfJson {
  jobs: {
    error: number;
    job_runtime: number;
    usr_cpu: number;
    sys_cpu: number;
    read: FioDirection;
    write: FioDirection;
    'job options': Record<string, string>;
    nvmeotcp: { verifiedBlocks: number; error?: string; cpu: { user: number; system: number; usPerIo: number } };
  }[];
  nvmeotcp: Record<string, unknown> & {
    offload: Record<string, number> | null;
    offloadShare: { packets: number; bytes: number } | null;
  };
}

test('cli discover - the nvme discover layout and its JSON form', async () => {
  const [text, json] = await Promise.all([cli(['discover', ...conn()]), cli(['discover', ...conn(), '--json'])]);
  assert.equal(text.code, 0, text.stderr);
  const m = /^\nDiscovery Log Number of Records (\d+), Generation counter (\d+)\n/.exec(text.stdout);
  assert.ok(m, text.stdout);
  const blocks = text.stdout.split(/^=====Discovery Log Entry \d+======$/m).slice(1);
  assert.equal(blocks.length, Number(m[1]));
  const nvm = blocks.find((b) => b.includes(`subnqn:  ${NQN}\n`));
  assert.ok(nvm, text.stdout);
  assert.match(nvm, /^trtype: {2}tcp\nadrfam: {2}ipv4\nsubtype: nvme subsystem\ntreq: {4}.+\nportid: {2}\d+\n/m);
  assert.match(nvm, new RegExp(`trsvcid: ${port}\nsubnqn:  ${NQN}\ntraddr:  127\\.0\\.0\\.1\neflags:  .+\nsectype: none\n`));
  assert.equal(json.code, 0, json.stderr);
  const log = JSON.parse(json.stdout) as { genctr: number; records: Record<string, unknown>[] };
  assert.equal(log.records.length, Number(m[1]));
  assert.deepEqual(
    log.records.filter((r) => r.subnqn === NQN).map((r) => [r.trtype, r.adrfam, r.subtype, r.trsvcid, r.traddr]),
    [['tcp', 'ipv4', 'nvme subsystem', String(port), '127.0.0.1']],
  );
});

test('cli list - one nvme list row per namespace with its size and format', async () => {
  const [text, json] = await Promise.all([cli(['list', ...conn()]), cli(['list', ...conn(), '-n', NQN, '--json'])]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^Node {18}Generic {15}SN {19}Model {36}Namespace {2}Usage {22}Format {11}FW Rev$/);
  assert.equal(lines.length, 4);
  assert.match(lines[2], /^\/dev\/nvme0n1 .* 0x1 +16\.78 {2}MB \/ {2}16\.78 {2}MB {4}512 {3}B \+ {2}0 B {3}\S+$/);
  assert.match(lines[3], /^\/dev\/nvme0n2 .* 0x2 +8\.39 {2}MB \/ {3}8\.39 {2}MB {4}512 {3}B \+ {2}0 B {3}\S+$/);
  assert.equal(json.code, 0, json.stderr);
  const devs = (JSON.parse(json.stdout) as { Devices: Record<string, unknown>[] }).Devices;
  assert.deepEqual(
    devs.map((d) => [d.NameSpace, d.DevicePath, d.PhysicalSize, d.SectorSize, d.MaximumLBA]),
    [
      [1, '/dev/nvme0n1', 16 << 20, 512, 32768],
      [2, '/dev/nvme0n2', 8 << 20, 512, 16384],
    ],
  );
});

test('cli connect - controller, identify fields and namespaces, then a clean disconnect', async () => {
  const r = await cli(['connect', ...conn(), '-n', NQN, '-g', '-G', '-i', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout) as {
    subsystem: { nqn: string };
    controller: { ioQueues: number; hdrDigest: boolean; dataDigest: boolean; state: string };
    identify: Record<string, string>;
    namespaces: { NameSpace: number }[];
  };
  assert.equal(c.subsystem.nqn, NQN);
  assert.deepEqual([c.controller.ioQueues, c.controller.hdrDigest, c.controller.dataDigest, c.controller.state], [2, true, true, 'live']);
  assert.equal(c.identify.subnqn, NQN);
  assert.deepEqual(
    c.namespaces.map((n) => n.NameSpace),
    [1, 2],
  );
  const text = await cli(['connect', ...conn(), '-n', NQN]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^connecting to device: nvme0\nnvme-subsys0 - NQN=${NQN}\n`));
  assert.match(text.stdout, /\nNVME Identify Controller:\nvid {7}: 0x/);
  assert.match(text.stdout, new RegExp(`\nNQN:${NQN} disconnected 1 controller\\(s\\)\n$`));
});

test('cli perf --nic generic - verified 128 KiB I/O: every read is placed and every setup torn down', async () => {
  // The generic NIC places any number of PDUs per packet: every byte of every READ.
  const r = await cli([
    'perf',
    ...conn(),
    '-n',
    NQN,
    '-i',
    '2',
    '-G',
    '--rw',
    'write',
    '--bs',
    '128k',
    '--size',
    '4m',
    '--verify',
    '--nic',
    'generic',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PerfJson;
  const [job] = p.jobs;
  assert.equal(job.error, 0);
  assert.equal(job.nvmeotcp.error, undefined);
  assert.equal(job.write.total_ios, 32);
  // Write mode with --verify reads everything back: 4 MiB of 128 KiB reads, all ≥ io_threshold.
  const readBack = job.nvmeotcp.verifiedBlocks * 512;
  assert.equal(readBack, 4 << 20);
  const o = p.nvmeotcp.offload!;
  assert.equal(o.rx_nvmeotcp_sk_add, 2);
  assert.equal(o.rx_nvmeotcp_sk_del, 2);
  assert.equal(o.rx_nvmeotcp_sk_add_fail, 0);
  assert.equal(o.rx_nvmeotcp_ddp_setup, 32);
  assert.equal(o.rx_nvmeotcp_ddp_teardown, o.rx_nvmeotcp_ddp_setup);
  assert.equal(o.rx_nvmeotcp_ddp_setup_fail, 0);
  assert.equal(o.rx_nvmeotcp_bytes, readBack);
  // 131072 bytes cover 91 or 92 packets of 1448; neighbouring READs may share one.
  assert.ok(o.rx_nvmeotcp_packets >= 32 * 91 - 31 && o.rx_nvmeotcp_packets <= 32 * 92, `packets ${o.rx_nvmeotcp_packets}`);
  assert.equal(o.rx_nvmeotcp_drop, 0);
  // The shares perf prints are the counters' ratios.
  assert.deepEqual(p.nvmeotcp.offloadShare, { packets: o.rx_nvmeotcp_packets / o.rx_packets, bytes: o.rx_nvmeotcp_bytes / o.rx_bytes });
  assert.equal(p.nvmeotcp.nic, 'generic');
  assert.deepEqual(job['job options'], { name: 'perf', rw: 'write', bs: '131072', iodepth: '16', numjobs: '1', size: String(4 << 20) });
});

test('cli perf - 4 KiB reads stay below io_threshold: nothing is set up or placed', async () => {
  const r = await cli(['perf', ...conn(), '-n', NQN, '-i', '1', '--rw', 'randread', '--bs', '4k', '--size', '1m', '--verify', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PerfJson;
  assert.equal(p.jobs[0].read.total_ios, 256);
  assert.equal(p.jobs[0].nvmeotcp.verifiedBlocks, 256 * 8);
  const o = p.nvmeotcp.offload!;
  assert.deepEqual(
    [
      o.rx_nvmeotcp_sk_add,
      o.rx_nvmeotcp_sk_del,
      o.rx_nvmeotcp_ddp_setup,
      o.rx_nvmeotcp_ddp_teardown,
      o.rx_nvmeotcp_packets,
      o.rx_nvmeotcp_bytes,
    ],
    [1, 1, 0, 0, 0, 0],
  );
  assert.deepEqual(p.nvmeotcp.offloadShare, { packets: 0, bytes: 0 });
  assert.ok(o.rx_bytes > 256 * 4096, 'the flow totals still count what the queue received');
});

test('cli perf --offload off - the same workload without a device reports no counters', async () => {
  const r = await cli([
    'perf',
    ...conn(),
    '-n',
    NQN,
    '-i',
    '1',
    '--rw',
    'read',
    '--bs',
    '64k',
    '--size',
    '1m',
    '--offload',
    'off',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PerfJson;
  const [job] = p.jobs;
  assert.equal(job.read.total_ios, 16);
  assert.equal(p.nvmeotcp.offload, null);
  assert.equal(p.nvmeotcp.offloadShare, null);
  // fio's usr_cpu / sys_cpu: the measured phase's CPU time (nvmeotcp.cpu, µs) in % of
  // its wall time, and per I/O. How much CPU a run gets, and how the kernel splits it
  // between user and system, depend on the machine's load: the figures are checked
  // against the times they were computed from (job_runtime is rounded to the ms).
  const { user, system, usPerIo } = job.nvmeotcp.cpu;
  const cpu = JSON.stringify(job);
  assert.ok(Number.isInteger(user) && Number.isInteger(system) && user >= 0 && system >= 0, cpu);
  assert.ok(user + system > 0, `16 reads took no CPU time: ${cpu}`);
  const wallUs = job.job_runtime * 1000;
  const near = (got: number, want: number) => Math.abs(got - want) <= 0.005 + want / Math.max(1, job.job_runtime);
  assert.ok(near(job.usr_cpu, (100 * user) / wallUs) && near(job.sys_cpu, (100 * system) / wallUs), cpu);
  assert.ok(Math.abs(usPerIo - (user + system) / 16) <= 0.005, cpu);
});

test('cli perf - the text summary: results, cpu, latency percentiles, offload counters and the share offloaded', async () => {
  const r = await cli(['perf', ...conn(), '-n', NQN, '-i', '1', '--rw', 'randread', '--bs', '256k', '--size', '4m']);
  assert.equal(r.code, 0, r.stderr);
  // fio's normal output: the job's block, then the group's status line.
  assert.match(r.stdout, /^perf: \(groupid=0, jobs=1\): err= 0: pid=\d+: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n {2}read: IOPS=/);
  assert.match(r.stdout, /^ {2}read: IOPS=[\d.]+k?, BW=[\d.]+[KMG]iB\/s \([\d.]+[kMG]B\/s\)\(4\.00MiB\/\d+msec\)$/m);
  assert.match(r.stdout, /^ {4}clat \((nsec|usec|msec)\): min=\d+, max=\d+, avg=[\d.]+, stdev=[\d.]+\n {5}lat \(\1\)/m);
  assert.match(r.stdout, /^ {5}\| 99\.00th=\[ *\d+\], 99\.50th=\[ *\d+\], 99\.90th=\[ *\d+\], 99\.95th=\[ *\d+\],$/m);
  assert.match(r.stdout, /^ {2}cpu {10}: usr=\d+\.\d\d%, sys=\d+\.\d\d%, ctx=\d+, majf=\d+, minf=\d+$/m);
  assert.match(r.stdout, /^ {5}issued rwts: total=16,0,0,0 short=0,0,0,0 dropped=0,0,0,0$/m);
  assert.match(r.stdout, /\nRun status group 0 \(all jobs\):\n {3}READ: bw=.*, io=4\.00MiB \(4\.19MB\), run=\d+-\d+msec\n/);
  assert.doesNotMatch(r.stdout, /WRITE:/);
  assert.match(r.stdout, /^Offload statistics:$/m);
  // The status line went to stderr, not between the results.
  assert.match(r.stderr, /^perf: randread bs=262144 iodepth=16 numjobs=1 on /m);
  // The last line: the counters' ratios, one decimal, rounded down.
  const c = Object.fromEntries([...r.stdout.matchAll(/^ {5}(\w+): (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  const m = /\nOffload: offloaded (\d+\.\d)% of packets, (\d+\.\d)% of bytes received on the offloaded queues\n$/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const pct = (part: number, whole: number) => (Math.floor((part / whole) * 1000 + 1e-9) / 10).toFixed(1);
  assert.deepEqual([m[1], m[2]], [pct(c.rx_nvmeotcp_packets, c.rx_packets), pct(c.rx_nvmeotcp_bytes, c.rx_bytes)]);
  // blktests nvme/055: reads of 32 KiB..1 MiB have ≥ 95% of packets and ≥ 90% of bytes offloaded.
  assert.ok(Number(m[1]) >= 95 && Number(m[2]) >= 90, m[0]);
});

test('cli perf - spdk_nvme_perf short flags, numjobs, offset and ramp_time: stdout is exactly one fio JSON object', async () => {
  // -q depth, -o bytes, -w pattern, -M read share, -t seconds (time-based, as spdk_nvme_perf runs).
  const r = await cli([
    'perf',
    ...conn(),
    '-n',
    NQN,
    '-i',
    '2',
    '-q',
    '4',
    '-o',
    '8192',
    '-w',
    'randrw',
    '-M',
    '70',
    '-t',
    '0.5',
    '--ramp_time',
    '0.2',
    '--numjobs',
    '2',
    '--offset',
    '1m',
    '--size',
    '1m',
    '--output-format',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PerfJson & { 'fio version': string; 'global options': Record<string, string> };
  assert.match(p['fio version'], /^nvmeotcp-\d+\.\d+\.\d+/);
  assert.equal(p['global options'].ioengine, 'nvmeotcp');
  assert.match(
    p['global options'].filename,
    new RegExp(`^trtype=TCP adrfam=IPv4 traddr=127\\.0\\.0\\.1 trsvcid=${port} subnqn=${NQN.replace(/\./g, '\\.')} ns=1$`),
  );
  assert.equal(p.jobs.length, 2);
  for (const job of p.jobs) {
    assert.deepEqual(job['job options'], {
      name: 'perf',
      rw: 'randrw',
      bs: '8192',
      iodepth: '4',
      numjobs: '2',
      size: String(1 << 20),
      offset: String(1 << 20),
      runtime: '0.5',
      time_based: '1',
      ramp_time: '0.2',
      rwmixread: '70',
    });
    assert.equal(job.error, 0);
    // Time-based: at least the 500 ms asked for were measured (the ramp not among them).
    assert.ok(job.job_runtime >= 500 && job.job_runtime < 5000, `job_runtime ${job.job_runtime}`);
    assert.ok(job.read.total_ios > 0 && job.write.total_ios > 0);
  }
  // Non-TTY stderr with JSON output: the status line, no progress lines.
  assert.match(r.stderr, /^perf: randrw bs=8192 iodepth=4 numjobs=2 on /);
  assert.doesNotMatch(r.stderr, /IOPS/);
});

test('cli perf - size bounds the region, io_size the amount; progress lines go to stderr and end at 100%', async () => {
  // 64 KiB region, 1 MiB of 4 KiB reads: 256 I/Os going round 16 blocks.
  const r = await cli(['perf', ...conn(), '-n', NQN, '-i', '1', '--rw', 'randread', '--bs', '4k', '--size', '64k', '--io_size', '1m']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {5}issued rwts: total=256,0,0,0 /m);
  assert.ok(r.stdout.startsWith('perf: (groupid=0, jobs=1)'), r.stdout);
  assert.doesNotMatch(r.stdout, /eta|IOPS \d/);
  // Progress on a non-TTY stderr: one line per second, and the run's last report says 100%.
  const progress = r.stderr.split('\n').filter((l) => / IOPS /.test(l));
  assert.match(progress.at(-1) ?? '', /^perf: run [\d.]+s [\d.]+ MiB\/s \d+ IOPS 100% eta 00m:00s$/);
});

test('cli stats - reads the target endpoint as ethtool -S, and --json', async () => {
  const [text, json] = await Promise.all([cli(['stats', '--url', statsUrl]), cli(['stats', '--url', statsUrl, '--json'])]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Target statistics:\n {5}target_connects: \d+\n {5}target_disconnects: \d+\n$/);
  const s = JSON.parse(json.stdout) as { role: string; counters: { target_connects: number; target_disconnects: number } };
  assert.equal(s.role, 'target');
  assert.ok(s.counters.target_connects >= s.counters.target_disconnects);
  // The target's own /stats JSON carries its data buffer budget (--data-budget).
  const raw = (await (await fetch(`${statsUrl}/stats`)).json()) as { data_budget: Record<string, number> };
  assert.deepEqual(Object.keys(raw.data_budget), ['limit', 'used', 'peak', 'waiting', 'pooled']);
  assert.equal(raw.data_budget.limit, 64 << 20);
  assert.equal(raw.data_budget.waiting, 0);
  assert.ok(raw.data_budget.used <= raw.data_budget.peak && raw.data_budget.peak <= 64 << 20);
});

test('cli target - connect and disconnect are logged, SIGTERM stops it with exit code 0', async (tc) => {
  const t = await startTarget(['--ns', 'ram:1M'], tc);
  const l = await cli(['list', '-s', String(t.port)]);
  assert.equal(l.code, 0, l.stderr);
  // The target logs a disconnect when it sees the host's queues close: wait for both.
  await t.proc.waitFor(/^disconnect: controller [^\n]*\n(?:[\s\S]*\n)?disconnect: controller /m);
  const r = await t.proc.stop('SIGTERM');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^nvmeotcp target: listening on 127\.0\.0\.1:\d+$/);
  // list: discovery (to find the NQN), then the NVM subsystem; one line each way.
  assert.equal(lines.filter((x) => x.startsWith('connect: controller ')).length, 2);
  assert.equal(lines.filter((x) => x.startsWith('disconnect: controller ')).length, 2);
  assert.deepEqual(lines.slice(-2), ['SIGTERM: stopping', 'nvmeotcp target: stopped']);
  assert.equal(r.stderr, '');
});

test('cli target --poll and perf --hipri - both sides busy-poll; verified I/O; the target still stops on SIGTERM', async (tc) => {
  const t = await startTarget(['--ns', 'ram:4M', '--poll'], tc);
  const r = await cli([
    'perf',
    '-s',
    String(t.port),
    '-i',
    '1',
    '--rw',
    'randrw',
    '--bs',
    '4k',
    '--iodepth',
    '8',
    '--size',
    '2m',
    '--verify',
    '--hipri',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PerfJson;
  assert.equal(p.nvmeotcp.hipri, true);
  assert.equal(p.jobs[0].read.total_ios + p.jobs[0].write.total_ios, 512);
  assert.equal(p.jobs[0].error, 0);
  const s = await t.proc.stop('SIGTERM');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^note: busy polling while I\/O queues are connected/m);
});

test('cli target - a write-through file namespace (file:PATH:SIZE,sync) and the connection limits are taken', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-cli-sync-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'disk.img');
  const { proc } = await startTarget(['--ns', `file:${img}:1M,sync`, '--max-connections', '8', '--handshake-timeout', '5'], t);
  await proc.waitFor(new RegExp(`namespaces 1=file:${img.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},sync; any host`));
});
