import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NQN_DISCOVERY } from '../../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import { discoveryEntries, traddrFor } from '../../../src/target/discovery.ts';
import { resolveOptions } from '../../../src/target/options.ts';
import { Subsystem } from '../../../src/target/subsystem.ts';
import { NvmeTarget } from '../../../src/target/target.ts';

test('target options - defaults and the derived limits', () => {
  const o = resolveOptions({});
  assert.equal(o.inCapsuleDataSize, 8192);
  assert.equal(o.adminInCapsuleDataSize, 8192);
  assert.equal(o.maxH2CData, 131072);
  assert.equal(o.c2hMaxData, 131072);
  assert.equal(o.mqes, 127);
  assert.equal(o.maxIoQueues, 8);
  assert.equal(o.mdts, 5);
  assert.equal(o.maxTransfer, 128 * 1024);
  assert.equal(resolveOptions({ inCapsuleDataSize: 16384 }).adminInCapsuleDataSize, 16384);
  assert.equal(resolveOptions({ mdts: 0 }).maxTransfer, 4 << 20);
});

test('target options - MAXH2CDATA must be a multiple of 4 and at least 4096', () => {
  assert.throws(() => resolveOptions({ maxH2CData: 4094 }), InvalidArgumentError);
  assert.throws(() => resolveOptions({ maxH2CData: 4098 }), InvalidArgumentError);
  assert.equal(resolveOptions({ maxH2CData: 4096 }).maxH2CData, 4096);
  assert.throws(() => resolveOptions({ inCapsuleDataSize: 100 }), InvalidArgumentError);
});

test('target subsystem - NSIDs default to the next free one; duplicates and bad sizes are refused', () => {
  const s = new Subsystem(
    {
      nqn: 'nqn.x:a',
      namespaces: [
        { backend: { kind: 'ram', size: 1 << 20 } },
        { nsid: 5, backend: { kind: 'ram', size: 1 << 20 }, lbaSize: 4096 },
        { backend: { kind: 'ram', size: (1 << 20) + 512 } },
      ],
    },
    1 << 30,
  );
  assert.deepEqual(s.nsids, [1, 5, 6]);
  assert.equal(s.nn, 6);
  assert.equal(s.namespaces.get(5)!.nlba, 256);
  assert.equal(s.namespaces.get(6)!.nlba, 2049);
  assert.equal(s.allowAnyHost, true);
  const dup = { nqn: 'nqn.x:b', namespaces: [{ nsid: 2, backend: { kind: 'ram' as const, size: 4096 } }] };
  dup.namespaces.push(dup.namespaces[0]);
  assert.throws(() => new Subsystem(dup, 1 << 30), InvalidArgumentError);
  assert.throws(
    () => new Subsystem({ nqn: 'nqn.x:c', namespaces: [{ backend: { kind: 'ram', size: 2 << 20 } }] }, 1 << 20),
    InvalidArgumentError,
  );
  assert.throws(() => new Subsystem({ nqn: '' }, 1 << 20), InvalidArgumentError);
  // A size that is not whole blocks is refused, never rounded down in silence.
  assert.throws(
    () => new Subsystem({ nqn: 'nqn.x:d', namespaces: [{ backend: { kind: 'ram', size: (1 << 20) + 100 } }] }, 1 << 30),
    /nsid 1: size 1048676 is not a multiple of the 512-byte block size/,
  );
  assert.throws(
    () =>
      new Subsystem(
        { nqn: 'nqn.x:d', namespaces: [{ lbaSize: 4096, backend: { kind: 'file', path: '/nonexistent/x', size: 6144 } }] },
        1 << 30,
      ),
    /size 6144 is not a multiple of the 4096-byte block size/,
  );
});

test('target subsystem - an allow-list turns off allow-any unless asked for', () => {
  const s = new Subsystem({ nqn: 'nqn.x:d', allowedHosts: ['h1'] }, 1 << 20);
  assert.equal(s.allowsHost('h1'), true);
  assert.equal(s.allowsHost('h2'), false);
  const t = new Subsystem({ nqn: 'nqn.x:e', allowedHosts: ['h1'], allowAnyHost: true }, 1 << 20);
  assert.equal(t.allowsHost('h2'), true);
});

