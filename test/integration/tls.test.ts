// NVMe/TCP over TLS 1.3 with PSKs between our host and our target: each key hash,
// wrong keys, 'optional' and 'required' listeners, discovery TREQ/TSAS, the Connect
// check against the PSK identity, and the receive offload left off.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { fabricsConnect } from '../../src/host/admin.ts';
import { discover, NvmeController } from '../../src/host/index.ts';
import { HostQueue } from '../../src/host/queue.ts';
import { createSocketDevice } from '../../src/offload/socket-device.ts';
import { NQN_DISCOVERY, ScCmd } from '../../src/protocol/constants.ts';
import { SecType, Treq } from '../../src/protocol/discovery.ts';
import { NvmeStatusError } from '../../src/protocol/errors.ts';
import { deriveRetainedPsk, deriveTlsPsk, formatPskInterchange, parsePskInterchange, PskHash } from '../../src/protocol/tls-psk.ts';
import { NvmeTarget, type TlsMode } from '../../src/target/index.ts';
import type { TlsKeyConfig } from '../../src/target/tls-keys.ts';
import { genTlsKey, needsNvmeCli } from '../helpers/nvme-cli.ts';
import { Prng } from '../helpers/prng.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:tls';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:5f0c3a1e-9a4b-4c1d-8e2f-0a1b2c3d4e5f';
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-1111-2222-3333-444444444444';

/** A key of ours (tests that are not about nvme-cli's keys run without it). */
const ownKey = (hash: 1 | 2 = 1): string => formatPskInterchange({ hash, key: randomBytes(hash === 1 ? 32 : 48) });

async function target(t: TestContext, tlsKeys: TlsKeyConfig[], modes: TlsMode[]): Promise<{ tgt: NvmeTarget; ports: number[] }> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: 4 << 20 } }] }],
    tlsKeys,
    handshakeTimeoutMs: 60_000,
  });
  t.after(() => tgt.close());
  const ports: number[] = [];
  for (const tls of modes) ports.push((await tgt.listen({ host: '127.0.0.1', port: 0, tls })).port);
  return { tgt, ports };
}

async function connect(t: TestContext, port: number, tlsKey: string | undefined, extra: { hostnqn?: string } = {}) {
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    subnqn: NQN,
    hostnqn: extra.hostnqn ?? HOST,
    nrIoQueues: 2,
    tlsKey,
    connectTimeoutMs: 30_000,
  });
  t.after(() => ctrl.disconnect());
  return ctrl;
}

/** Writes 1 MiB at MiB `mib` (eight 128 KiB commands over two queues), reads it back, compares. */
async function roundTrip(ctrl: NvmeController, seed: number, mib = 0): Promise<void> {
  const ns = ctrl.namespace(1);
  const data = new Prng(seed).bytes(1 << 20);
  const lba0 = mib * 2048;
  await ns.write(lba0, data);
  const parts = await Promise.all(Array.from({ length: 8 }, (_, i) => ns.read(lba0 + i * 256, 256)));
  assert.deepEqual(Buffer.concat(parts), data);
}

/** Warnings emitted while a test runs (none may say anything about TLS failures or stacks). */
function warnings(t: TestContext): Error[] {
  const seen: Error[] = [];
  const on = (w: Error) => seen.push(w);
  process.on('warning', on);
  t.after(() => process.off('warning', on));
  return seen;
}

/** Resolves once the target holds no connection (refused handshakes are closed, not kept). */
async function drained(tgt: NvmeTarget): Promise<void> {
  while (tgt.connectionCounts.open > 0) await new Promise((r) => setTimeout(r, 10));
}

for (const hmac of [1, 2] as const) {
  test(
    `tls - a ${hmac === 1 ? 'SHA-256' : 'SHA-384'} key from nvme gen-tls-key: admin and I/O queues over TLS 1.3 on a 'required' port`,
    needsNvmeCli(),
    async (t) => {
      const key = genTlsKey(hmac);
      assert.equal(parsePskInterchange(key).hash, hmac);
      const { tgt, ports } = await target(t, [{ hostnqn: HOST, key }], ['required']);
      const ctrl = await connect(t, ports[0]!, key);
      assert.equal(ctrl.ioQueueCount, 2);
      await roundTrip(ctrl, hmac);
      assert.equal(tgt.controllerCount, 1);
    },
  );
}

