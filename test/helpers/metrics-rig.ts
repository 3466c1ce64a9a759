// A target and an offloaded host in this process, each with its stats endpoint (the
// target's as `nvmeotcp target --stats-listen` serves it, the host's as perf's), for
// the metrics and dashboard tests. Everything is closed by the test's after hooks:
// the host disconnects before the target closes.
import type { TestContext } from 'node:test';
import { TargetCounters, targetEndpoints } from '../../src/cli/target-stats.ts';
import { hostEndpoints, type StatsServer, startStatsServer } from '../../src/exporters/http.ts';
import { NvmeController } from '../../src/host/index.ts';
import type { Namespace } from '../../src/host/namespace.ts';
import { createSocketDevice, type SocketDevice } from '../../src/offload/socket-device.ts';
import { NvmeTarget } from '../../src/target/index.ts';

const LOOPBACK = { host: '127.0.0.1', port: 0 };

export interface MetricsRig {
  nqn: string;
  tgt: NvmeTarget;
  dev: SocketDevice;
  ctrl: NvmeController;
  ns: Namespace;
  /** Connects another controller to the same subsystem through the same device. */
  connect(): Promise<NvmeController>;
  targetStats: StatsServer;
  hostStats: StatsServer;
}

/** One RAM namespace of `mib` MiB (4 KiB blocks), two I/O queues on a two-channel socket device. */
export async function startMetricsRig(t: TestContext, nqn: string, mib: number): Promise<MetricsRig> {
  const tgt = new NvmeTarget({
    subsystems: [{ nqn, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: mib << 20 }, lbaSize: 4096 }] }],
  });
  const ctrls: NvmeController[] = [];
  const servers: StatsServer[] = [];
  t.after(async () => {
    for (const s of servers) await s.close();
    for (const c of ctrls) await c.disconnect();
    await tgt.close();
  });
  const counters = new TargetCounters(tgt);
  const { port } = await tgt.listen(LOOPBACK);
  const dev = createSocketDevice({ channels: 2 });
  const connect = async () => {
    const c = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: nqn, nrIoQueues: 2, offload: dev });
    ctrls.push(c);
    return c;
  };
  const ctrl = await connect();
  const ns = ctrl.namespace(1);
  const targetStats = await startStatsServer(LOOPBACK, targetEndpoints(counters));
  servers.push(targetStats);
  const hostStats = await startStatsServer(
    LOOPBACK,
    hostEndpoints({ device: dev, namespaces: [ns], controllers: [{ labels: { subsystem: nqn }, ctrl }] }),
  );
  servers.push(hostStats);
  return { nqn, tgt, dev, ctrl, ns, connect, targetStats, hostStats };
}
