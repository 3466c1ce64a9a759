import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BudgetWaiter, DataBudget, LentBuffer } from '../../../src/target/budget.ts';
import { classSize } from '../../../src/target/data-pool.ts';
import { Prng } from '../../helpers/prng.ts';

const K = 1024;

/** A waiter that records its grant (and the order grants arrive in `log`). */
class W extends BudgetWaiter {
  got: Buffer | undefined = undefined;
  constructor(
    readonly name: string,
    private readonly log: string[] = [],
  ) {
    super();
  }
  budgetGranted(b: Buffer): void {
    assert.equal(this.got, undefined, `${this.name} granted twice`);
    this.got = b;
    this.log.push(this.name);
  }
}

const microtasks = () => new Promise<void>((r) => setImmediate(r));

test('data budget - size classes: a buffer is charged at the power-of-two size that holds it', () => {
  assert.equal(classSize(1), 4096);
  assert.equal(classSize(4096), 4096);
  assert.equal(classSize(4097), 8192);
  assert.equal(classSize(128 * K), 128 * K);
  const b = new DataBudget(1 << 20);
  const buf = b.take(1024, new W('x'))!;
  assert.equal(buf.length, 4096);
  assert.deepEqual(b.stats(), { limit: 1 << 20, used: 4096, peak: 4096, waiting: 0, pooled: 0 });
});

test('data budget - exact accounting: used, peak, and released buffers kept (and reused) within a quarter of the limit', () => {
  const b = new DataBudget(64 * K);
  const w = new W('x');
  const bufs = [b.take(16 * K, w)!, b.take(16 * K, w)!, b.take(16 * K, w)!, b.take(16 * K, w)!];
  assert.equal(b.used, 64 * K);
  assert.equal(b.peak, 64 * K);
  for (const x of bufs) b.release(x);
  // 16 KiB kept (a quarter of 64), the rest left to the GC.
  assert.deepEqual(b.stats(), { limit: 64 * K, used: 0, peak: 64 * K, waiting: 0, pooled: 16 * K });
  const again = b.take(16 * K, w)!;
  assert.ok(bufs.includes(again), 'a kept buffer is handed out again');
  assert.equal(b.pooled, 0);
  assert.equal(b.used, 16 * K);
  b.release(again);
  assert.equal(b.used, 0);
  assert.equal(b.peak, 64 * K);
});

test('data budget - kept buffers are trimmed first: used + pooled never exceeds the limit', () => {
  const b = new DataBudget(64 * K);
  const w = new W('x');
  const small = [b.take(4096, w)!, b.take(4096, w)!, b.take(4096, w)!, b.take(4096, w)!];
  for (const x of small) b.release(x);
  assert.equal(b.pooled, 16 * K);
  const big = b.take(32 * K, w)!;
  const mid = b.take(16 * K, w)!;
  assert.equal(b.used + b.pooled, 64 * K);
  // Another 16 KiB fits the limit only without the kept 4 KiB buffers: they go.
  const mid2 = b.take(16 * K, w)!;
  assert.equal(b.used, 64 * K);
  assert.equal(b.pooled, 0);
  for (const x of [big, mid, mid2]) b.release(x);
  assert.equal(b.used, 0);
  assert.ok(b.used + b.pooled <= 64 * K);
});

test('data budget - over the limit commands wait in FIFO order; grants arrive from a microtask, never inside release()', async () => {
  const b = new DataBudget(16 * K);
  const log: string[] = [];
  const a = b.take(8 * K, new W('a', log))!;
  const c = b.take(8 * K, new W('c', log))!;
  const w1 = new W('w1', log);
  const w2 = new W('w2', log);
  const w3 = new W('w3', log);
  assert.equal(b.take(8 * K, w1), undefined);
  assert.equal(b.take(4 * K, w2), undefined);
  assert.equal(b.take(8 * K, w3), undefined);
  assert.equal(b.waiting, 3);
  b.release(a);
  assert.deepEqual(log, [], 'granted only after release() returned');
  assert.equal(b.used, 16 * K, 'the grant is charged at once');
  assert.equal(b.waiting, 2);
  await microtasks();
  assert.deepEqual(log, ['w1']);
  assert.equal(w1.got?.length, 8 * K);
  b.release(c);
  await microtasks();
  // w2 (4 KiB) fits; w3 (8 KiB) does not yet.
  assert.deepEqual(log, ['w1', 'w2']);
  assert.equal(b.used, 12 * K);
  // 4 KiB would fit now, but w3 is in front: no overtaking.
  const late = new W('late', log);
  assert.equal(b.take(4 * K, late), undefined);
  assert.equal(b.waiting, 2);
  b.release(w2.got!);
  await microtasks();
  // w3 takes the 8 KiB left; late (4 KiB) would go over: it waits for more.
  assert.deepEqual(log, ['w1', 'w2', 'w3']);
  assert.equal(b.used, 16 * K);
  b.release(w1.got!);
  await microtasks();
  assert.deepEqual(log, ['w1', 'w2', 'w3', 'late']);
  assert.equal(b.used, 12 * K);
  for (const w of [w3, late]) b.release(w.got!);
  assert.deepEqual({ used: b.used, waiting: b.waiting, peak: b.peak }, { used: 0, waiting: 0, peak: 16 * K });
});

