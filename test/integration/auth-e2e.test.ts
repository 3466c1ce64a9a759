// DH-HMAC-CHAP between our host and our target: every hash × DH group, with and
// without bidirectional authentication, wrong keys, re-authentication.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { NvmeController } from '../../src/host/index.ts';
import { AuthHash, type DhGroup, dhGroupName, formatDhchapKey, hashName } from '../../src/protocol/dhchap.ts';
import { AuthenticationError, NegotiationError } from '../../src/protocol/errors.ts';
import { FailureExp } from '../../src/protocol/auth.ts';
import { type HostConfig, NvmeTarget } from '../../src/target/index.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:auth';
const key = (hmac: 0 | AuthHash = 0, len = 32): string => formatDhchapKey({ hmac, key: randomBytes(len) });

const HOST_KEY = key(1);
const CTRL_KEY = key(0, 48);
const hosts: HostConfig[] = [];
const hostNqn = (h: number, g: number): string => `nqn.2024-01.io.nvmeotcp:host-h${h}-g${g}`;
for (const h of [AuthHash.Sha256, AuthHash.Sha384, AuthHash.Sha512]) {
  for (const g of [0, 1, 2, 3, 4, 5] as DhGroup[]) {
    hosts.push({
      nqn: hostNqn(h, g),
      dhchapKey: HOST_KEY,
      dhchapCtrlKey: CTRL_KEY,
      dhchapHash: hashName(h),
      dhchapDhgroup: dhGroupName(g),
    });
  }
}
const PLAIN = 'nqn.2024-01.io.nvmeotcp:host-plain';
const UNI = 'nqn.2024-01.io.nvmeotcp:host-uni';
hosts.push({ nqn: UNI, dhchapKey: HOST_KEY, dhchapDhgroup: 'ffdhe2048' });

let tgt: NvmeTarget;
let port: number;

before(async () => {
  tgt = new NvmeTarget({
    hosts,
    subsystems: [
      { nqn: NQN, allowedHosts: [...hosts.map((h) => h.nqn), PLAIN], namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] },
    ],
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
});

after(async () => {
  await tgt.close();
});

const connect = (hostnqn: string, o: { dhchapSecret?: string; dhchapCtrlSecret?: string } = {}) =>
  NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn, nrIoQueues: 2, kato: 0, ...o });

async function roundTrip(ctrl: NvmeController): Promise<void> {
  const ns = ctrl.namespace(1);
  const data = randomBytes(4096);
  await ns.write(0, data);
  assert.deepEqual(await ns.read(0, 4096 / ns.lbaSize), data);
}

for (const h of [AuthHash.Sha256, AuthHash.Sha384, AuthHash.Sha512]) {
  for (const g of [0, 1, 2, 3, 4, 5] as DhGroup[]) {
    for (const bidi of [false, true]) {
      test(`dhchap e2e - ${hashName(h)} ${dhGroupName(g)} ${bidi ? 'bidirectional' : 'unidirectional'}: admin and 2 I/O queues authenticate, I/O works`, async (t) => {
        const ctrl = await connect(
          hostNqn(h, g),
          bidi ? { dhchapSecret: HOST_KEY, dhchapCtrlSecret: CTRL_KEY } : { dhchapSecret: HOST_KEY },
        );
        t.after(() => ctrl.disconnect());
        assert.equal(ctrl.ioQueueCount, 2);
        await roundTrip(ctrl);
      });
    }
  }
}

test('dhchap e2e - wrong host secret: the controller answers Failure1 "authentication failed", connect rejects', async () => {
  await assert.rejects(connect(UNI, { dhchapSecret: key(1) }), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError, String(e));
    assert.equal(e.exp, FailureExp.Failed);
    assert.match(e.message, /refused authentication.*explanation 0x01 authentication failed/);
    return true;
  });
});

test('dhchap e2e - wrong controller secret: the host rejects the controller response', async () => {
  await assert.rejects(connect(hostNqn(1, 1), { dhchapSecret: HOST_KEY, dhchapCtrlSecret: key(0, 48) }), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError, String(e));
    assert.equal(e.exp, FailureExp.Failed);
    assert.match(e.message, /does not know the controller secret/);
    return true;
  });
});

test('dhchap e2e - bidirectional asked of a controller without a controller key fails', async () => {
  await assert.rejects(connect(UNI, { dhchapSecret: HOST_KEY, dhchapCtrlSecret: CTRL_KEY }), AuthenticationError);
});

test('dhchap e2e - a host without a secret is told the controller requires authentication', async () => {
  await assert.rejects(connect(UNI), (e: unknown) => e instanceof NegotiationError && /requires authentication/.test(e.message));
});

test('dhchap e2e - a host without a configured key connects with no authentication', async (t) => {
  const ctrl = await connect(PLAIN);
  t.after(() => ctrl.disconnect());
  await roundTrip(ctrl);
});

test('dhchap e2e - reauthenticate runs a new transaction on every queue; I/O continues', async (t) => {
  const ctrl = await connect(hostNqn(2, 1), { dhchapSecret: HOST_KEY, dhchapCtrlSecret: CTRL_KEY });
  t.after(() => ctrl.disconnect());
  await ctrl.reauthenticate();
  await roundTrip(ctrl);
  // A secret the controller does not know: re-authentication fails, and the queues are refused from then on.
  await assert.rejects(ctrl.reauthenticate({ dhchapSecret: key(1) }), AuthenticationError);
  await assert.rejects(ctrl.namespace(1).read(0, 1), /status 0x4191/);
});
