// The target's data buffers come from one budget across all connections: over it,
// file reads and R2T writes wait; queues that never read their responses cannot make
// the target allocate without bound; queues that go away leave nothing behind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRwSqe } from '../../src/protocol/admin.ts';
import { IoOpc, PduType } from '../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../src/protocol/errors.ts';
import { parseCqe } from '../../src/protocol/sqe.ts';
import { type BackendConfig, NvmeTarget } from '../../src/target/index.ts';
import { Prng } from '../helpers/prng.ts';
import { RawClient, type RawPdu } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:budget';
const LBA = 4096;
const IO = 128 * 1024;
const NLB = IO / LBA;
const BUDGET = 1 << 20;
const NS_BYTES = 4 << 20;

type T = { after(fn: () => unknown): void };

/** Polls until `cond` holds; gives up (a hang guard, not a timing assertion) after 30 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 6000) throw new Error(`${what}: not reached in 30 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A target whose budget is BUDGET; each queue may hold `queueBudget` of it (by default all of it). */
async function target(t: T, backend: BackendConfig, queueBudget = BUDGET): Promise<{ tgt: NvmeTarget; port: number }> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn: NQN, namespaces: [{ backend, lbaSize: LBA }] }],
    dataBudgetBytes: BUDGET,
    queueDataBudgetBytes: queueBudget,
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  return { tgt, port };
}

/** A file namespace holding `content`. */
function fileNs(t: T, content: Buffer): BackendConfig {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-budget-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ns.img');
  writeFileSync(path, content);
  return { kind: 'file', path };
}

/** An admin queue and `n` I/O queues (SQSIZE 127) of one controller. */
async function queues(t: T, port: number, n: number): Promise<RawClient[]> {
  const admin = await RawClient.open(port);
  t.after(() => admin.close());
  const cntlid = await admin.adminConnect(NQN);
  const out: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const q = await RawClient.open(port);
    t.after(() => q.close());
    const cqe = await q.connectQueue({ qid: i + 1, subnqn: NQN, cntlid, sqsize: 127 });
    assert.equal(cqe.status, 0);
    out.push(q);
  }
  return out;
}

/** Samples the budget on every timer tick until stopped: the largest `used` seen. */
function sampler(t: T, tgt: NvmeTarget): { maxUsed: number; maxWaiting: number } {
  const s = { maxUsed: 0, maxWaiting: 0 };
  const timer = setInterval(() => {
    const b = tgt.bufferBudget();
    s.maxUsed = Math.max(s.maxUsed, b.used);
    s.maxWaiting = Math.max(s.maxWaiting, b.waiting);
  }, 1);
  t.after(() => clearInterval(timer));
  return s;
}

const writeSqe = (q: RawClient, slba: number, inCapsule = false, len = IO) =>
  buildRwSqe({ cid: q.cid(), opc: IoOpc.Write, nsid: 1, slba, nlb: len / LBA, len, inCapsule });

/** Stops reading `q` and fills its SQ with 128 reads of 128 KiB whose answers it never reads. */
function fillWithUnreadReads(q: RawClient): void {
  q.socket.pause();
  const pdus: Buffer[] = [];
  for (let i = 0; i < 128; i++) {
    const slba = (i % (NS_BYTES / IO)) * NLB;
    pdus.push(...q.capsule(buildRwSqe({ cid: q.cid(), opc: IoOpc.Read, nsid: 1, slba, nlb: NLB, len: IO, inCapsule: false })));
  }
  q.send(...pdus);
}

const cqeOf = (p: RawPdu) => parseCqe((p.hdr as { cqe: Buffer }).cqe);

test('target budget - queues that never read their file reads: used stays within the limit, commands wait, all returns once they close', async (t) => {
  const content = new Prng(7).bytes(NS_BYTES);
  const { tgt, port } = await target(t, fileNs(t, content));
  const [good, ...bad] = await queues(t, port, 5);
  const seen = sampler(t, tgt);
  // Four queues each fill their SQ with 128 reads of 128 KiB (64 MiB against a 1 MiB
  // budget) and never read a byte of the answers.
  for (const q of bad) fillWithUnreadReads(q);
  await until(() => tgt.bufferBudget().waiting > 0 && tgt.bufferBudget().used > BUDGET / 2, 'reads waiting for buffers');
  // Another queue's read, sent while the budget is held: it completes, correct, at the
  // latest once the queues holding the budget are gone.
  const read = good.read(1, 3 * NLB, NLB, LBA);
  for (const q of bad) q.close();
  const r = await read;
  assert.equal(r.cqe?.status, 0);
  assert.deepEqual(r.data, content.subarray(3 * IO, 4 * IO));
  await until(() => tgt.bufferBudget().used === 0 && tgt.bufferBudget().waiting === 0, 'budget back to 0');
  const b = tgt.bufferBudget();
  assert.ok(seen.maxUsed <= BUDGET, `used ${seen.maxUsed} sampled above the limit`);
  assert.ok(b.peak <= BUDGET, `peak ${b.peak} above the limit`);
  assert.ok(b.peak >= BUDGET / 2);
  assert.ok(seen.maxWaiting > 0);
  assert.ok(b.used + b.pooled <= BUDGET);
  // The queue is still fine afterwards.
  const again = await good.read(1, 0, NLB, LBA);
  assert.deepEqual(again.data, content.subarray(0, IO));
});

