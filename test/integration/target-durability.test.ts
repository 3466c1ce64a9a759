// Nothing acknowledged is lost: with the volatile write cache off (Set Features VWC
// = 0), or with FUA, a write to a file namespace is flushed to stable storage before
// its completion; a write-through namespace (`sync`) is opened with O_DSYNC and needs
// no flush. The flushes are counted with a spy on the file backend.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildGetFeaturesSqe, buildRwSqe, buildSetFeaturesSqe, buildWriteZeroesSqe } from '../../src/protocol/admin.ts';
import { FeatureId, IoOpc } from '../../src/protocol/constants.ts';
import { FileBackend } from '../../src/target/backends/file.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:durable';
const LBA = 4096;

interface Rig {
  admin: RawClient;
  io: RawClient;
  path: string;
  /** Order of backend writes and flushes, as they started. */
  ops: string[];
}

async function rig(t: { after(fn: () => unknown): void }, sync = false): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ns.img');
  const ops: string[] = [];
  const proto = FileBackend.prototype;
  const { flush, write } = proto;
  proto.flush = function (this: FileBackend) {
    ops.push('flush');
    return flush.call(this);
  };
  proto.write = function (this: FileBackend, off: number, data: Buffer) {
    ops.push('write');
    return write.call(this, off, data);
  };
  t.after(() => {
    proto.flush = flush;
    proto.write = write;
  });
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ backend: { kind: 'file', path, size: 1 << 20, sync }, lbaSize: LBA }] }],
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  const admin = await RawClient.open(port);
  t.after(() => admin.close());
  const cntlid = await admin.adminConnect(NQN);
  const io = await RawClient.open(port);
  t.after(() => io.close());
  const c = await io.connectQueue({ qid: 1, subnqn: NQN, cntlid });
  assert.equal(c.status, 0);
  return { admin, io, path, ops };
}

async function setVwc(a: RawClient, on: boolean): Promise<void> {
  const r = await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.VolatileWriteCache, dw11: on ? 1 : 0 }));
  assert.equal(r.cqe?.status, 0);
  const g = await a.exchange(buildGetFeaturesSqe({ cid: a.cid(), fid: FeatureId.VolatileWriteCache }));
  assert.equal(g.cqe?.dw0, on ? 1 : 0, 'Get Features reports what the target does');
}

test('target durability - VWC on (default): a plain write is not flushed', async (t) => {
  const r = await rig(t);
  assert.equal((await r.io.write(1, 0, Buffer.alloc(LBA, 1), LBA, true)).cqe?.status, 0);
  assert.deepEqual(r.ops, ['write']);
});

test('target durability - VWC off: every write is flushed before it completes, and is in the file', async (t) => {
  const r = await rig(t);
  await setVwc(r.admin, false);
  for (let i = 0; i < 3; i++) {
    const data = Buffer.alloc(LBA, 0x40 + i);
    assert.equal((await r.io.write(1, i, data, LBA, true)).cqe?.status, 0);
    // The completion came after the flush: the bytes are in the file now.
    assert.deepEqual(readFileSync(r.path).subarray(i * LBA, (i + 1) * LBA), data);
  }
  assert.deepEqual(r.ops, ['write', 'flush', 'write', 'flush', 'write', 'flush']);
  // R2T writes (data not in the capsule) too.
  assert.equal((await r.io.write(1, 8, Buffer.alloc(4 * LBA, 9), LBA, false)).cqe?.status, 0);
  assert.deepEqual(r.ops.slice(-2), ['write', 'flush']);
  // Write Zeroes as well.
  const wz = await r.io.exchange(buildWriteZeroesSqe({ cid: r.io.cid(), nsid: 1, slba: 0, nlb: 2 }));
  assert.equal(wz.cqe?.status, 0);
  assert.equal(r.ops.at(-1), 'flush');
  // VWC back on: no flush.
  await setVwc(r.admin, true);
  const n = r.ops.length;
  await r.io.write(1, 3, Buffer.alloc(LBA, 3), LBA, true);
  assert.deepEqual(r.ops.slice(n), ['write']);
});

test('target durability - FUA forces a flush of that write with VWC on', async (t) => {
  const r = await rig(t);
  const sqe = buildRwSqe({ cid: r.io.cid(), opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 1, len: LBA, inCapsule: true, fua: true });
  assert.equal((await r.io.exchange(sqe, { icd: Buffer.alloc(LBA, 5) })).cqe?.status, 0);
  assert.deepEqual(r.ops, ['write', 'flush']);
});

test('target durability - a write-through (sync) namespace needs no flush even with VWC off', async (t) => {
  const r = await rig(t, true);
  await setVwc(r.admin, false);
  const data = Buffer.alloc(LBA, 0x77);
  assert.equal((await r.io.write(1, 0, data, LBA, true)).cqe?.status, 0);
  assert.deepEqual(r.ops, ['write']);
  assert.deepEqual(readFileSync(r.path).subarray(0, LBA), data);
});