test('tls - wrong key: one-line handshake failure on the host, no controller and no connection left on the target', async (t) => {
  const seen = warnings(t);
  const { tgt, ports } = await target(t, [{ hostnqn: HOST, key: ownKey() }], ['required']);
  await assert.rejects(connect(t, ports[0]!, ownKey()), (e: Error) => {
    assert.match(
      e.message,
      /^queue 0: (TLS handshake failed: .+|connection closed during the TLS handshake) \(does the target have this host's key/,
    );
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, /identity "NVMe0R01 nqn\.2014-08\.org\.nvmexpress:uuid:5f0c3a1e/);
    return true;
  });
  // A host the target has no key for fails the same way.
  await assert.rejects(connect(t, ports[0]!, ownKey(), { hostnqn: OTHER_HOST }), /TLS handshake/);
  await drained(tgt);
  assert.equal(tgt.controllerCount, 0);
  assert.deepEqual(seen, []);
});

test("tls - a 'required' port refuses a plaintext host; a plaintext port refuses a TLS host", async (t) => {
  const key = ownKey();
  const { tgt, ports } = await target(t, [{ key }], ['required', 'none']);
  await assert.rejects(
    connect(t, ports[0]!, undefined),
    /^ConnectionError: queue 0: connection closed before the ICResp \(does the target port require TLS\?\)$/,
  );
  await assert.rejects(connect(t, ports[1]!, key), /TLS handshake failed/);
  await drained(tgt);
  assert.equal(tgt.controllerCount, 0);
});

test("tls - an 'optional' port serves TLS and plaintext hosts side by side", async (t) => {
  const key = ownKey(2);
  const { tgt, ports } = await target(t, [{ key }], ['optional']);
  const [a, b] = await Promise.all([connect(t, ports[0]!, key), connect(t, ports[0]!, undefined, { hostnqn: OTHER_HOST })]);
  await Promise.all([roundTrip(a, 3, 0), roundTrip(b, 4, 1)]);
  assert.equal(tgt.controllerCount, 2);
});

test('tls - discovery log: TREQ and TSAS SECTYPE of the port asked through; the discovery controller itself over TLS', async (t) => {
  // As nvmet, each port's log describes that port only: entries carry its TREQ and SECTYPE.
  const key = ownKey();
  const { ports } = await target(t, [{ key }], ['none', 'optional', 'required']);
  const want = [
    [Treq.NotSpecified, SecType.None],
    [Treq.NotRequired, SecType.Tls13],
    [Treq.Required, SecType.Tls13],
  ];
  for (const [i, port] of ports.entries()) {
    // The required port is reached through TLS; the others in plaintext.
    const tls = i === 2 ? { tlsKey: key } : {};
    const entries = await discover({ traddr: '127.0.0.1', trsvcid: port, hostnqn: HOST, connectTimeoutMs: 30_000, ...tls });
    assert.ok(entries.length >= 2, `port ${port}: ${entries.length} entries`);
    for (const e of entries) {
      assert.equal(Number(e.trsvcid), port);
      assert.deepEqual([e.treq, e.sectype], want[i], `port ${port} subtype ${e.subtype}`);
    }
  }
});

test('tls - a Connect that names another host than the PSK identity is refused (Connect Invalid Host)', async (t) => {
  const key = ownKey();
  const { tgt, ports } = await target(t, [{ key }], ['required']);
  const tls = deriveTlsPsk(deriveRetainedPsk(parsePskInterchange(key), HOST), {
    version: 0,
    cipher: PskHash.Sha256,
    hostnqn: HOST,
    subnqn: NQN,
  });
  const q = await HostQueue.open({ qid: 0, host: '127.0.0.1', port: ports[0]!, hdgst: false, ddgst: false, sqsize: 31, tls });
  t.after(() => q.close());
  const connectAs = (hostnqn: string, subnqn: string) =>
    fabricsConnect(q, { qid: 0, sqsize: 31, cattr: 0, kato: 0, cntlid: 0xffff, hostid: Buffer.alloc(16, 1), subnqn, hostnqn }, 30_000);
  await assert.rejects(connectAs(OTHER_HOST, NQN), (e: unknown) => e instanceof NvmeStatusError && e.sc === ScCmd.ConnectInvalidHost);
  await assert.rejects(connectAs(HOST, NQN_DISCOVERY), (e: unknown) => e instanceof NvmeStatusError && e.sc === ScCmd.ConnectInvalidHost);
  assert.ok((await connectAs(HOST, NQN)) > 0);
  assert.equal(tgt.controllerCount, 1);
});

test('tls - version-1 identities (with the PSK digest) connect; the receive offload is not attached to TLS queues', async (t) => {
  const seen = warnings(t);
  const key = ownKey();
  const { ports } = await target(t, [{ hostnqn: HOST, key }], ['required']);
  const dev = createSocketDevice({ channels: 2 });
  const ctrl = await NvmeController.connect({
    traddr: '127.0.0.1',
    trsvcid: ports[0]!,
    subnqn: NQN,
    hostnqn: HOST,
    nrIoQueues: 2,
    tlsKey: key,
    tlsIdentityVersion: 1,
    offload: dev,
    connectTimeoutMs: 30_000,
  });
  t.after(() => ctrl.disconnect());
  await roundTrip(ctrl, 5);
  const s = dev.getStats();
  assert.deepEqual([s.rx_nvmeotcp_sk_add, s.rx_nvmeotcp_sk_add_fail, s.rx_nvmeotcp_ddp_setup, s.rx_nvmeotcp_packets], [0, 0, 0, 0]);
  await new Promise((r) => setImmediate(r));
  const tlsNotes = seen.filter((w) => (w as { code?: string }).code === 'NVMEOTCP_OFFLOAD_TLS');
  assert.equal(tlsNotes.length, 1);
  assert.match(tlsNotes[0]!.message, /receive offload not attached: the NIC cannot place payload inside TLS records/);
});