test('target budget - fair between queues: non-reading queues hold at most their share, and a normal queue is served while they still hold it', async (t) => {
  const QUEUE_BUDGET = 2 * IO;
  const content = new Prng(8).bytes(NS_BYTES);
  const { tgt, port } = await target(t, fileNs(t, content), QUEUE_BUDGET);
  const [good, ...bad] = await queues(t, port, 4);
  const seen = sampler(t, tgt);
  // Three queues ask for 128 reads of 128 KiB each and never read an answer: each
  // can pin its 256 KiB share, no more (3 × 256 KiB of the 1 MiB budget).
  for (const q of bad) fillWithUnreadReads(q);
  await until(() => tgt.bufferBudget().used >= bad.length * QUEUE_BUDGET && tgt.bufferBudget().waiting > 0, 'the queues hold their shares');
  // The normal queue's reads complete, correct, while the others still hold theirs.
  for (let i = 0; i < 8; i++) {
    const r = await good.read(1, i * NLB, NLB, LBA);
    assert.equal(r.cqe?.status, 0);
    assert.deepEqual(r.data, content.subarray(i * IO, (i + 1) * IO));
  }
  const b = tgt.bufferBudget();
  assert.ok(b.waiting > 0, 'the non-reading queues are still waiting');
  assert.ok(b.used >= bad.length * QUEUE_BUDGET, `used ${b.used}: the non-reading queues still hold their shares`);
  assert.ok(seen.maxUsed <= (bad.length + 1) * QUEUE_BUDGET, `used ${seen.maxUsed} sampled above the queues' shares`);
  assert.ok(b.peak <= BUDGET);
  for (const q of bad) q.close();
  await until(() => tgt.bufferBudget().used === 0 && tgt.bufferBudget().waiting === 0, 'budget back to 0');
});

test('target budget - R2T writes over the budget: R2Ts wait for buffers, in order; in-capsule data is taken over it; all complete with the data written', async (t) => {
  const { tgt, port } = await target(t, { kind: 'ram', size: NS_BYTES });
  const [q] = await queues(t, port, 1);
  const rng = new Prng(9);
  const N = 16;
  const cids: number[] = [];
  const data = new Map<number, { slba: number; buf: Buffer }>();
  const pdus: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    const sqe = writeSqe(q, i * NLB);
    const cid = sqe.readUInt16LE(2);
    cids.push(cid);
    data.set(cid, { slba: i * NLB, buf: rng.bytes(IO) });
    pdus.push(...q.capsule(sqe));
  }
  q.send(...pdus);
  // 16 × 128 KiB against 1 MiB: 8 R2Ts now, 8 commands waiting.
  const r2ts: RawPdu[] = [];
  while (r2ts.length < 8) r2ts.push((await q.nextPdu())!);
  await until(() => tgt.bufferBudget().waiting === 8, '8 writes waiting');
  assert.deepEqual(tgt.bufferBudget(), { limit: BUDGET, used: BUDGET, peak: BUDGET, waiting: 8, pooled: 0 });
  assert.ok(r2ts.every((p) => p.hdr.type === PduType.R2T));
  assert.deepEqual(
    r2ts.map((p) => (p.hdr as { cccid: number }).cccid),
    cids.slice(0, 8),
  );
  // In-capsule data arrives with its command and cannot wait: it is charged over the
  // limit and the write completes while the R2T writes still hold the budget.
  const icd = rng.bytes(8192);
  const icSqe = writeSqe(q, N * NLB, true, icd.length);
  q.send(...q.capsule(icSqe, icd));
  const icResp = (await q.nextPdu())!;
  assert.equal(icResp.hdr.type, PduType.CapsuleResp);
  assert.equal(cqeOf(icResp).cid, icSqe.readUInt16LE(2));
  assert.equal(cqeOf(icResp).status, 0);
  assert.equal(tgt.bufferBudget().peak, BUDGET + 8192, 'charged over the limit, then released');
  // Answer every R2T as it comes; each completion lets a waiting write's R2T go.
  const answer = (p: RawPdu) => {
    const h = p.hdr as { cccid: number; ttag: number; r2to: number; r2tl: number };
    assert.equal(h.r2to, 0);
    assert.equal(h.r2tl, IO);
    const d = data.get(h.cccid)!.buf;
    for (let off = 0; off < IO; off += q.maxh2cdata) {
      const end = Math.min(IO, off + q.maxh2cdata);
      q.send(...q.h2cData(h.cccid, h.ttag, off, d.subarray(off, end), end === IO));
    }
  };
  for (const p of r2ts) answer(p);
  const order = r2ts.map((p) => (p.hdr as { cccid: number }).cccid);
  let done = 0;
  while (done < N) {
    const p = (await q.nextPdu())!;
    if (p.hdr.type === PduType.R2T) {
      order.push((p.hdr as { cccid: number }).cccid);
      answer(p);
      continue;
    }
    assert.equal(p.hdr.type, PduType.CapsuleResp);
    assert.equal(cqeOf(p).status, 0);
    done++;
  }
  assert.deepEqual(order, cids, 'R2Ts in the order the writes arrived');
  for (const { slba, buf } of data.values()) assert.deepEqual(await tgt.namespaceBytes(NQN, 1, slba * LBA, IO), buf);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, N * IO, icd.length), icd);
  const b = tgt.bufferBudget();
  assert.equal(b.used, 0);
  assert.equal(b.waiting, 0);
});

