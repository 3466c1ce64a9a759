// What connections and controllers need from the target that owns them.
import type { DiscoveryEntry } from '../protocol/discovery.ts';
import type { Connection } from './connection.ts';
import type { Controller } from './controller.ts';
import type { ResolvedOptions } from './options.ts';
import type { Subsystem } from './subsystem.ts';

export interface TargetContext {
  readonly opts: ResolvedOptions;
  readonly discovery: Subsystem;
  /** Discovery log generation counter, bumped on every change of the log. */
  readonly genctr: number;
  subsystem(nqn: string): Subsystem | undefined;
  /** Registers a new controller; returns its CNTLID, or 0 when all are in use. */
  addController(c: Controller): number;
  controller(cntlid: number): Controller | undefined;
  /** The controller is gone (its queues are being closed). */
  controllerGone(c: Controller, reason: string): void;
  connectionClosed(q: Connection): void;
  /** An I/O queue (qid > 0) was installed on `q`. */
  ioQueueUp(q: Connection): void;
  /** Discovery log entries visible to `hostnqn`, seen through the connection `q`. */
  discoveryEntries(hostnqn: string, q: Connection): DiscoveryEntry[];
}
