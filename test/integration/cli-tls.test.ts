// The CLI with TLS: `target --tls required --tls-key HOST=KEY` and `connect --tls-key KEY`
// with a key nvme-cli generated; bad flags; the host following the discovery log's TREQ.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { type ConnectionFlags, RECOVERY_DEFAULTS } from '../../src/cli/connection.ts';
import { readDiscoveryLog, resolveSubnqn } from '../../src/cli/session.ts';
import { formatPskInterchange, NvmeTarget, SubType, Treq } from '../../src/index.ts';
import { genTlsKey, needsNvmeCli } from '../helpers/nvme-cli.ts';
import { cli, errLines, startTarget } from './cli-helpers.ts';

const NQN = 'nqn.2024-01.io.example:cli-tls';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0b5e7c2a-3d4f-4a1b-9c8d-7e6f5a4b3c2d';

test('cli tls - a target with --tls required and a host connecting with a key from nvme gen-tls-key', needsNvmeCli(), async (t) => {
  const key = genTlsKey(1);
  const { proc, port } = await startTarget(['--nqn', NQN, '--tls', 'required', '--tls-key', `${HOST}=${key}`], t);
  await proc.waitFor(/^tls: required \(TLS 1\.3, TLS_AES_128_GCM_SHA256, PSK\); keys for nqn\.2014-08/m);
  const conn = ['-a', '127.0.0.1', '-s', String(port), '-q', HOST, '-i', '1'];
  const ok = await cli(['connect', ...conn, '-n', NQN, '--tls-key', key]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /nvme0 tcp traddr=127\.0\.0\.1/);
  // Through discovery (no -n), over TLS too.
  const viaDisc = await cli(['connect', ...conn, '--tls_key', key]);
  assert.equal(viaDisc.code, 0, viaDisc.stderr);
  const plain = await cli(['connect', ...conn, '-n', NQN]);
  assert.equal(plain.code, 1);
  assert.deepEqual(errLines(plain).length, 1, plain.stderr);
  assert.match(plain.stderr, /does the target port require TLS/);
});

test('cli tls - bad keys and flag combinations: one line each', async () => {
  const bad = await cli(['connect', '-n', NQN, '--tls-key', 'NVMeTLSkey-1:01:abc:']);
  assert.notEqual(bad.code, 0);
  assert.equal(errLines(bad).length, 1, bad.stderr);
  assert.match(bad.stderr, /TLS key/);
  const noKey = await cli(['connect', '-n', NQN, '--tls']);
  assert.match(noKey.stderr, /--tls needs --tls-key/);
  assert.equal(errLines(noKey).length, 1, noKey.stderr);
  const tgt = await cli(['target', '--listen', '127.0.0.1:0', '--tls', 'required']);
  assert.match(tgt.stderr, /--tls required needs at least one --tls-key/);
  assert.equal(errLines(tgt).length, 1, tgt.stderr);
});

test('cli tls - discovery on a TLS-only port: the log says TLS required; no key is one clear error, a key reads it', async (t) => {
  // As nvmet, our discovery log describes only the port asked through, so a port whose
  // entries say "TLS required" is reached through TLS itself (an SPDK target lists
  // every listener of a subsystem, which is where the host's TREQ check matters too).
  const key = formatPskInterchange({ hash: 1, key: randomBytes(32) });
  const tgt = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] }], tlsKeys: [{ key }] });
  t.after(() => tgt.close());
  const req = await tgt.listen({ host: '127.0.0.1', port: 0, tls: 'required' });
  const f: ConnectionFlags = {
    traddr: '127.0.0.1',
    trsvcid: req.port,
    hostnqn: HOST,
    hostid: '0b5e7c2a-3d4f-4a1b-9c8d-7e6f5a4b3c2d',
    hdrDigest: false,
    dataDigest: false,
    nrIoQueues: 1,
    queueSize: 32,
    disableSqflow: false,
    keepAliveTmo: 5,
    verbose: false,
    ...RECOVERY_DEFAULTS,
  };
  await assert.rejects(resolveSubnqn(f), new RegExp(`^CliError: cannot reach the discovery controller at 127\\.0\\.0\\.1:${req.port}: `));
  const { entries } = await readDiscoveryLog({ ...f, tlsKey: key });
  const nvm = entries.find((e) => e.subtype === SubType.Nvme);
  assert.equal(nvm?.treq, Treq.Required);
  assert.equal(await resolveSubnqn({ ...f, tlsKey: key }), NQN);
});
