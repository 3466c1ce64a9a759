// One memory budget for the data buffers of every connection of a target: write data
// (in-capsule and R2T), Connect and Dataset Management data, file-namespace read
// buffers. A command takes its buffer from the budget and gives it back when done;
// over budget it waits and is handed its buffer as bytes come back. RAM reads cost
// nothing: they send views of namespace memory.
//
// Fairness between queues. Each connection has an account (BudgetAccount) that may
// hold at most `queueLimit` bytes, so one queue (say one that never reads its
// responses: its read buffers stay lent to a socket that does not drain) cannot take
// the whole budget: k such queues pin at most k × queueLimit, and the others go on
// with the rest. Waiters queue per account, FIFO within it; accounts are served round
// robin, one grant each per turn. A waiter blocked by its own account's limit waits
// for its own queue's buffers and holds no one else up; one blocked by the target-wide
// limit stops the round there, so smaller requests behind it never starve it.
//
// Free buffers kept for reuse are part of the budget too: one target-wide pool (a
// per-connection pool of 8 MiB would let 1024 connections keep 8 GiB) that keeps at
// most a quarter of the limit, and only what the commands' buffers leave free:
//   used + pooled <= limit
// so a command never waits while pooled bytes could make room: the pool is trimmed
// first (its buffers are dropped for the GC) and the buffer allocated afresh.
//
// The one exception is in-capsule data: it arrives with its command, before we could
// make it wait (and pausing that connection's reads could stall the H2CData of its
// commands that already hold budget). takeOver() charges it over the limit; it is
// bounded per queue by the queue depth (SQSIZE + 1) times the in-capsule data size,
// and is released as soon as its command is done. Commands that can wait then wait
// until `used` is back under the limit.
//
// Outside the budget, per connection (transport/): a 256 KiB receive staging buffer and
// a 256 KiB send arena, allocated at accept (pages are touched as used), and up to
// SPARE_ARENAS (4) more arenas kept after a burst: at most 1.5 MiB per connection once
// its sends have drained. While a peer does not drain, the arenas also hold the copies
// (payloads up to 16 KiB) of the completions it has not taken: once SEND_QUEUE_LIMIT
// (1 MiB, transport/queue.ts) bytes wait to be sent, the connection takes no further
// command from its receive buffer, even in the middle of a read, until the socket has
// drained. What is queued stays under SEND_QUEUE_LIMIT plus the data of the commands
// already running at that moment (RAM reads complete as they are taken: one more; file
// reads in flight: at most the queue depth, and those larger than 16 KiB are budget
// buffers lent to the socket, counted here too).
//
// Grants are delivered from a microtask, never from inside release(): bytes come back
// in the middle of sending a PDU (writer callbacks), where a waiting command's R2T
// must not be written.
import { classSize, DataPool } from './data-pool.ts';

/**
 * What may wait for a buffer (a command): the budget's bookkeeping lives in the waiter
 * itself, so waiting allocates nothing. The budget owns these fields while it waits.
 */
export abstract class BudgetWaiter {
  /** Bytes asked for (a size class). */
  budgetSize = 0;
  /** The account it waits for (set by take()). */
  budgetAccount: BudgetAccount | undefined = undefined;
  /** The list it is on (waiting or granted), or undefined. */
  budgetList: WaiterList | undefined = undefined;
  budgetPrev: BudgetWaiter | undefined = undefined;
  budgetNext: BudgetWaiter | undefined = undefined;
  /** The buffer granted, until it is delivered. */
  budgetBuf: Buffer | undefined = undefined;
  /** The budget granted `backing` (at least the length asked for); give it back with release(). */
  abstract budgetGranted(backing: Buffer): void;
}

/** The figures a target reports. */
export interface BudgetStats {
  /** Bytes the data buffers may take. */
  limit: number;
  /** Bytes in buffers that commands hold now. */
  used: number;
  /** Highest `used` so far. */
  peak: number;
  /** Commands waiting for a buffer. */
  waiting: number;
  /** Bytes in free buffers kept for reuse (counted against the limit too). */
  pooled: number;
}

/** An intrusive doubly linked FIFO of waiters (no allocation per entry). */
export class WaiterList {
  head: BudgetWaiter | undefined = undefined;
  tail: BudgetWaiter | undefined = undefined;
  length = 0;

