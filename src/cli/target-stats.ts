// The stats endpoint of `nvmeotcp target`. The receive offload lives on the host,
// so a target has no offload counters; what it serves is its controller
// activity, counted from the target's connect/disconnect events:
//   target_connects      controllers created (admin Connect accepted), discovery ones included
//   target_disconnects   controllers gone (shutdown, keep-alive expiry, connection loss)
// plus the live controllers. Both counters only grow; live = connects - disconnects.
// data_budget is the target's data buffer budget at the time of the request.
import type { BudgetStats, ControllerInfo, NvmeTarget, StatsEndpoints } from '../index.ts';

export interface TargetStats {
  role: 'target';
  counters: { target_connects: number; target_disconnects: number };
  controllers: ControllerInfo[];
  data_budget: BudgetStats;
}

const TARGET_COUNTER_HELP: Readonly<Record<keyof TargetStats['counters'], string>> = {
  target_connects: 'Controllers created by an accepted admin-queue Connect (discovery controllers included).',
  target_disconnects: 'Controllers that went away (shutdown, keep-alive expiry, connection loss).',
};

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
      data_budget: this.tgt.bufferBudget(),
    };
  }
}

function prometheusText(s: TargetStats): string {
  let t = '';
  for (const [name, v] of Object.entries(s.counters)) {
    const help = TARGET_COUNTER_HELP[name as keyof TargetStats['counters']];
    t += `# HELP nvmeotcp_${name}_total ${help}\n# TYPE nvmeotcp_${name}_total counter\nnvmeotcp_${name}_total ${v}\n`;
  }
  t += '# HELP nvmeotcp_target_controllers Live controllers.\n# TYPE nvmeotcp_target_controllers gauge\n';
  t += `nvmeotcp_target_controllers ${s.controllers.length}\n`;
  return t;
}

export function targetEndpoints(c: TargetCounters): StatsEndpoints {
  return {
    metrics: () => prometheusText(c.snapshot()),
    stats: () => c.snapshot(),
  };
}
