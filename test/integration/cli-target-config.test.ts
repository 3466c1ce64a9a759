// `target --config` with an nvmetcli-style JSON file serves what the file describes:
// the subsystems linked to the port, their namespaces (RAM for device paths, the
// file for a regular file), the host allow-list and the port's inline data size.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Child, fileChildren } from '../helpers/subprocess.ts';
import { cli, errLines, startTarget } from './cli-helpers.ts';

const OPEN = 'nqn.2024-01.io.example:open';
const CLOSED = 'nqn.2024-01.io.example:closed';
const HOST_A = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100';
const HOST_B = 'nqn.2014-08.org.nvmexpress:uuid:00010203-0405-0607-0809-0a0b0c0d0e0f';

let dir = '';
// The target: killed after the last test, described in the report of any test that fails.
const shared = fileChildren();
let target: Child;
let port = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-cfg-'));
  const img = join(dir, 'disk.img');
  writeFileSync(img, Buffer.alloc(1 << 20));
  const config = {
    hosts: [{ nqn: HOST_A }],
    ports: [
      {
        addr: { adrfam: 'ipv4', traddr: '127.0.0.1', treq: 'not specified', trsvcid: '4420', trtype: 'tcp' },
        param: { inline_data_size: '16384' },
        portid: 1,
        referrals: [],
        subsystems: [OPEN, CLOSED],
      },
    ],
    subsystems: [
      {
        allowed_hosts: [],
        attr: { allow_any_host: '1', model: 'Linux', serial: '0123456789abcdef' },
        namespaces: [
          { device: { path: '/dev/ram0', size: '2M' }, enable: 1, nsid: 1 },
          { device: { path: img }, enable: 1, nsid: 2 },
        ],
        nqn: OPEN,
      },
      {
        allowed_hosts: [HOST_A],
        attr: { allow_any_host: '0' },
        namespaces: [{ device: { path: '/dev/nullb0', size: '1M' }, enable: 1, nsid: 3 }],
        nqn: CLOSED,
      },
    ],
  };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  // --listen replaces the file's 127.0.0.1:4420 with an ephemeral port.
  const t = await startTarget(['--config', file], shared);
  target = t.proc;
  port = t.port;
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('cli target --config - logs what it serves and how it mapped device paths', async () => {
  await target.waitFor(/^note: .*closed: namespace 3: \/dev\/nullb0 is not a regular file, served from RAM \(1048576 bytes\)$/m);
  assert.match(target.stdout, new RegExp(`^subsystem ${OPEN}: namespaces 1=ram:2097152 2=file:.*disk\\.img; any host$`, 'm'));
  assert.match(target.stdout, new RegExp(`^subsystem ${CLOSED}: namespaces 3=ram:1048576; hosts ${HOST_A}$`, 'm'));
});

test('cli target --config - namespaces, serial, model and inline data size as configured', async () => {
  const r = await cli(['connect', '-s', String(port), '-n', OPEN, '-i', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout) as { identify: Record<string, string>; namespaces: Record<string, unknown>[] };
  assert.equal(c.identify.sn, '0123456789abcdef');
  assert.equal(c.identify.mn, 'Linux');
  // IOCCSZ = (64-byte SQE + 16384 bytes of in-capsule data) / 16.
  assert.equal(c.identify.ioccsz, '1028');
  assert.deepEqual(
    c.namespaces.map((n) => [n.NameSpace, n.PhysicalSize]),
    [
      [1, 2 << 20],
      [2, 1 << 20],
    ],
  );
});

test('cli target --config - the allow-list admits its host and refuses others', async () => {
  const [a, b] = await Promise.all([
    cli(['list', '-s', String(port), '-n', CLOSED, '-q', HOST_A, '--json']),
    cli(['list', '-s', String(port), '-n', CLOSED, '-q', HOST_B]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  const devs = (JSON.parse(a.stdout) as { Devices: Record<string, unknown>[] }).Devices;
  assert.deepEqual(
    devs.map((d) => [d.NameSpace, d.PhysicalSize]),
    [[3, 1 << 20]],
  );
  assert.equal(b.code, 1);
  assert.equal(b.stdout, '');
  const lines = errLines(b);
  assert.equal(lines.length, 1, b.stderr);
  assert.match(lines[0], new RegExp(`^nvmeotcp list: cannot connect to ${CLOSED} at 127\\.0\\.0\\.1:${port}: .*Connect failed`));
});

test('cli target --config - discovery lists only the subsystems a host may use', async () => {
  const [a, b] = await Promise.all([
    cli(['discover', '-s', String(port), '-q', HOST_A, '--json']),
    cli(['discover', '-s', String(port), '-q', HOST_B, '--json']),
  ]);
  const nqns = (r: typeof a) =>
    (JSON.parse(r.stdout) as { records: { subnqn: string; subtype: string }[] }).records
      .filter((x) => x.subtype === 'nvme subsystem')
      .map((x) => x.subnqn)
      .sort();
  assert.deepEqual(nqns(a), [CLOSED, OPEN]);
  assert.deepEqual(nqns(b), [OPEN]);
});
