// DH-HMAC-CHAP from the command line: a `target` with --dhchap-key / --dhchap-ctrl-key
// and `connect` with -S / -C, the secrets made by `nvme gen-dhchap-key` in the test;
// and the nvmetcli JSON hosts[].dhchap group.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { planFromNvmetcli } from '../../src/cli/nvmetcli-config.ts';
import { cli, errLines, startTarget } from './cli-helpers.ts';

const NQN = 'nqn.2024-01.io.example:cli-auth';
const HOST = 'nqn.2024-01.io.example:cli-auth-host';
const hasNvme = spawnSync('nvme', ['version'], { stdio: 'ignore' }).error === undefined;
const skip = hasNvme ? false : process.env.CI === 'true' ? false : 'nvme-cli is not installed (apt-get install nvme-cli)';
const gen = (...a: string[]): string => execFileSync('nvme', ['gen-dhchap-key', ...a], { encoding: 'utf8' }).trim();

test('cli auth - a target with nvme-cli keys: connect with -S/-C works, a wrong or missing secret fails in one line', {
  skip,
}, async (t) => {
  const key = gen('-m', '1', '-n', HOST);
  const ctrlKey = gen('-m', '2', '-l', '48', '-n', NQN);
  const tgt = await startTarget(
    [
      '--nqn',
      NQN,
      '--ns',
      'ram:8M',
      '--dhchap-key',
      `${HOST}=${key}`,
      '--dhchap-ctrl-key',
      `${HOST}=${ctrlKey}`,
      '--dhchap-dhgroup',
      'ffdhe3072',
    ],
    t,
  );
  const conn = ['-a', '127.0.0.1', '-s', String(tgt.port), '-n', NQN, '-q', HOST, '-i', '1'];
  const ok = await cli(['connect', ...conn, '-S', key, '-C', ctrlKey, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { subsystem: { nqn: string } }).subsystem.nqn, NQN);
  const wrong = await cli(['connect', ...conn, '-S', gen('-m', '1', '-n', HOST)]);
  assert.equal(wrong.code, 1);
  assert.deepEqual(errLines(wrong).length, 1, wrong.stderr);
  assert.match(wrong.stderr, /refused authentication .*explanation 0x01 authentication failed/);
  const none = await cli(['connect', ...conn]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /requires authentication/);
});

test('cli auth - a mistyped secret is refused when the flag is parsed', async () => {
  const r = await cli(['connect', '-a', '127.0.0.1', '-n', NQN, '-S', 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaS:']);
  assert.equal(r.code, 1);
  assert.equal(errLines(r).length, 1, r.stderr);
  assert.match(r.stderr, /--dhchap-secret.*CRC-32 does not match/);
  const t = await cli(['target', '--dhchap-key', 'no-equals-sign']);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /expected HOSTNQN=DHHC-1/);
});

test('cli auth - nvmetcli JSON: hosts[].dhchap key, ctrl_key, hash, dhgroup become the target host settings', () => {
  const doc = {
    hosts: [
      { nqn: HOST, dhchap: { key: 'DHHC-1:00:k:', ctrl_key: 'DHHC-1:00:c:', hash: 'hmac(sha512)', dhgroup: 'ffdhe4096' } },
      { nqn: 'nqn.2014-08.org.example:plain' },
    ],
    ports: [{ portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '4420' }, subsystems: [NQN] }],
    subsystems: [{ nqn: NQN, allowed_hosts: [HOST, 'nqn.2014-08.org.example:plain'], namespaces: [] }],
  };
  const plan = planFromNvmetcli(doc, { ramSize: 1 << 20, lbaSize: 512 });
  assert.deepEqual(plan.hosts, [
    { nqn: HOST, dhchapKey: 'DHHC-1:00:k:', dhchapCtrlKey: 'DHHC-1:00:c:', dhchapHash: 'hmac(sha512)', dhchapDhgroup: 'ffdhe4096' },
  ]);
  assert.throws(
    () => planFromNvmetcli({ ...doc, hosts: [{ nqn: HOST, dhchap: 'x' }] }, { ramSize: 1, lbaSize: 512 }),
    /hosts\[0\]\.dhchap: expected an object/,
  );
});
