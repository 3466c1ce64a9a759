// The stats endpoint of `nvmeotcp target`. The receive offload lives on the host,
// so a target has no offload counters; what it serves is its controller
// activity, counted from the target's connect/disconnect events:
//   target_connects      controllers created (admin Connect accepted), discovery ones included
//   target_disconnects   controllers gone (shutdown, keep-alive expiry, connection loss)
// plus the live controllers, the open connections and I/O queues, the data budget at
// the time of the request, and each namespace's I/O counters (commands, bytes,
// errors, latency histogram). Both counters only grow; live = connects - disconnects.
import {
  type BudgetStats,
  type ControllerInfo,
  formatTargetPrometheus,
  type IoSnapshot,
  type NvmeTarget,
  type StatsEndpoints,
} from '../index.ts';

export interface TargetStats {
  role: 'target';
  counters: { target_connects: number; target_disconnects: number };
  controllers: ControllerInfo[];
  connections: number;
  io_queues: number;
  data_budget: BudgetStats;
  /** One entry per namespace (labels subsystem, namespace). */
  io: IoSnapshot[];
}

export class TargetCounters {
  private connects = 0;
  private disconnects = 0;
  private readonly live = new Map<number, ControllerInfo>();

  constructor(private readonly tgt: NvmeTarget) {
    tgt.on('connect', (c: ControllerInfo) => {
      this.connects++;
      this.live.set(c.cntlid, c);
    });
    tgt.on('disconnect', (c: ControllerInfo) => {
      this.disconnects++;
      this.live.delete(c.cntlid);
    });
  }

  snapshot(): TargetStats {
    return {
      role: 'target',
      counters: { target_connects: this.connects, target_disconnects: this.disconnects },
      controllers: [...this.live.values()],
      connections: this.tgt.connectionCounts.open,
      io_queues: this.tgt.ioQueueCount,
      data_budget: this.tgt.bufferBudget(),
      io: this.tgt.ioStats(),
    };
  }
}

function prometheusText(s: TargetStats): string {
  return formatTargetPrometheus({
    connects: s.counters.target_connects,
    disconnects: s.counters.target_disconnects,
    controllers: s.controllers.length,
    connections: s.connections,
    ioQueues: s.io_queues,
    budget: s.data_budget,
    io: s.io,
  });
}

export function targetEndpoints(c: TargetCounters): StatsEndpoints {
  return {
    metrics: () => prometheusText(c.snapshot()),
    stats: () => c.snapshot(),
  };
}