test('target - the discovery subsystem cannot be configured, nor a subsystem twice', () => {
  assert.throws(() => new NvmeTarget({ subsystems: [{ nqn: NQN_DISCOVERY }] }), InvalidArgumentError);
  assert.throws(() => new NvmeTarget({ subsystems: [{ nqn: 'nqn.x:f' }, { nqn: 'nqn.x:f' }] }), InvalidArgumentError);
});

test('target discovery - wildcard listeners report the connection local address, IPv4-mapped unwrapped', () => {
  const l = (host: string) => ({ host, port: 1, portid: 1, subsystems: undefined });
  assert.equal(traddrFor(l('0.0.0.0'), '192.0.2.7'), '192.0.2.7');
  assert.equal(traddrFor(l('::'), '::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(traddrFor(l('::'), '::1'), '::1');
  assert.equal(traddrFor(l('10.0.0.1'), '127.0.0.1'), '10.0.0.1');
});

test("target discovery - entries: the current discovery subsystem first, then the port's linked subsystems the host may use", () => {
  const subs = [
    new Subsystem({ nqn: 'nqn.x:s1' }, 1 << 20),
    new Subsystem({ nqn: 'nqn.x:s2', allowedHosts: ['other'] }, 1 << 20),
    new Subsystem({ nqn: 'nqn.x:s3' }, 1 << 20),
  ];
  const all = { host: '127.0.0.1', port: 4420, portid: 1, subsystems: undefined };
  const v6 = { host: '::1', port: 4421, portid: 2, subsystems: new Set(['nqn.x:s2', 'nqn.x:s3']) };
  const rows = (e: ReturnType<typeof discoveryEntries>) =>
    e.map((x) => [x.subtype, x.subnqn, x.traddr, x.trsvcid, x.adrfam, x.portid, x.asqsz, x.eflags]);
  assert.deepEqual(rows(discoveryEntries(subs, all, 'me', '127.0.0.1', 128)), [
    [3, NQN_DISCOVERY, '127.0.0.1', '4420', 1, 1, 128, 0],
    [2, 'nqn.x:s1', '127.0.0.1', '4420', 1, 1, 128, 0],
    [2, 'nqn.x:s3', '127.0.0.1', '4420', 1, 1, 128, 0],
  ]);
  assert.deepEqual(rows(discoveryEntries(subs, v6, 'me', '::1', 32)), [
    [3, NQN_DISCOVERY, '::1', '4421', 2, 2, 32, 0],
    [2, 'nqn.x:s3', '::1', '4421', 2, 2, 32, 0],
  ]);
  assert.deepEqual(
    discoveryEntries(subs, v6, 'other', '::1', 32).map((x) => x.subnqn),
    [NQN_DISCOVERY, 'nqn.x:s2', 'nqn.x:s3'],
  );
});

test('target namespaceBytes - a copy (across RAM chunks), and a bad namespace or range is an InvalidArgumentError', async (t) => {
  const nqn = 'nqn.x:bytes';
  const tgt = new NvmeTarget({ subsystems: [{ nqn, namespaces: [{ backend: { kind: 'ram', size: 3 << 20 } }] }] });
  t.after(() => tgt.close());
  const b = await tgt.namespaceBytes(nqn, 1, (1 << 20) - 8, 1 << 20);
  assert.deepEqual(b, Buffer.alloc(1 << 20));
  b.fill(0xff);
  assert.deepEqual(await tgt.namespaceBytes(nqn, 1, 0, 3 << 20), Buffer.alloc(3 << 20));
  await assert.rejects(tgt.namespaceBytes(nqn, 2, 0, 1), InvalidArgumentError);
  await assert.rejects(tgt.namespaceBytes(nqn, 1, (3 << 20) - 1, 2), InvalidArgumentError);
});
