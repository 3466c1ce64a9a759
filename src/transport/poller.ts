// Busy polling of the event loop, for the lowest latency at the price of a core (the
// way SPDK's reactors run, and what fio's `hipri` asks of a kernel queue): while
// `active()` says there is work, a setImmediate keeps re-arming itself, so libuv's
// poll phase never sleeps in epoll_wait (an immediate pending makes its timeout 0).
// Sockets are then read as soon as data lands, without the wake-up of a sleeping
// thread (tens of µs of CPU and latency per wake-up on a paravirtualised VM).
export class BusyPoller {
  private running = false;
  /** Loop turns polled so far. */
  turns = 0;

  constructor(private readonly active: () => boolean) {}

  /** True while the loop is being kept spinning. */
  get polling(): boolean {
    return this.running;
  }

  /** Starts polling when there is work and it is not running; it stops by itself once `active()` is false. */
  kick(): void {
    if (this.running || !this.active()) return;
    this.running = true;
    setImmediate(this.tick);
  }

  private readonly tick = (): void => {
    this.turns++;
    if (this.active()) setImmediate(this.tick);
    else this.running = false;
  };
}
