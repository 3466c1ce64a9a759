import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildDsmSqe, buildFlushSqe, buildRwSqe, buildWriteZeroesSqe, DsmAttr, encodeDsmRanges } from '../../src/protocol/admin.ts';
import { IoOpc, OFF, PduFlag } from '../../src/protocol/constants.ts';
import { buildSqe } from '../../src/protocol/sqe.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:io';
const NS_BYTES = 4 << 20;
const NLBA = NS_BYTES / 512;

let tgt: NvmeTarget;
let port: number;
let admin: RawClient;
let cntlid: number;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

before(async () => {
  tgt = new NvmeTarget({
    subsystems: [
      {
        nqn: NQN,
        namespaces: [
          { nsid: 1, backend: { kind: 'ram', size: NS_BYTES } },
          { nsid: 2, backend: { kind: 'ram', size: NS_BYTES }, lbaSize: 4096 },
        ],
      },
    ],
    inCapsuleDataSize: 8192,
    maxH2CData: 16384,
    c2hMaxData: 16384,
    mdts: 5,
    maxIoQueues: 32,
  });
  ({ port } = await tgt.listen({ host: '127.0.0.1', port: 0 }));
  admin = await RawClient.open(port);
  cntlid = await admin.adminConnect(NQN);
});

after(async () => {
  admin.close();
  await tgt.close();
});

async function ioQueue(opts: { hdgst?: boolean; ddgst?: boolean; hpda?: number; cattr?: number } = {}): Promise<RawClient> {
  const q = await RawClient.open(port, opts);
  const cqe = await q.connectQueue({ qid: 1 + ioQueues.length, subnqn: NQN, cntlid, sqsize: 127, cattr: opts.cattr });
  assert.equal(cqe.status, 0);
  ioQueues.push(q);
  return q;
}
const ioQueues: RawClient[] = [];
after(() => {
  for (const q of ioQueues) q.close();
});

test('target write - R2T for the whole transfer, H2CData up to MAXH2CDATA, then read back', async () => {
  const q = await ioQueue();
  const data = pattern(64 * 1024, 1);
  const w = await q.write(1, 100, data, 512, false);
  assert.equal(w.cqe!.status, 0);
  assert.equal(w.r2t.length, 1);
  const r2t = w.r2t[0].raw;
  assert.equal(r2t.readUInt32LE(OFF.R2TO), 0);
  assert.equal(r2t.readUInt32LE(OFF.R2TL), data.length);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 100 * 512, data.length), data);
  const r = await q.read(1, 100, 128, 512);
  assert.equal(r.cqe!.status, 0);
  assert.deepEqual(r.data, data);
});

test('target read - C2HData split into PDUs of c2hMaxData, DATAO contiguous, LAST only on the final one', async () => {
  const q = await ioQueue();
  const data = pattern(40 * 1024, 2);
  await q.write(1, 2000, data, 512, false);
  const r = await q.read(1, 2000, 80, 512);
  assert.equal(r.c2h.length, 3);
  assert.deepEqual(
    r.c2h.map((p) => [p.raw.readUInt32LE(OFF.DATAO), p.raw.readUInt32LE(OFF.DATAL), p.raw[OFF.FLAGS] & PduFlag.LAST_PDU]),
    [
      [0, 16384, 0],
      [16384, 16384, 0],
      [32768, 8192, PduFlag.LAST_PDU],
    ],
  );
  assert.deepEqual(r.data, data);
  assert.equal(r.cqe!.status, 0);
});

test('target write - in-capsule data up to IOCCSZ, no R2T', async () => {
  const q = await ioQueue();
  const data = pattern(8192, 3);
  const w = await q.write(1, 0, data, 512, true);
  assert.equal(w.cqe!.status, 0);
  assert.equal(w.r2t.length, 0);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 0, 8192), data);
});

test('target digests - header and data digests on every PDU, and HPDA pads the C2H data', async () => {
  const q = await ioQueue({ hdgst: true, ddgst: true, hpda: 7 });
  const data = pattern(20 * 1024, 4);
  assert.equal((await q.write(1, 300, data, 512, false)).cqe!.status, 0);
  const r = await q.read(1, 300, 40, 512);
  assert.deepEqual(r.data, data);
  for (const p of r.c2h) {
    assert.equal(p.raw[OFF.FLAGS] & (PduFlag.HDGSTF | PduFlag.DDGSTF), PduFlag.HDGSTF | PduFlag.DDGSTF);
    assert.equal(p.raw[OFF.PDO], 32); // (HPDA 7 + 1) * 4
  }
  assert.equal((await q.write(1, 300, data.subarray(0, 4096), 512, true)).cqe!.status, 0);
});

