// nvme-cli habits of the host verbs, against an in-process target on 127.0.0.1 and
// [::1]: -o/--output-format, -v, bracketed IPv6 addresses, the nvme-cli 2.x `list`
// layout, and a reader that goes away (EPIPE ends the verb quietly with exit 0).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { NvmeTarget } from '../../src/index.ts';
import { cli, errLines, ROOT } from './cli-helpers.ts';

const NQN = 'nqn.2024-01.io.example:parity';
let tgt: NvmeTarget;
let port = 0;
let port6 = 0;

before(async () => {
  tgt = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 4 << 20 } }] }] });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
  ({ port: port6 } = await tgt.listen({ host: '::1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

const conn = () => ['-a', '127.0.0.1', '-s', String(port)];

test('cli -o/--output-format - discover, list and connect print JSON with -o json, the same as --json', async () => {
  const [o, long, legacy, normal] = await Promise.all([
    cli(['discover', ...conn(), '-o', 'json']),
    cli(['discover', ...conn(), '--output-format', 'json']),
    cli(['discover', ...conn(), '--json']),
    cli(['discover', ...conn(), '-o', 'normal']),
  ]);
  for (const r of [o, long, legacy, normal]) assert.equal(r.code, 0, r.stderr);
  const log = JSON.parse(o.stdout) as { records: { subnqn: string }[] };
  assert.ok(log.records.some((r) => r.subnqn === NQN));
  assert.deepEqual(JSON.parse(long.stdout), log);
  assert.deepEqual(JSON.parse(legacy.stdout), log);
  assert.match(normal.stdout, /^\nDiscovery Log Number of Records \d+, Generation counter \d+\n/);

  const [list, connect] = await Promise.all([
    cli(['list', ...conn(), '-n', NQN, '-o', 'json']),
    cli(['connect', ...conn(), '-n', NQN, '-o', 'json']),
  ]);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), {
    Devices: [
      {
        NameSpace: 1,
        DevicePath: '/dev/nvme0n1',
        GenericPath: '/dev/ng0n1',
        Firmware: '0.1.0',
        ModelNumber: 'nvmeotcp',
        SerialNumber: (JSON.parse(list.stdout) as { Devices: { SerialNumber: string }[] }).Devices[0].SerialNumber,
        UsedBytes: 4 << 20,
        MaximumLBA: 8192,
        PhysicalSize: 4 << 20,
        SectorSize: 512,
      },
    ],
  });
  assert.equal(connect.code, 0, connect.stderr);
  assert.equal((JSON.parse(connect.stdout) as { device: string }).device, 'nvme0');
});

test('cli -o - a format nvme-cli has but we do not print is one line of error', async () => {
  const r = await cli(['discover', ...conn(), '-o', 'binary']);
  assert.equal(r.code, 1);
  assert.deepEqual(errLines(r), [
    "nvmeotcp: error: option '-o, --output-format <fmt>' argument 'binary' is invalid. expected normal or json",
  ]);
  assert.equal(r.stdout, '');
});

test('cli list - the nvme-cli 2.x layout: Node and Generic /dev paths, namespace in hex', async () => {
  const r = await cli(['list', ...conn(), '-n', NQN]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^Node {18}Generic {15}SN {19}Model {36}Namespace {2}Usage {22}Format {11}FW Rev$/);
  assert.match(lines[2], /^\/dev\/nvme0n1 {10}\/dev\/ng0n1 {12}\S+ +nvmeotcp +0x1 +4\.19 {2}MB \/ {3}4\.19 {2}MB/);
});

test('cli -a [::1] - bracketed and bare IPv6 addresses reach an IPv6 listener', async () => {
  const [bracketed, bare, long] = await Promise.all([
    cli(['discover', '-a', '[::1]', '-s', String(port6), '-o', 'json']),
    cli(['discover', '-a', '::1', '-s', String(port6), '-o', 'json']),
    cli(['list', '--traddr', '[::1]', '--trsvcid', String(port6), '-n', NQN, '-o', 'json']),
  ]);
  for (const r of [bracketed, bare, long]) assert.equal(r.code, 0, r.stderr);
  const recs = (JSON.parse(bracketed.stdout) as { records: { subnqn: string; traddr: string; adrfam: string }[] }).records;
  assert.ok(
    recs.some((e) => e.subnqn === NQN && e.traddr === '::1' && e.adrfam === 'ipv6'),
    bracketed.stdout,
  );
  assert.deepEqual(JSON.parse(bare.stdout), JSON.parse(bracketed.stdout));
  assert.equal((JSON.parse(long.stdout) as { Devices: unknown[] }).Devices.length, 1);
  const bad = await cli(['discover', '-a', '[::1]:4420']);
  assert.equal(bad.code, 1);
  assert.match(
    errLines(bad).join('\n'),
    /^nvmeotcp: error: option .* argument '\[::1\]:4420' is invalid\. expected an address alone \(give the port with -s\/--trsvcid\)$/,
  );
});

test('cli -v - says on stderr what it connects to, stdout unchanged', async () => {
  const [quiet, verbose] = await Promise.all([cli(['list', ...conn(), '-o', 'json']), cli(['list', ...conn(), '-o', 'json', '-v'])]);
  assert.equal(verbose.code, 0, verbose.stderr);
  assert.deepEqual(JSON.parse(verbose.stdout), JSON.parse(quiet.stdout));
  assert.equal(quiet.stderr, '');
  const all = errLines(verbose);
  // First: which CRC32C implementation computes the digests (once, at start-up).
  assert.match(all[0], /^nvmeotcp: crc32c (native|sse4_crc32|@node-rs\/crc32|js)\b/);
  const lines = all.filter((l) => !l.startsWith('nvmeotcp: crc32c'));
  assert.match(lines[0], new RegExp(`^nvmeotcp: reach the discovery controller at 127\\.0\\.0\\.1:${port} as nqn\\.`));
  assert.match(lines[1], /^nvmeotcp: discovery log: \d+ record\(s\), generation counter \d+$/);
  assert.ok(
    lines.some((l) => l.startsWith(`nvmeotcp: connect to ${NQN} at 127.0.0.1:${port}`)),
    verbose.stderr,
  );
  assert.ok(
    lines.some((l) => new RegExp(`^nvmeotcp: controller \\d+ of ${NQN} is live: admin \\+ 1 I/O queue\\(s\\)$`).test(l)),
    verbose.stderr,
  );
});

/** Runs the CLI with its stdout closed by the reader before the verb writes anything. */
function withClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

test('cli EPIPE - a reader that went away (| head -1) ends the verb quietly with exit code 0', async () => {
  const [disc, help] = await Promise.all([withClosedStdout(['discover', ...conn()]), withClosedStdout(['--help'])]);
  assert.deepEqual(disc, { code: 0, stderr: '' });
  assert.deepEqual(help, { code: 0, stderr: '' });
});
