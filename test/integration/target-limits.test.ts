// What an outside peer can make the target hold is bounded: a connection that does
// not complete ICReq and Connect in time is closed; connections beyond the cap, and
// beyond the cap of connections still without a controller, are closed at accept.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/protocol/errors.ts';
import { NvmeTarget, type TargetOptions } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:limits';

async function target(t: { after(fn: () => Promise<void>): void }, o: TargetOptions): Promise<{ tgt: NvmeTarget; port: number }> {
  const tgt = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: 1 << 20 } }] }], ...o });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  return { tgt, port };
}

/** A plain TCP connection that says nothing; resolves with it once connected. */
async function silent(t: { after(fn: () => void): void }, port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  t.after(() => s.destroy());
  await once(s, 'connect');
  return s;
}

/** Resolves once the target closed `s` (the peer sees EOF or a reset). */
function closedByPeer(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    s.on('close', () => resolve());
    s.resume();
  });
}

/** Polls until `cond` holds; gives up (a hang guard, not a timing assertion) after 30 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 6000) throw new Error('condition not reached in 30 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('target limits - a socket that never sends an ICReq is closed after the handshake deadline', async (t) => {
  const { tgt, port } = await target(t, { handshakeTimeoutMs: 100 });
  const s = await silent(t, port);
  await until(() => tgt.connectionCounts.open === 1);
  await closedByPeer(s);
  await until(() => tgt.connectionCounts.open === 0);
  assert.deepEqual(tgt.connectionCounts, { open: 0, pending: 0, refused: 0 });
});

test('target limits - ICReq without a Connect is closed too; a connected admin queue is kept', async (t) => {
  const { tgt, port } = await target(t, { handshakeTimeoutMs: 150 });
  const idle = await RawClient.open(port);
  t.after(() => idle.close());
  const admin = await RawClient.open(port);
  t.after(() => admin.close());
  await admin.adminConnect(NQN);
  await idle.closed;
  // Well past the deadline the admin queue still answers.
  await new Promise((r) => setTimeout(r, 200));
  const id = await admin.identify(1);
  assert.equal(id.cqe?.status, 0);
  assert.equal(tgt.connectionCounts.open, 1);
  assert.equal(tgt.connectionCounts.pending, 0);
});

test('target limits - connections beyond maxConnections are closed at accept and counted', async (t) => {
  const { tgt, port } = await target(t, { maxConnections: 3 });
  const kept = [await silent(t, port), await silent(t, port), await silent(t, port)];
  await until(() => tgt.connectionCounts.open === 3);
  const extra = await silent(t, port);
  await closedByPeer(extra);
  assert.deepEqual(tgt.connectionCounts, { open: 3, pending: 3, refused: 1 });
  // Closing one makes room again.
  kept[0]!.destroy();
  await until(() => tgt.connectionCounts.open === 2);
  const again = await RawClient.open(port);
  t.after(() => again.close());
  await again.adminConnect(NQN);
  assert.deepEqual(tgt.connectionCounts, { open: 3, pending: 2, refused: 1 });
});

test('target limits - connections without a controller are capped; associated ones do not count', async (t) => {
  const { tgt, port } = await target(t, { maxPendingConnections: 2 });
  const a = await RawClient.open(port);
  t.after(() => a.close());
  await a.adminConnect(NQN); // associated: no longer pending
  await silent(t, port);
  await silent(t, port);
  await until(() => tgt.connectionCounts.pending === 2);
  const extra = await silent(t, port);
  await closedByPeer(extra);
  assert.deepEqual(tgt.connectionCounts, { open: 3, pending: 2, refused: 1 });
});

test('target limits - the options are validated', () => {
  assert.throws(() => new NvmeTarget({ maxConnections: 0 }), InvalidArgumentError);
  assert.throws(() => new NvmeTarget({ handshakeTimeoutMs: -1 }), InvalidArgumentError);
  assert.throws(() => new NvmeTarget({ maxPendingConnections: 1.5 }), InvalidArgumentError);
});