test('target read - SQ flow control disabled: SQHD 0xFFFF and C2HData SUCCESS with no CapsuleResp', async () => {
  const q = await ioQueue({ cattr: 0x04 });
  const data = pattern(4096, 5);
  const w = await q.write(1, 50, data, 512, false);
  assert.equal(w.cqe!.sqhd, 0xffff);
  const r = await q.read(1, 50, 8, 512);
  assert.equal(r.cqe, undefined);
  assert.equal(r.c2h.length, 1);
  assert.equal(r.c2h[0].raw[OFF.FLAGS] & (PduFlag.LAST_PDU | PduFlag.SUCCESS), PduFlag.LAST_PDU | PduFlag.SUCCESS);
  assert.deepEqual(r.data, data);
  // The next command's response is the next PDU: nothing else was sent for the read.
  assert.equal((await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 1 }))).cqe!.sqhd, 0xffff);
});

test('target read - SQ flow control on: SQHD advances with every command', async () => {
  const q = await ioQueue();
  const a = (await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 1 }))).cqe!.sqhd;
  const b = (await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 1 }))).cqe!.sqhd;
  assert.equal(b, (a + 1) % 128);
});

test('target I/O - LBA range is checked: LBA Out of Range, no data moved, nothing written past the end', async () => {
  const q = await ioQueue();
  const before = await tgt.namespaceBytes(NQN, 1, NS_BYTES - 4096, 4096);
  const w = await q.write(1, NLBA - 4, pattern(4096, 6), 512, false);
  assert.equal(w.cqe!.status, 0x4080);
  assert.equal(w.r2t.length, 0);
  const icd = await q.write(1, NLBA - 4, pattern(4096, 6), 512, true);
  assert.equal(icd.cqe!.status, 0x4080);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, NS_BYTES - 4096, 4096), before);
  const r = await q.read(1, NLBA - 1, 2, 512);
  assert.equal(r.cqe!.status, 0x4080);
  assert.equal(r.c2h.length, 0);
  // The last block itself is fine.
  assert.equal((await q.read(1, NLBA - 1, 1, 512)).cqe!.status, 0);
});

test('target I/O - inactive namespace, unknown opcode, SGL length mismatch', async () => {
  const q = await ioQueue();
  assert.equal((await q.read(7, 0, 1, 512)).cqe!.status, 0x400b);
  assert.equal((await q.exchange(buildSqe({ opc: 0x7e, cid: q.cid(), nsid: 1 }))).cqe!.status, 0x4001);
  const sqe = buildRwSqe({ cid: q.cid(), opc: IoOpc.Read, nsid: 1, slba: 0, nlb: 8, len: 1024, inCapsule: false });
  const r = await q.exchange(sqe);
  assert.equal(r.cqe!.status, 0x400f);
  assert.equal(r.c2h.length, 0);
  // Beyond MDTS (128 KiB).
  const big = buildRwSqe({ cid: q.cid(), opc: IoOpc.Write, nsid: 1, slba: 0, nlb: 512, len: 256 * 1024, inCapsule: false });
  const w = await q.exchange(big);
  assert.equal(w.cqe!.status, 0x400f);
  assert.equal(w.r2t.length, 0);
});

