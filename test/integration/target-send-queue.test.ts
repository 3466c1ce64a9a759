// The target's send side is bounded per connection: a host that never reads its socket
// and sends thousands of small reads cannot make the target queue their data without
// bound. Past SEND_QUEUE_LIMIT bytes waiting for the kernel, the connection takes no
// more commands from its receive buffer (mid-read), another connection keeps working,
// and once the host reads again every command is answered, in order, none lost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRwSqe } from '../../src/protocol/admin.ts';
import { IoOpc, PduType } from '../../src/protocol/constants.ts';
import { parseCqe } from '../../src/protocol/sqe.ts';
import { type BackendConfig, NvmeTarget } from '../../src/target/index.ts';
import { SEND_QUEUE_LIMIT } from '../../src/transport/queue.ts';
import { Prng } from '../helpers/prng.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:sendq';
const LBA = 4096;
const IO = 16 * 1024;
const NLB = IO / LBA;
/** Distinct blocks the reads cycle over. */
const BLOCKS = 64;
const NS_BYTES = BLOCKS * IO;
/** What one small read adds to the send queue: C2HData header, its data, the CapsuleResp. */
const PER_READ = 24 + IO + 24;

type T = { after(fn: () => unknown): void };

/** Polls until `cond` holds; gives up (a hang guard, not a timing assertion) after 60 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 12000) throw new Error(`${what}: not reached in 60 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function target(t: T, backend: BackendConfig): Promise<{ tgt: NvmeTarget; port: number }> {
  const tgt = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ backend, lbaSize: LBA }] }] });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  return { tgt, port };
}

/** An admin queue and I/O queues 1 (the one that will not read) and 2 (a normal one), SQSIZE `sqsize`. */
async function queues(t: T, port: number, sqsize: number): Promise<{ cntlid: number; bad: RawClient; good: RawClient }> {
  const admin = await RawClient.open(port);
  t.after(() => admin.close());
  const cntlid = await admin.adminConnect(NQN);
  const out: RawClient[] = [];
  for (const qid of [1, 2]) {
    const q = await RawClient.open(port);
    t.after(() => q.close());
    const cqe = await q.connectQueue({ qid, subnqn: NQN, cntlid, sqsize });
    assert.equal(cqe.status, 0);
    out.push(q);
  }
  return { cntlid, bad: out[0]!, good: out[1]! };
}

function sendQueueOf(tgt: NvmeTarget, cntlid: number, qid: number) {
  const s = tgt.sendQueues().find((q) => q.cntlid === cntlid && q.qid === qid);
  assert.ok(s !== undefined, `no connection for queue ${qid}`);
  return s;
}

/** `n` read capsules of block (cid % BLOCKS); returns the CIDs in send order. */
function reads(q: RawClient, n: number, pdus: Buffer[]): number[] {
  const cids: number[] = [];
  for (let i = 0; i < n; i++) {
    const cid = q.cid();
    cids.push(cid);
    pdus.push(...q.capsule(buildRwSqe({ cid, opc: IoOpc.Read, nsid: 1, slba: (cid % BLOCKS) * NLB, nlb: NLB, len: IO, inCapsule: false })));
  }
  return cids;
}

/**
 * Reads PDUs until `cids.length` completions came: each read's data is its block, every
 * CID answered once; in the order sent when `ordered` (RAM reads complete as taken).
 */
async function drainAll(q: RawClient, cids: number[], content: Buffer, ordered: boolean): Promise<void> {
  const answered: number[] = [];
  let data: Buffer | undefined;
  while (answered.length < cids.length) {
    const p = await q.nextPdu(30_000);
    assert.ok(p !== undefined, `connection closed after ${answered.length} of ${cids.length} completions`);
    if (p.hdr.type === PduType.C2HData) {
      assert.equal(data, undefined, 'two C2HData PDUs before a completion');
      data = p.data;
      continue;
    }
    assert.equal(p.hdr.type, PduType.CapsuleResp);
    const cqe = parseCqe((p.hdr as { cqe: Buffer }).cqe);
    assert.equal(cqe.status, 0);
    const b = cqe.cid % BLOCKS;
    assert.ok(data?.equals(content.subarray(b * IO, (b + 1) * IO)), `read of CID ${cqe.cid}: wrong data`);
    data = undefined;
    answered.push(cqe.cid);
  }
  if (ordered) assert.deepEqual(answered, cids);
  else
    assert.deepEqual(
      [...answered].sort((a, b) => a - b),
      [...cids].sort((a, b) => a - b),
    );
}

