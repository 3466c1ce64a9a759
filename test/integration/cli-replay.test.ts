// `nvmeotcp replay` as a user runs it: text and JSON output on a committed fixture,
// the trace file, stdin, and every bad input as one line with a non-zero exit.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Child } from '../helpers/subprocess.ts';
import { cli, errLines, ROOT } from './cli-helpers.ts';

const FIX = join(ROOT, 'test/fixtures/captures');

test('cli replay - text: per flow and total, counters, shares and PDUs', async () => {
  const r = await cli(['replay', join(FIX, 'plain-4420.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^flow 2: host 127\.0\.0\.1:51112 -> controller 127\.0\.0\.1:4420, qid 1, nqn\.2024-01\.io\.nvmeotcp:capture$/m);
  assert.match(r.stdout, /^ {2}not offloaded \(the admin queue never is\)$/m);
  assert.match(r.stdout, /^total: 96 packets, 3 NVMe\/TCP connections \(2 offloaded I\/O queues\), READs 4, 2 offloadable$/m);
  assert.match(r.stdout, /^ {2}offloaded 44\.4% of packets, 41\.1% of bytes$/m);
  assert.match(r.stdout, /^ {4}rx_nvmeotcp_bytes: 45712$/m);
  assert.match(r.stdout, /controller->host: ICResp 3, CapsuleResp 20, C2HData 11, R2T 1$/m);
});

test('cli replay - --json, --mss, --trace FILE, and stdin', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const trace = join(dir, 'trace.jsonl');
  const r = await cli(['replay', '--json', '--mss', '1448', '--trace', trace, join(FIX, 'digests.pcapng')]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { total: { counters: Record<string, number> }; flows: unknown[] };
  assert.equal(j.flows.length, 3);
  assert.equal(j.total.counters.rx_packets, 78);
  assert.equal(j.total.counters.rx_nvmeotcp_bytes, 94792);
  const lines = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('"seq"'));
  assert.equal(lines.length, 78);
  assert.deepEqual(Object.keys(JSON.parse(lines[0]) as object), ['flow', 'seq', 'len', 'crc']);
  // stdin
  const child = Child.spawn(
    'replay',
    'sh',
    ['-c', `exec "$0" --import tsx src/cli/main.ts replay - < test/fixtures/captures/plain-4420.pcapng`, process.execPath],
    {
      cwd: ROOT,
      hangGuardMs: 300_000,
    },
  );
  const s = await child.wait();
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /offloaded 44\.4% of packets, 41\.1% of bytes/);
});

test('cli replay - bad input: one line, non-zero exit, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-replay-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = readFileSync(join(FIX, 'plain-4420.pcap'));
  const cut = join(dir, 'cut.pcap');
  writeFileSync(cut, good.subarray(0, 30000));
  const text = join(dir, 'text.pcap');
  writeFileSync(text, 'hello\n');
  const other = join(dir, 'other.pcap');
  writeFileSync(other, Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'));
  const cases: [string[], RegExp][] = [
    [[cut], /^nvmeotcp replay: truncated capture: pcap record of \d+ bytes cut after \d+ at offset 0x[0-9a-f]+ \(\d+\)$/],
    [[text], /^nvmeotcp replay: not a pcap or pcapng file: magic 0x68656c6c/],
    [[other], /^nvmeotcp replay: no NVMe\/TCP connection found: 0 packets, 0 TCP connections/],
    [[join(dir, 'missing.pcap')], /^nvmeotcp replay: cannot open capture .*missing\.pcap: no such file or directory$/],
    [
      ['--impair', 'loss=2', cut],
      /^nvmeotcp: error: option '--impair <spec>' argument 'loss=2' is invalid\. loss must be a probability from 0 to 1$/,
    ],
    [['--profile', 'cx9', cut], /^nvmeotcp: error: option '--profile <name>' argument 'cx9' is invalid/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(['replay', ...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(errLines(r).length, 1, r.stderr);
    assert.match(errLines(r)[0], re);
  }
  // A snap length that cut payload: the result, then one line saying how much, exit 1.
  const s = await cli(['replay', join(FIX, 'digests-snap128.pcap')]);
  assert.equal(s.code, 1);
  assert.match(s.stdout, /^total: /m);
  assert.deepEqual(errLines(s), [
    "nvmeotcp replay: the capture's snap length cut 176394 bytes of TCP payload (counted as not placed); capture with -s 0",
  ]);
});