test('target budget - a queue closed with writes waiting and data half sent leaks nothing; its waiters leave the line at once', async (t) => {
  const { tgt, port } = await target(t, { kind: 'ram', size: NS_BYTES });
  const [holder, q, q2] = await queues(t, port, 3);
  // The holder takes 6 of the 8 buffers of 128 KiB and sits on its R2Ts for now.
  const held: Buffer[] = [];
  for (let i = 0; i < 6; i++) held.push(...holder.capsule(writeSqe(holder, i * NLB)));
  holder.send(...held);
  const holderR2ts: RawPdu[] = [];
  while (holderR2ts.length < 6) holderR2ts.push((await holder.nextPdu())!);
  // q gets the 2 left and waits for 4 more.
  const pdus: Buffer[] = [];
  for (let i = 0; i < 6; i++) pdus.push(...q.capsule(writeSqe(q, (8 + i) * NLB)));
  q.send(...pdus);
  const first = (await q.nextPdu())!;
  assert.equal(first.hdr.type, PduType.R2T);
  await until(() => tgt.bufferBudget().waiting === 4, '4 writes waiting');
  assert.equal(tgt.bufferBudget().used, BUDGET);
  // Half of q's first write's data, then q goes away: its waiters leave the line and
  // its buffers come back while the holder still holds its own.
  const h = first.hdr as { cccid: number; ttag: number };
  q.send(...q.h2cData(h.cccid, h.ttag, 0, Buffer.alloc(IO / 2, 1), false));
  q.close();
  await until(() => tgt.bufferBudget().used === 6 * IO, "q's buffers back");
  assert.equal(tgt.bufferBudget().waiting, 0);
  // The holder takes the last 2; q2's writes all wait, and leave the line when q2
  // closes although nothing is released meanwhile.
  const more = [...holder.capsule(writeSqe(holder, 6 * NLB)), ...holder.capsule(writeSqe(holder, 7 * NLB))];
  holder.send(...more);
  while (holderR2ts.length < 8) holderR2ts.push((await holder.nextPdu())!);
  const waits: Buffer[] = [];
  for (let i = 0; i < 3; i++) waits.push(...q2.capsule(writeSqe(q2, (8 + i) * NLB)));
  q2.send(...waits);
  await until(() => tgt.bufferBudget().waiting === 3, "q2's writes waiting");
  q2.close();
  await until(() => tgt.bufferBudget().waiting === 0, "q2's waiters gone");
  assert.equal(tgt.bufferBudget().used, BUDGET);
  // The holder's writes finish; then everything is back.
  const d = new Prng(4).bytes(IO);
  for (const p of holderR2ts) {
    const r = p.hdr as { cccid: number; ttag: number };
    holder.send(...holder.h2cData(r.cccid, r.ttag, 0, d, true));
  }
  for (let i = 0; i < 8; i++) {
    const p = (await holder.nextPdu())!;
    assert.equal(p.hdr.type, PduType.CapsuleResp);
    assert.equal(cqeOf(p).status, 0);
  }
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 7 * IO, IO), d);
  assert.equal(tgt.bufferBudget().used, 0);
  assert.equal(tgt.bufferBudget().waiting, 0);
});

test('target budget - the budget must hold the largest transfer; the default is 256 MiB', () => {
  assert.throws(
    () => new NvmeTarget({ dataBudgetBytes: 64 * 1024 }),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, /^dataBudgetBytes: 65536 is below 131072/);
      return true;
    },
  );
  assert.throws(() => new NvmeTarget({ dataBudgetBytes: 1.5 }), InvalidArgumentError);
  assert.equal(new NvmeTarget({ mdts: 0, dataBudgetBytes: 4 << 20 }).bufferBudget().limit, 4 << 20);
  assert.throws(() => new NvmeTarget({ mdts: 0, dataBudgetBytes: 1 << 20 }), InvalidArgumentError);
  assert.deepEqual(new NvmeTarget().bufferBudget(), { limit: 256 << 20, used: 0, peak: 0, waiting: 0, pooled: 0 });
});
