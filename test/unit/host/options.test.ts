import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveOptions } from '../../../src/host/options.ts';
import { NQN_DISCOVERY } from '../../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';
import { CATTR_DISABLE_SQFLOW } from '../../../src/protocol/fabrics.ts';

const base = { traddr: '127.0.0.1', subnqn: 'nqn.2024-01.io.nvmeotcp:test' };

test('host options - defaults: port 4420, one I/O queue of 128, KATO 5 s, 30 s I/O and 10 s connect bounds', () => {
  const o = resolveOptions(base);
  assert.equal(o.host, '127.0.0.1');
  assert.equal(o.port, 4420);
  assert.equal(o.nrIoQueues, 1);
  assert.equal(o.queueSize, 128);
  assert.equal(o.kato, 5000);
  assert.equal(o.ioTimeoutMs, 30_000);
  assert.equal(o.connectTimeoutMs, 10_000);
  assert.equal(o.hdgst, false);
  assert.equal(o.ddgst, false);
  assert.equal(o.leastLoaded, false);
  assert.equal(o.cattr, 0);
  assert.equal(o.poll, false);
  assert.equal(o.offload, undefined);
  assert.equal(o.discovery, false);
});

test('host options - the discovery NQN means a discovery controller without keep-alive by default', () => {
  const o = resolveOptions({ ...base, subnqn: NQN_DISCOVERY });
  assert.equal(o.discovery, true);
  assert.equal(o.kato, 0);
  assert.equal(resolveOptions({ ...base, subnqn: NQN_DISCOVERY, kato: 1000 }).kato, 1000);
});

test('host options - hostid: random by default, a UUID string or 16 bytes; hostnqn follows it', () => {
  const a = resolveOptions(base);
  const b = resolveOptions(base);
  assert.equal(a.hostid.length, 16);
  assert.notDeepEqual(a.hostid, b.hostid);
  const o = resolveOptions({ ...base, hostid: '72d9dfbb-718e-4df0-9208-ad226653fa5b' });
  assert.equal(o.hostid.toString('hex'), '72d9dfbb718e4df09208ad226653fa5b');
  assert.equal(o.hostnqn, 'nqn.2014-08.org.nvmexpress:uuid:72d9dfbb-718e-4df0-9208-ad226653fa5b');
  const raw = Buffer.alloc(16, 0xab);
  assert.equal(resolveOptions({ ...base, hostid: raw }).hostid, raw);
  assert.equal(resolveOptions({ ...base, hostnqn: 'nqn.x' }).hostnqn, 'nqn.x');
  assert.throws(() => resolveOptions({ ...base, hostid: 'not-a-uuid' }), /hostid: "not-a-uuid" is not a UUID/);
  assert.throws(() => resolveOptions({ ...base, hostid: Buffer.alloc(15) }), /hostid: expected 16 bytes/);
});

test('host options - trsvcid as a number or a string, range-checked', () => {
  assert.equal(resolveOptions({ ...base, trsvcid: '8009' }).port, 8009);
  assert.equal(resolveOptions({ ...base, trsvcid: 4421 }).port, 4421);
  assert.throws(() => resolveOptions({ ...base, trsvcid: 0 }), /trsvcid: 0 is not an integer in 1\.\.65535/);
  assert.throws(() => resolveOptions({ ...base, trsvcid: 'x' }), /trsvcid: NaN/);
});

test('host options - traddr and subnqn are required; every number names its option when out of range', () => {
  assert.throws(() => resolveOptions({ ...base, traddr: '' }), /traddr: required/);
  assert.throws(() => resolveOptions({ ...base, subnqn: '' }), /subnqn: required/);
  const bad: [string, Record<string, number>][] = [
    ['nrIoQueues', { nrIoQueues: 0 }],
    ['queueSize', { queueSize: 1 }],
    ['queueSize', { queueSize: 0x10001 }],
    ['kato', { kato: -1 }],
    ['ioTimeoutMs', { ioTimeoutMs: 0 }],
    ['connectTimeoutMs', { connectTimeoutMs: 1.5 }],
  ];
  for (const [name, o] of bad) {
    assert.throws(
      () => resolveOptions({ ...base, ...o }),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith(`${name}: `),
      name,
    );
  }
});

test('host options - disableSqFlow sets CATTR.DISSQFC; least-loaded policy, digests and poll pass through', () => {
  const o = resolveOptions({ ...base, disableSqFlow: true, queuePolicy: 'least-loaded', hdgst: true, ddgst: true, poll: true });
  assert.equal(o.cattr, CATTR_DISABLE_SQFLOW);
  assert.equal(o.leastLoaded, true);
  assert.equal(o.hdgst, true);
  assert.equal(o.ddgst, true);
  assert.equal(o.poll, true);
});
