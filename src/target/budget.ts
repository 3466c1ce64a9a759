// One memory budget for the data buffers of every connection of a target: write data
// (in-capsule and R2T), Connect and Dataset Management data, file-namespace read
// buffers. A command takes its buffer from the budget and gives it back when done;
// over budget it waits, in one FIFO across all connections, and is handed its buffer
// as bytes come back. RAM reads cost nothing: they send views of namespace memory.
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

export class DataBudget {
  private readonly pool = new DataPool();
  /** Free bytes the pool may keep. */
  private readonly poolMax: number;
  private inUse = 0;
  private top = 0;
  private readonly waitList = new WaiterList();
  /** Granted, to be delivered by the next microtask. */
  private readonly readyList = new WaiterList();
  private scheduled = false;

  constructor(readonly limit: number) {
    this.poolMax = Math.floor(limit / 4);
  }

  get used(): number {
    return this.inUse;
  }
  get peak(): number {
    return this.top;
  }
  get waiting(): number {
    return this.waitList.length;
  }
  get pooled(): number {
    return this.pool.bytes;
  }

  stats(): BudgetStats {
    return { limit: this.limit, used: this.inUse, peak: this.top, waiting: this.waitList.length, pooled: this.pool.bytes };
  }

  /**
   * A buffer of at least `len` bytes now if the budget has room and no one is waiting
   * before (FIFO); otherwise undefined, and `w` waits: w.budgetGranted(buffer) runs
   * once enough has been released. `len` must fit the limit (the options ensure it).
   */
  take(len: number, w: BudgetWaiter): Buffer | undefined {
    const size = classSize(len);
    if (this.waitList.length === 0 && this.inUse + size <= this.limit) return this.grant(size);
    w.budgetSize = size;
    this.waitList.push(w);
    return undefined;
  }

  /** A buffer of at least `len` bytes even over the limit: data that has already arrived (in-capsule). */
  takeOver(len: number): Buffer {
    return this.grant(classSize(len));
  }

  /** A buffer from take(), takeOver() or a grant is no longer used. */
  release(backing: Buffer): void {
    const n = backing.length;
    this.inUse -= n;
    const pool = this.pool;
    if (this.inUse + pool.bytes + n <= this.limit) pool.put(backing);
    if (this.waitList.length > 0) this.wake();
    if (pool.bytes > this.poolMax) pool.trim(pool.bytes - this.poolMax);
  }

  /** `w` no longer wants its buffer (its queue went away); a buffer already granted comes back. */
  cancel(w: BudgetWaiter): void {
    const list = w.budgetList;
    if (list === undefined) return;
    list.remove(w);
    if (list === this.readyList) {
      const b = w.budgetBuf!;
      w.budgetBuf = undefined;
      this.release(b);
    } else if (this.waitList.length > 0) {
      // It may have been the one in front that did not fit.
      this.wake();
    }
  }

  private grant(size: number): Buffer {
    const pool = this.pool;
    let b = pool.take(size);
    if (b === undefined) {
      const over = this.inUse + pool.bytes + size - this.limit;
      if (over > 0) pool.trim(over);
      b = pool.alloc(size);
    }
    this.inUse += size;
    if (this.inUse > this.top) this.top = this.inUse;
    return b;
  }

  /** Grants waiters in order while the one in front fits. */
  private wake(): void {
    const wl = this.waitList;
    let w = wl.head;
    while (w !== undefined && this.inUse + w.budgetSize <= this.limit) {
      wl.remove(w);
      w.budgetBuf = this.grant(w.budgetSize);
      this.readyList.push(w);
      w = wl.head;
    }
    if (this.readyList.length > 0 && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.deliver);
    }
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
  ) {}
  readonly done = (): void => {
    if (--this.pieces === 0) this.budget.release(this.backing);
  };
}