test('target I/O - Write Zeroes, DSM deallocate with a 4096-byte range list, Flush', async () => {
  const q = await ioQueue();
  await q.write(1, 1000, pattern(16 * 512, 7), 512, false);
  const wz = await q.exchange(buildWriteZeroesSqe({ cid: q.cid(), nsid: 1, slba: 1002, nlb: 2 }));
  assert.equal(wz.cqe!.status, 0);
  const got = await tgt.namespaceBytes(NQN, 1, 1000 * 512, 16 * 512);
  assert.deepEqual(got.subarray(1024, 2048), Buffer.alloc(1024));
  assert.deepEqual(got.subarray(0, 1024), pattern(16 * 512, 7).subarray(0, 1024));
  const ranges = encodeDsmRanges([
    { slba: 1008, nlb: 2 },
    { slba: 1012, nlb: 1 },
  ]);
  assert.equal(ranges.length, 4096);
  const dsm = buildDsmSqe({ cid: q.cid(), nsid: 1, nr: 2, attr: DsmAttr.AD, len: 4096, inCapsule: true });
  assert.equal((await q.exchange(dsm, { icd: ranges })).cqe!.status, 0);
  const after = await tgt.namespaceBytes(NQN, 1, 1000 * 512, 16 * 512);
  assert.deepEqual(after.subarray(8 * 512, 10 * 512), Buffer.alloc(1024));
  assert.deepEqual(after.subarray(12 * 512, 13 * 512), Buffer.alloc(512));
  assert.deepEqual(after.subarray(10 * 512, 12 * 512), pattern(16 * 512, 7).subarray(10 * 512, 12 * 512));
  // Ranges through R2T, one of them out of range: nothing is deallocated.
  const bad = encodeDsmRanges([
    { slba: 1000, nlb: 1 },
    { slba: NLBA, nlb: 1 },
  ]);
  const dsm2 = buildDsmSqe({ cid: q.cid(), nsid: 1, nr: 2, attr: DsmAttr.AD, len: 4096, inCapsule: false });
  const r2 = await q.exchange(dsm2, { writeData: bad });
  assert.equal(r2.r2t.length, 1);
  assert.equal(r2.cqe!.status, 0x4080);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 1000 * 512, 512), pattern(512, 7));
  assert.equal((await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 0xffffffff }))).cqe!.status, 0);
  assert.equal((await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 9 }))).cqe!.status, 0x400b);
});

test('target I/O - 4096-byte LBA namespace', async () => {
  const q = await ioQueue();
  const data = pattern(3 * 4096, 8);
  assert.equal((await q.write(2, 5, data, 4096, false)).cqe!.status, 0);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 2, 5 * 4096, data.length), data);
  assert.deepEqual((await q.read(2, 5, 3, 4096)).data, data);
});

test('target file backend - 4096-byte LBAs persist to the file, flushed on close', async (tc) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-target-'));
  const path = join(dir, 'ns.img');
  try {
    const fileNqn = 'nqn.2024-01.io.nvmeotcp:file';
    const t = new NvmeTarget({
      subsystems: [{ nqn: fileNqn, namespaces: [{ backend: { kind: 'file', path, size: 1 << 20 }, lbaSize: 4096 }] }],
    });
    tc.after(() => t.close()); // also when an assertion fails first (close is idempotent)
    const { port: p } = await t.listen({ host: '127.0.0.1', port: 0 });
    assert.equal(statSync(path).size, 1 << 20);
    const c = await RawClient.open(p);
    const id = await c.adminConnect(fileNqn);
    const q = await RawClient.open(p);
    await q.connectQueue({ qid: 1, subnqn: fileNqn, cntlid: id });
    const data = pattern(2 * 4096, 9);
    assert.equal((await q.write(1, 10, data, 4096, false)).cqe!.status, 0);
    assert.equal((await q.write(1, 20, data.subarray(0, 4096), 4096, true)).cqe!.status, 0);
    assert.deepEqual((await q.read(1, 10, 2, 4096)).data, data);
    assert.equal((await q.write(1, 256, data, 4096, false)).cqe!.status, 0x4080);
    const wz = await q.exchange(buildWriteZeroesSqe({ cid: q.cid(), nsid: 1, slba: 11, nlb: 1 }));
    assert.equal(wz.cqe!.status, 0);
    assert.equal((await q.exchange(buildFlushSqe({ cid: q.cid(), nsid: 1 }))).cqe!.status, 0);
    assert.deepEqual(await t.namespaceBytes(fileNqn, 1, 10 * 4096, 4096), data.subarray(0, 4096));
    c.close();
    q.close();
    await t.close();
    const file = readFileSync(path);
    assert.deepEqual(file.subarray(10 * 4096, 11 * 4096), data.subarray(0, 4096));
    assert.deepEqual(file.subarray(11 * 4096, 12 * 4096), Buffer.alloc(4096));
    assert.deepEqual(file.subarray(20 * 4096, 21 * 4096), data.subarray(0, 4096));
    // A new target on the same file sees the data.
    const t2 = new NvmeTarget({
      subsystems: [{ nqn: fileNqn, namespaces: [{ backend: { kind: 'file', path }, lbaSize: 4096 }] }],
    });
    tc.after(() => t2.close());
    await t2.listen({ host: '127.0.0.1', port: 0 });
    assert.deepEqual(await t2.namespaceBytes(fileNqn, 1, 20 * 4096, 4096), data.subarray(0, 4096));
    await t2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
