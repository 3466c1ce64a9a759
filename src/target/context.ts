// What queues and controllers need from the target that owns them.
import type { DiscoveryEntry } from '../protocol/discovery.ts';
import type { DataBudget } from './budget.ts';
import type { CmdQueue } from './cmd.ts';
import type { Controller } from './controller.ts';
import type { ResolvedOptions } from './options.ts';
import type { Subsystem } from './subsystem.ts';

export interface TargetContext {
  readonly opts: ResolvedOptions;
  readonly discovery: Subsystem;
  /** The data buffers of every connection come from here. */
  readonly budget: DataBudget;
  /** Discovery log generation counter, bumped on every change of the log. */
  readonly genctr: number;
  subsystem(nqn: string): Subsystem | undefined;
  /** Registers a new controller; returns its CNTLID, or 0 when all are in use. */
  addController(c: Controller): number;
  controller(cntlid: number): Controller | undefined;
  /** The controller is gone (its queues are being closed). */
  controllerGone(c: Controller, reason: string): void;
  connectionClosed(q: CmdQueue): void;
  /** A Connect made `q` a queue of a controller. */
  queueAssociated(q: CmdQueue): void;
  /** An I/O queue (qid > 0) was installed on `q`. */
  ioQueueUp(q: CmdQueue): void;
  /** Discovery log entries visible to `hostnqn`, seen through the connection `q`. */
  discoveryEntries(hostnqn: string, q: CmdQueue): DiscoveryEntry[];
}