  push(w: BudgetWaiter): void {
    w.budgetList = this;
    w.budgetPrev = this.tail;
    w.budgetNext = undefined;
    if (this.tail === undefined) this.head = w;
    else this.tail.budgetNext = w;
    this.tail = w;
    this.length++;
  }

  remove(w: BudgetWaiter): void {
    const p = w.budgetPrev;
    const n = w.budgetNext;
    if (p === undefined) this.head = n;
    else p.budgetNext = n;
    if (n === undefined) this.tail = p;
    else n.budgetPrev = p;
    w.budgetList = w.budgetPrev = w.budgetNext = undefined;
    this.length--;
  }

  shift(): BudgetWaiter | undefined {
    const w = this.head;
    if (w !== undefined) this.remove(w);
    return w;
  }
}

/**
 * What one connection holds of the budget, and its commands waiting for more. The
 * budget links accounts with waiters into a ring (no allocation per wait).
 */
export class BudgetAccount {
  /** Bytes of budget buffers this connection's commands hold now. */
  held = 0;
  readonly waiters = new WaiterList();
  ringNext: BudgetAccount | undefined = undefined;
  ringPrev: BudgetAccount | undefined = undefined;
  /** At most this many bytes held (DataBudget.queueLimit). */
  constructor(readonly limit: number) {}
}

export class DataBudget {
  private readonly pool = new DataPool();
  /** Free bytes the pool may keep. */
  private readonly poolMax: number;
  private inUse = 0;
  private top = 0;
  /** Waiters of every account. */
  private waitCount = 0;
  /** Accounts with waiters, served round robin from `cursor`. */
  private cursor: BudgetAccount | undefined = undefined;
  /** A waiter is blocked by the target-wide limit: nobody takes before it. */
  private blocked = false;
  /** Granted, to be delivered by the next microtask. */
  private readonly readyList = new WaiterList();
  private scheduled = false;
  /** The account of callers that name none (one FIFO, limited by the whole budget only). */
  private readonly common: BudgetAccount;

  /** `queueLimit`: the most one account (connection) may hold; at least the largest request. */
  constructor(
    readonly limit: number,
    readonly queueLimit = limit,
  ) {
    this.poolMax = Math.floor(limit / 4);
    this.common = new BudgetAccount(limit);
  }

  /** An account for one connection, limited to queueLimit. */
  account(): BudgetAccount {
    return new BudgetAccount(this.queueLimit);
  }

  get used(): number {
    return this.inUse;
  }
  get peak(): number {
    return this.top;
  }
  get waiting(): number {
    return this.waitCount;
  }
  get pooled(): number {
    return this.pool.bytes;
  }

  stats(): BudgetStats {
    return { limit: this.limit, used: this.inUse, peak: this.top, waiting: this.waitCount, pooled: this.pool.bytes };
  }

  /**
   * A buffer of at least `len` bytes for account `a` now if the budget and the account
   * have room and no one of `a` (or anyone blocked by the whole budget) waits before;
   * otherwise undefined, and `w` waits: w.budgetGranted(buffer) runs once enough has
   * been released. `len` must fit the limits (the options ensure it).
   */
  take(len: number, w: BudgetWaiter, a: BudgetAccount = this.common): Buffer | undefined {
    const size = classSize(len);
    if (!this.blocked && a.waiters.length === 0 && a.held + size <= a.limit && this.inUse + size <= this.limit) {
      return this.grant(size, a);
    }
    w.budgetSize = size;
    w.budgetAccount = a;
    if (a.waiters.length === 0) this.ringAdd(a);
    a.waiters.push(w);
    this.waitCount++;
    // Blocked by the whole budget (not by its own account): nobody overtakes it.
    if (a.waiters.length === 1 && a.held + size <= a.limit) this.blocked = true;
    return undefined;
  }

  /** A buffer of at least `len` bytes even over the limits: data that has already arrived (in-capsule). */
  takeOver(len: number, a: BudgetAccount = this.common): Buffer {
    return this.grant(classSize(len), a);
  }

