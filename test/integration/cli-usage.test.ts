// The CLI's contract with shells and scripts: --help, exit codes, and every
// failure as one line on stderr (no stack trace). Argument handling runs in
// process (main() with captured output); exit codes and the launcher run as
// subprocesses. No target needed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { bin, cli, closedPort, errLines, type Run } from './cli-helpers.ts';

const VERBS = ['target', 'discover', 'connect', 'list', 'perf', 'stats', 'demo', 'replay'];

/** main() in this process, its help and error output captured. */
async function inProcess(args: readonly string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'nvmeotcp', ...args], {
    out: (s) => {
      stdout += s;
    },
    err: (s) => {
      stderr += s;
    },
  });
  return { code, signal: null, stdout, stderr };
}

/** Exit code 1, empty stdout, exactly one stderr line matching `re`, no stack frame. */
function failsWithOneLine(r: Run, re: RegExp): void {
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = errLines(r);
  assert.equal(lines.length, 1, `one stderr line, got: ${JSON.stringify(lines)}`);
  assert.match(lines[0], re);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('cli --help - every verb documents itself and exits 0', async () => {
  for (const verb of VERBS) {
    const r = await inProcess([verb, '--help']);
    assert.equal(r.code, 0, verb);
    assert.match(r.stdout, new RegExp(`^Usage: nvmeotcp ${verb} \\[options\\]`));
    assert.equal(r.stderr, '');
    if (verb === 'target') {
      assert.match(r.stdout, /--config <file>/);
      assert.match(r.stdout, /any other path \(a block device such as \/dev\/nvme0n1,\n\/dev\/ram0 or \/dev\/nullb0/);
    }
    if (verb === 'connect') assert.match(r.stdout, /We are not a kernel/);
    if (verb === 'perf') {
      for (const flag of [
        '-a, --traddr',
        '-s, --trsvcid',
        '-n, --nqn',
        '--hostnqn',
        '-q, --iodepth',
        '-o, --bs',
        '-w, --rw',
        '-t, --time',
        '-M, --rwmixread',
        '--io_size',
        '--time_based',
        '--ramp_time',
        '--numjobs',
        '--offset',
        '--output-format',
        '-g, --hdr-digest',
        '-G, --data-digest',
        '-i, --nr-io-queues',
        '-Q, --queue-size',
        '-k, --keep-alive-tmo',
      ]) {
        assert.ok(r.stdout.includes(flag), `perf --help lists ${flag}`);
      }
    }
  }
});

test('cli - bad flags and values are one stderr line and exit code 1', async () => {
  const cases: [string[], RegExp][] = [
    [['perf', '--bogus'], /^nvmeotcp: error: unknown option '--bogus'/],
    [
      ['perf', '--rw', 'sideways'],
      /^nvmeotcp: error: option '-w, --rw <mode>' argument 'sideways' is invalid\. expected one of read, write/,
    ],
    [['perf', '--bs', '3x'], /argument '3x' is invalid\. expected a size/],
    [['perf', '--iodepth', '0'], /argument '0' is invalid\. expected an integer from 1 to 4096/],
    [['perf', '--offload', 'maybe'], /argument 'maybe' is invalid\. expected on or off/],
    [['perf', '--nic', 'cx9'], /^nvmeotcp: error: option '--nic <profile>' argument 'cx9' is invalid\. expected one of mlx5, generic$/],
    [['perf', '-t', '1', '--runtime', '1'], /^nvmeotcp perf: give -t or --runtime, not both$/],
    [['perf', '--time_based'], /^nvmeotcp perf: --time_based needs --runtime \(or give -t SECONDS\)$/],
    [['perf', '--verify', '--numjobs', '2'], /^nvmeotcp perf: --verify with --numjobs above 1: /],
    [['perf', '--output-format', 'xml'], /argument 'xml' is invalid\. expected one of normal, json$/],
    [['perf', '-w', 'sideways'], /^nvmeotcp: error: option '-w, --rw <mode>' argument 'sideways' is invalid/],
    [['perf', '-q', '0'], /^nvmeotcp: error: option '-q, --iodepth <n>' argument '0' is invalid\. expected an integer from 1 to 4096/],
    [['perf', '--numjobs', '0'], /argument '0' is invalid\. expected an integer from 1 to 64/],
    [['discover', '-s', '70000'], /argument '70000' is invalid\. expected an integer from 1 to 65535/],
    [['discover', '-t', 'rdma'], /argument 'rdma' is invalid\. only tcp is supported/],
    [['target', '--listen', 'nowhere'], /expected ADDR:PORT/],
    [['target', '--ns', 'disk:/x'], /expected ram:SIZE\[,ro\] \(ram:256M\) or file:PATH\[:SIZE\]\[,sync\]\[,ro\]/],
    [['target', '--lba', '1024'], /expected 512 or 4096/],
    [['target', '--max-connections', '0'], /argument '0' is invalid\. expected an integer from 1 to 1048576/],
    [['target', '--handshake-timeout', 'soon'], /argument 'soon' is invalid\. expected an integer from 1 to 3600/],
    [['stats'], /^nvmeotcp: error: required option '--url <url>' not specified$/],
    [['stats', '--url', 'ftp://x'], /only http:\/\/ endpoints are served/],
    [['stats', '--url', 'http://127.0.0.1:1', '--count', '2'], /^nvmeotcp stats: --count needs --watch$/],
    [['stats', '--url', 'http://127.0.0.1:1', '--netlink', 'dump'], /argument 'dump' is invalid\. expected one of stats-get, caps-get$/],
    [['stats', '--url', 'http://127.0.0.1:1', '--netlink', 'stats-get', '--watch', '1'], /^nvmeotcp stats: --netlink prints one reply/],
    [['frobnicate'], /^nvmeotcp: error: unknown command 'frobnicate'/],
  ];
  for (const [args, re] of cases) failsWithOneLine(await inProcess(args), re);
});

test('cli target - an unusable config or address is one stderr line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-cli-'));
  try {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"ports": [{"portid": 1, "addr": {"trtype": "rdma", "traddr": "10.0.0.1", "trsvcid": "4420"}}]}');
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, 'ports:\n  - 1\n');
    failsWithOneLine(
      await inProcess(['target', '--config', bad]),
      new RegExp(`^nvmeotcp target: config ${bad}: no NVMe/TCP ports: the file exports nothing$`),
    );
    failsWithOneLine(await inProcess(['target', '--config', notJson]), new RegExp(`^nvmeotcp target: config ${notJson}: Unexpected token`));
    failsWithOneLine(
      await inProcess(['target', '--config', join(dir, 'missing.json')]),
      /^nvmeotcp target: config .*missing\.json: no such file or directory/,
    );
    failsWithOneLine(
      await inProcess(['target', '--config', bad, '--ns', 'ram:1M']),
      /^nvmeotcp target: --config describes the namespaces and hosts/,
    );
    failsWithOneLine(
      await inProcess(['target', '--listen', '192.0.2.1:4420']),
      /^nvmeotcp target: cannot listen on 192\.0\.2\.1:4420: address not available$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli (subprocess) - the bin launcher: --version exits 0, a bad flag exits 1 with one line', async () => {
  const [version, bad] = await Promise.all([bin(['--version']), bin(['discover', '--nope'])]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, '0.1.0\n');
  failsWithOneLine(bad, /^nvmeotcp: error: unknown option '--nope'$/);
});

test('cli (subprocess) - an unreachable address is one stderr line naming it, exit code 1', async () => {
  const port = await closedPort();
  const at = `127.0.0.1:${port}`;
  const [disc, perf, stats] = await Promise.all([
    cli(['discover', '-s', String(port)]),
    cli(['perf', '-s', String(port), '-n', 'nqn.2024-01.io.example:x', '--size', '1m']),
    cli(['stats', '--url', `http://${at}`]),
  ]);
  failsWithOneLine(disc, new RegExp(`^nvmeotcp discover: cannot reach the discovery controller at ${at}: connection refused$`));
  failsWithOneLine(perf, new RegExp(`^nvmeotcp perf: cannot connect to nqn.2024-01.io.example:x at ${at}: connection refused$`));
  failsWithOneLine(stats, new RegExp(`^nvmeotcp stats: cannot read http://${at}/stats: connection refused$`));
});
