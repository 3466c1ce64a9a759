// Block devices and a clock for workload tests: an in-memory device that completes
// asynchronously and records what it did, its callback-form variant, and a fake clock
// (performance.now and setInterval) that a device moves on by 1 ms per completion, so
// runtimes, ramps, samples and progress come out the same on any machine, loaded or not.
import type { TestContext } from 'node:test';
import type { BlockDevice } from '../../src/workload/workload.ts';

/** An in-memory block device that completes asynchronously and records what it did. */
export class MemDevice implements BlockDevice {
  readonly data: Buffer;
  reads = 0;
  writes = 0;
  maxInflight = 0;
  private inflight = 0;
  corruptLba = -1;
  constructor(
    readonly lbaSize: number,
    readonly nlba: number,
  ) {
    this.data = Buffer.alloc(lbaSize * nlba);
  }
  private async op<T>(f: () => T): Promise<T> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    await new Promise<void>((r) => setImmediate(r));
    this.inflight--;
    return f();
  }
  readInto(slba: number, buf: Buffer): Promise<unknown> {
    return this.op(() => {
      this.reads++;
      this.data.copy(buf, 0, slba * this.lbaSize, slba * this.lbaSize + buf.length);
      const n = buf.length / this.lbaSize;
      if (this.corruptLba >= slba && this.corruptLba < slba + n) buf[(this.corruptLba - slba) * this.lbaSize + 100] ^= 1;
    });
  }
  write(slba: number, buf: Buffer): Promise<unknown> {
    return this.op(() => {
      this.writes++;
      buf.copy(this.data, slba * this.lbaSize);
    });
  }
}

/** The same device with the callback forms, which the workload must prefer; `failAt` makes the n-th submission throw. */
export class CallbackMemDevice extends MemDevice {
  cbSubmits = 0;
  failAt = -1;
  submitRead<A>(slba: number, buf: Buffer, done: (err: Error | undefined, arg: A) => void, arg: A): void {
    this.submitted();
    this.readInto(slba, buf).then(
      () => done(undefined, arg),
      (e: Error) => done(e, arg),
    );
  }
  submitWrite<A>(slba: number, buf: Buffer, done: (err: Error | undefined, arg: A) => void, arg: A): void {
    this.submitted();
    this.write(slba, buf).then(
      () => done(undefined, arg),
      (e: Error) => done(e, arg),
    );
  }
  private submitted(): void {
    if (this.cbSubmits++ === this.failAt) throw new Error('device refused the I/O');
  }
}

/**
 * performance.now() and setInterval on a clock the test moves, for as long as test `t`
 * runs: `advance(ms)` runs every interval that falls due, in order. Runtime limits
 * and progress reports then come out the same on any machine, loaded or not.
 */
export class FakeClock {
  now = 0;
  private readonly timers = new Map<number, { fn: () => void; every: number; due: number }>();
  private nextId = 1;

  constructor(t: TestContext) {
    const { now } = performance;
    const { setInterval: set, clearInterval: clear } = globalThis;
    performance.now = () => this.now;
    globalThis.setInterval = ((fn: () => void, every: number) => {
      const id = this.nextId++;
      this.timers.set(id, { fn, every, due: this.now + every });
      return id;
    }) as unknown as typeof setInterval;
    globalThis.clearInterval = ((id: number) => this.timers.delete(id)) as unknown as typeof clearInterval;
    t.after(() => {
      performance.now = now;
      globalThis.setInterval = set;
      globalThis.clearInterval = clear;
    });
  }

  advance(ms: number): void {
    this.now += ms;
    for (const tm of this.timers.values()) {
      for (; tm.due <= this.now; tm.due += tm.every) tm.fn();
    }
  }
}

/** MemDevice on a fake clock: every I/O completion moves it on by 1 ms. */
export class ClockedDevice extends MemDevice {
  constructor(
    readonly clock: FakeClock,
    lbaSize: number,
    nlba: number,
  ) {
    super(lbaSize, nlba);
  }
  override readInto(slba: number, buf: Buffer): Promise<unknown> {
    return super.readInto(slba, buf).then(() => this.clock.advance(1));
  }
  override write(slba: number, buf: Buffer): Promise<unknown> {
    return super.write(slba, buf).then(() => this.clock.advance(1));
  }
}