  /** A buffer from take(), takeOver() or a grant for account `a` is no longer used. */
  release(backing: Buffer, a: BudgetAccount = this.common): void {
    const n = backing.length;
    this.inUse -= n;
    a.held -= n;
    const pool = this.pool;
    if (this.inUse + pool.bytes + n <= this.limit) pool.put(backing);
    if (this.waitCount > 0) this.wake();
    if (pool.bytes > this.poolMax) pool.trim(pool.bytes - this.poolMax);
  }

  /** `w` no longer wants its buffer (its queue went away); a buffer already granted comes back. */
  cancel(w: BudgetWaiter): void {
    const list = w.budgetList;
    if (list === undefined) return;
    const a = w.budgetAccount!;
    list.remove(w);
    w.budgetAccount = undefined;
    if (list === this.readyList) {
      const b = w.budgetBuf!;
      w.budgetBuf = undefined;
      this.release(b, a);
      return;
    }
    this.waitCount--;
    if (a.waiters.length === 0) this.ringRemove(a);
    // It may have been the one in front that did not fit.
    if (this.waitCount > 0) this.wake();
    else this.blocked = false;
  }

  private grant(size: number, a: BudgetAccount): Buffer {
    const pool = this.pool;
    let b = pool.take(size);
    if (b === undefined) {
      const over = this.inUse + pool.bytes + size - this.limit;
      if (over > 0) pool.trim(over);
      b = pool.alloc(size);
    }
    this.inUse += size;
    a.held += size;
    if (this.inUse > this.top) this.top = this.inUse;
    return b;
  }

  /**
   * Grants waiters round robin over the accounts, one per account per turn: an account
   * at its own limit is passed over; a head that does not fit the whole budget ends the
   * round there (it goes first next time).
   */
  private wake(): void {
    this.blocked = false;
    let passed = 0;
    for (let a = this.cursor; a !== undefined && passed < this.ringSize; ) {
      const w = a.waiters.head!;
      if (a.held + w.budgetSize > a.limit) {
        a = a.ringNext;
        passed++;
        continue;
      }
      if (this.inUse + w.budgetSize > this.limit) {
        this.cursor = a;
        this.blocked = true;
        break;
      }
      a.waiters.remove(w);
      this.waitCount--;
      w.budgetBuf = this.grant(w.budgetSize, a);
      this.readyList.push(w);
      passed = 0;
      const next = a.ringNext;
      if (a.waiters.length === 0) this.ringRemove(a);
      a = this.cursor === undefined ? undefined : next;
      this.cursor = a;
    }
    if (this.readyList.length > 0 && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.deliver);
    }
  }

  // ---- the ring of accounts with waiters (circular, doubly linked)

  private ringSize = 0;

  private ringAdd(a: BudgetAccount): void {
    const c = this.cursor;
    if (c === undefined) {
      a.ringNext = a.ringPrev = a;
      this.cursor = a;
    } else {
      // Just before the cursor: served last in the current round.
      const p = c.ringPrev!;
      a.ringPrev = p;
      a.ringNext = c;
      p.ringNext = a;
      c.ringPrev = a;
    }
    this.ringSize++;
  }

  private ringRemove(a: BudgetAccount): void {
    this.ringSize--;
    if (a.ringNext === a) this.cursor = undefined;
    else {
      a.ringPrev!.ringNext = a.ringNext;
      a.ringNext!.ringPrev = a.ringPrev;
      if (this.cursor === a) this.cursor = a.ringNext;
    }
    a.ringNext = a.ringPrev = undefined;
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const rl = this.readyList;
    for (let w = rl.shift(); w !== undefined; w = rl.shift()) {
      const b = w.budgetBuf!;
      w.budgetBuf = undefined;
      w.budgetGranted(b);
    }
  };
}

/**
 * A budget buffer lent to a writer in pieces (sendC2hData): it goes back to the budget
 * once every piece has been handed off. `pieces` starts at 1, the sender's own hold:
 * the sender counts each piece it lends and calls done() once they are all queued.
 */
export class LentBuffer {
  pieces = 1;
  constructor(
    private readonly budget: DataBudget,
    private readonly backing: Buffer,
    private readonly account?: BudgetAccount,
  ) {}
  readonly done = (): void => {
    if (--this.pieces === 0) this.budget.release(this.backing, this.account);
  };
}