/** While `bad` is held up: the normal queue's reads complete with the right data. */
async function goodKeepsWorking(good: RawClient, content: Buffer): Promise<void> {
  for (let i = 0; i < 16; i++) {
    const r = await good.read(1, (i % BLOCKS) * NLB, NLB, LBA);
    assert.equal(r.cqe?.status, 0);
    assert.deepEqual(r.data, content.subarray((i % BLOCKS) * IO, ((i % BLOCKS) + 1) * IO));
  }
}

test('target send queue - RAM: 3,000 small reads from a host that does not read stay within SEND_QUEUE_LIMIT, all answered in order once it reads', async (t) => {
  const { tgt, port } = await target(t, { kind: 'ram', size: NS_BYTES });
  const { cntlid, bad, good } = await queues(t, port, 127);
  const content = new Prng(12).bytes(NS_BYTES);
  for (let b = 0; b < BLOCKS; b++) {
    const w = await good.write(1, b * NLB, content.subarray(b * IO, (b + 1) * IO), LBA, false);
    assert.equal(w.cqe?.status, 0);
  }
  // One burst of 3,000 capsules (~216 KB): RAM reads complete at once, so the queue
  // depth never stops them; only the send bound does.
  bad.socket.pause();
  const pdus: Buffer[] = [];
  const cids = reads(bad, 3000, pdus);
  bad.send(...pdus);
  await until(() => sendQueueOf(tgt, cntlid, 1).paused, 'the non-reading queue pauses');
  await goodKeepsWorking(good, content);
  const s = sendQueueOf(tgt, cntlid, 1);
  assert.equal(s.limit, SEND_QUEUE_LIMIT);
  assert.ok(s.paused, 'still paused while its host does not read');
  assert.ok(s.queued > SEND_QUEUE_LIMIT - PER_READ, `queued ${s.queued}: the pause came before the limit`);
  // RAM reads complete as they are taken: the pause comes at most one read past the limit.
  assert.ok(s.peak <= SEND_QUEUE_LIMIT + PER_READ, `peak ${s.peak} above the limit plus one read`);
  assert.ok(s.queued <= s.peak);
  // Reading again: every command is answered, none lost, in the order sent.
  bad.socket.resume();
  await drainAll(bad, cids, content, true);
  const after = sendQueueOf(tgt, cntlid, 1);
  assert.ok(after.pauses >= 1);
  assert.ok(after.peak <= SEND_QUEUE_LIMIT + PER_READ, `peak ${after.peak} above the limit plus one read`);
  await until(() => sendQueueOf(tgt, cntlid, 1).queued === 0 && !sendQueueOf(tgt, cntlid, 1).paused, 'the queue drains');
});

test('target send queue - file: a host that keeps its SQ full and never reads stays within SEND_QUEUE_LIMIT plus its queue depth, all answered', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-sendq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const content = new Prng(13).bytes(NS_BYTES);
  const path = join(dir, 'ns.img');
  writeFileSync(path, content);
  const { tgt, port } = await target(t, { kind: 'file', path });
  const QD = 32;
  const { cntlid, bad, good } = await queues(t, port, QD - 1);
  bad.socket.pause();
  // A host within the protocol: a batch of QD reads, the next once the target has
  // completed the last (seen through its I/O counters; the host reads nothing), until
  // the target stops taking them.
  const cids: number[] = [];
  const base = tgt.ioStats()[0]!.ops.read.commands;
  const completed = (): number => tgt.ioStats()[0]!.ops.read.commands - base;
  let batches = 0;
  while (!sendQueueOf(tgt, cntlid, 1).paused) {
    assert.ok(batches < 2000, 'the target never paused the queue');
    const pdus: Buffer[] = [];
    cids.push(...reads(bad, QD, pdus));
    bad.send(...pdus);
    batches++;
    await until(() => completed() === cids.length || sendQueueOf(tgt, cntlid, 1).paused, 'a batch completes or the queue pauses');
  }
  await goodKeepsWorking(good, content);
  const s = sendQueueOf(tgt, cntlid, 1);
  assert.ok(s.paused, 'still paused while its host does not read');
  assert.ok(cids.length > QD * 4, `only ${cids.length} reads before the pause`);
  bad.socket.resume();
  // File reads complete in the order the file system returns them.
  await drainAll(bad, cids, content, false);
  // File reads issued before a pause complete after it: at most the queue depth of them.
  const peak = sendQueueOf(tgt, cntlid, 1).peak;
  assert.ok(peak <= SEND_QUEUE_LIMIT + QD * PER_READ, `peak ${peak} above the limit plus the queue depth`);
});