test('data budget - cancel: a waiter leaves the line (those behind it may go); a granted, undelivered buffer comes back', async () => {
  const b = new DataBudget(16 * K);
  const log: string[] = [];
  const held = [b.take(8 * K, new W('h1', log))!, b.take(4 * K, new W('h2', log))!];
  assert.equal(b.used, 12 * K);
  const big = new W('big', log);
  const small = new W('small', log);
  assert.equal(b.take(8 * K, big), undefined);
  assert.equal(b.take(4 * K, small), undefined);
  // The 8 KiB one in front blocks the 4 KiB one that would fit; once it leaves, small goes.
  b.cancel(big);
  assert.equal(b.waiting, 0);
  await microtasks();
  assert.deepEqual(log, ['small']);
  assert.equal(b.used, 16 * K);
  // Granted but not delivered yet: cancelled, its bytes return and it never hears of it.
  const gone = new W('gone', log);
  assert.equal(b.take(4 * K, gone), undefined);
  b.release(small.got!);
  assert.equal(b.used, 16 * K);
  b.cancel(gone);
  assert.equal(b.used, 12 * K);
  b.cancel(gone); // twice is harmless
  await microtasks();
  assert.deepEqual(log, ['small']);
  for (const x of held) b.release(x);
  assert.equal(b.used, 0);
});

test('data budget - takeOver charges data that has already arrived over the limit; waiters wait until used is back under it', async () => {
  const b = new DataBudget(16 * K);
  const log: string[] = [];
  const a = b.take(16 * K, new W('a', log))!;
  const forced = b.takeOver(8 * K);
  assert.equal(b.used, 24 * K);
  assert.equal(b.peak, 24 * K);
  const w = new W('w', log);
  assert.equal(b.take(8 * K, w), undefined);
  b.release(forced);
  await microtasks();
  assert.deepEqual(log, []);
  b.release(a);
  await microtasks();
  assert.deepEqual(log, ['w']);
  b.release(w.got!);
  assert.equal(b.used, 0);
});

test('data budget - a lent buffer comes back once every piece is handed off and the lender let go', () => {
  const b = new DataBudget(1 << 20);
  const buf = b.take(128 * K, new W('x'))!;
  const lent = new LentBuffer(b, buf);
  lent.pieces += 2;
  lent.done();
  lent.done();
  assert.equal(b.used, 128 * K, 'the lender still holds it');
  lent.done();
  assert.equal(b.used, 0);
});

test('data budget - random takes, releases and cancels: exact accounting, FIFO grants, within the limit', async () => {
  const rng = new Prng(12);
  const limit = 256 * K;
  const b = new DataBudget(limit);
  const log: string[] = [];
  const held: Buffer[] = [];
  let queued: W[] = [];
  let heldBytes = 0;
  let n = 0;
  for (let step = 0; step < 3000; step++) {
    const r = rng.int(0, 9);
    if (r < 5) {
      const len = rng.pick([512, 4096, 6000, 16 * K, 64 * K, 128 * K]);
      const w = new W(`w${n++}`, log);
      const got = b.take(len, w);
      if (got !== undefined) {
        assert.equal(queued.length, 0, 'nobody overtakes a waiter');
        assert.equal(got.length, classSize(len));
        held.push(got);
        heldBytes += got.length;
      } else queued.push(w);
    } else if (r < 9 && held.length > 0) {
      const [x] = held.splice(rng.int(0, held.length - 1), 1);
      heldBytes -= x.length;
      b.release(x);
    } else if (queued.length > 0) {
      const [w] = queued.splice(rng.int(0, queued.length - 1), 1);
      b.cancel(w);
    }
    await Promise.resolve();
    // Deliveries so far: in the order the waiters queued.
    const delivered = queued.filter((w) => w.got !== undefined);
    for (const w of delivered) {
      held.push(w.got!);
      heldBytes += w.got!.length;
    }
    queued = queued.filter((w) => w.got === undefined);
    const order = log.map((s) => Number(s.slice(1)));
    assert.deepEqual(
      order,
      [...order].sort((x, y) => x - y),
    );
    assert.equal(b.used, heldBytes);
    assert.ok(b.used <= limit && b.used + b.pooled <= limit && b.peak <= limit);
    assert.equal(b.waiting, queued.length);
  }
  for (const w of queued) b.cancel(w);
  for (const x of held) b.release(x);
  assert.equal(b.used, 0);
  assert.equal(b.waiting, 0);
});

test('data budget - per-queue accounts: a queue at its own limit waits for its own buffers and holds no other queue up', async () => {
  const b = new DataBudget(64 * K, 16 * K);
  const log: string[] = [];
  const qa = b.account();
  const qb = b.account();
  const a1 = b.take(16 * K, new W('a1', log), qa)!;
  const a2 = new W('a2', log);
  assert.equal(b.take(4 * K, a2, qa), undefined, 'qa is at its 16 KiB');
  assert.equal(b.waiting, 1);
  // qb is not held up by qa's waiter: the budget has room and qb has its share.
  const b1 = b.take(16 * K, new W('b1', log), qb)!;
  assert.equal(b1.length, 16 * K);
  assert.deepEqual([qa.held, qb.held, b.used], [16 * K, 16 * K, 32 * K]);
  // Another queue's release does nothing for qa; qa's own does.
  b.release(b1, qb);
  await microtasks();
  assert.deepEqual(log, []);
  b.release(a1, qa);
  await microtasks();
  assert.deepEqual(log, ['a2']);
  b.release(a2.got!, qa);
  assert.deepEqual([qa.held, qb.held, b.used], [0, 0, 0]);
});

test('data budget - waiters of several queues are served round robin; one blocked by the whole budget is not overtaken', async () => {
  const b = new DataBudget(16 * K, 16 * K);
  const log: string[] = [];
  const qa = b.account();
  const qb = b.account();
  const qc = b.account();
  const first = b.take(16 * K, new W('x', log), qc)!;
  const ws: W[] = [];
  for (const [name, q] of [
    ['a1', qa],
    ['a2', qa],
    ['a3', qa],
    ['b1', qb],
    ['b2', qb],
  ] as const) {
    const w = new W(name, log);
    ws.push(w);
    assert.equal(b.take(8 * K, w, q), undefined);
  }
  // A 4 KiB request of a third queue waits too: the heads in front are blocked by the whole budget.
  const c1 = new W('c1', log);
  assert.equal(b.take(4 * K, c1, qc), undefined);
  b.release(first, qc);
  await microtasks();
  // 16 KiB free: one grant per queue per turn, a then b.
  assert.deepEqual(log, ['a1', 'b1']);
  b.release(ws[0].got!, qa);
  await microtasks();
  assert.deepEqual(log, ['a1', 'b1', 'c1']);
  b.release(ws[3].got!, qb);
  b.release(c1.got!, qc);
  await microtasks();
  assert.deepEqual(log, ['a1', 'b1', 'c1', 'a2', 'b2']);
  b.release(ws[1].got!, qa);
  b.release(ws[4].got!, qb);
  await microtasks();
  assert.deepEqual(log, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  b.release(ws[2].got!, qa);
  assert.deepEqual({ used: b.used, waiting: b.waiting }, { used: 0, waiting: 0 });
  assert.deepEqual([qa.held, qb.held, qc.held], [0, 0, 0]);
});

test('data budget - random takes, releases and cancels over several queues: exact per-queue accounting, within both limits, nobody left waiting', async () => {
  const rng = new Prng(13);
  const limit = 256 * K;
  const qlimit = 128 * K;
  const b = new DataBudget(limit, qlimit);
  const accts = [b.account(), b.account(), b.account(), b.account()];
  const held: { buf: Buffer; a: number }[] = [];
  let queued: { w: W; a: number }[] = [];
  const heldBy = [0, 0, 0, 0];
  for (let step = 0; step < 3000; step++) {
    const r = rng.int(0, 9);
    if (r < 5) {
      const a = rng.int(0, 3);
      const w = new W(`w${step}`);
      const got = b.take(rng.pick([512, 4096, 16 * K, 64 * K, 128 * K]), w, accts[a]);
      if (got !== undefined) {
        held.push({ buf: got, a });
        heldBy[a] += got.length;
      } else queued.push({ w, a });
    } else if (r < 9 && held.length > 0) {
      const [x] = held.splice(rng.int(0, held.length - 1), 1);
      heldBy[x.a] -= x.buf.length;
      b.release(x.buf, accts[x.a]);
    } else if (queued.length > 0) {
      const [x] = queued.splice(rng.int(0, queued.length - 1), 1);
      b.cancel(x.w);
    }
    await Promise.resolve();
    for (const x of queued.filter((q) => q.w.got !== undefined)) {
      held.push({ buf: x.w.got!, a: x.a });
      heldBy[x.a] += x.w.got!.length;
    }
    queued = queued.filter((q) => q.w.got === undefined);
    assert.deepEqual(
      accts.map((a) => a.held),
      heldBy,
    );
    assert.ok(heldBy.every((h) => h <= qlimit));
    assert.equal(b.used, heldBy[0] + heldBy[1] + heldBy[2] + heldBy[3]);
    assert.ok(b.used <= limit && b.used + b.pooled <= limit);
    assert.equal(b.waiting, queued.length);
  }
  // Releasing everything grants every waiter in the end.
  while (held.length > 0) {
    const x = held.pop()!;
    b.release(x.buf, accts[x.a]);
    await microtasks();
    for (const q of queued.filter((q) => q.w.got !== undefined)) held.push({ buf: q.w.got!, a: q.a });
    queued = queued.filter((q) => q.w.got === undefined);
  }
  assert.equal(queued.length, 0);
  assert.deepEqual({ used: b.used, waiting: b.waiting }, { used: 0, waiting: 0 });
});
