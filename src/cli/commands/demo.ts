// `nvmeotcp demo`: the whole story in one command. An in-memory target on
// 127.0.0.1:0, a host with the socket offload device (several I/O queues, header
// and data digests on), a short verified workload — 128 KiB reads, which the
// device places straight into the I/O buffers, then 4 KiB reads, which stay below
// io_threshold and take the software path — and the counters with what they mean,
// with each phase's share of packets and bytes offloaded.
import { type Command, Option } from 'commander';
import {
  type ChannelValues,
  createSocketDevice,
  type DigestChecks,
  formatEthtool,
  NvmeController,
  NvmeTarget,
  type StatsServer,
  type StatsSnapshot,
  hostEndpoints,
  type WorkloadOptions,
  type WorkloadResult,
} from '../../index.ts';
import { formatHostPort, type HostPort, intArg, parseHostPort, positiveNumberArg } from '../args.ts';
import { CliError } from '../errors.ts';
import { lingerThenClose, serveStats } from '../stats-server.ts';
import { formatOffloadShare, formatSummary, humanBytes, runJobs } from '../workload-report.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:demo';
const NS_BYTES = 64 << 20;
const LARGE = 128 * 1024;
const SMALL = 4096;

interface DemoOpts {
  queues: number;
  digests: boolean;
  statsListen?: HostPort;
  statsLinger?: number;
}

interface Phase {
  name: string;
  result: WorkloadResult;
  /** Data digests received during the phase, by who verified them. */
  digests: DigestChecks;
  /** The data-path counters' change during the phase (summed over the queues). */
  flow: ChannelValues;
}

function delta(before: ChannelValues, after: ChannelValues): ChannelValues {
  const out = { ...after };
  for (const k of Object.keys(out) as (keyof ChannelValues)[]) out[k] -= before[k];
  return out;
}

const pct = (part: number, whole: number) => (whole === 0 ? '0' : ((100 * part) / whole).toFixed(1));

/** Who checked a phase's data digests, in words. */
function digestWords(c: DigestChecks): string {
  if (c.device + c.software === 0) return 'no data digest negotiated';
  if (c.software === 0) return `the data digest of all ${c.device} data PDUs checked by the device`;
  if (c.device === 0) return `the data digest of all ${c.software} data PDUs checked in software`;
  return `the data digest of ${c.device} data PDUs checked by the device and of ${c.software} in software`;
}

/** One paragraph, every number taken from the counters and the results. */
function explain(s: StatsSnapshot, largePhase: Phase, smallPhase: Phase, ioThreshold: number, queues: number, mss: number): string {
  const g = s.global;
  const d = s.sum;
  const large = largePhase.result;
  const small = smallPhase.result;
  const largeRead = large.readBytes;
  const lp = largePhase.flow;
  const copied = largeRead - lp.rx_nvmeotcp_bytes;
  const lines = [
    `The host attached ${g.rx_nvmeotcp_sk_add} of its ${queues} I/O queues to the offload device (sk_add) and ` +
      `detached ${g.rx_nvmeotcp_sk_del} at disconnect (sk_del); the admin queue is never offloaded.`,
    `${g.rx_nvmeotcp_ddp_setup} READs were large enough (≥ io_threshold, ${ioThreshold / 1024} KiB) to register ` +
      `their buffers for direct data placement (ddp_setup), ${g.rx_nvmeotcp_ddp_setup_fail} registrations failed, ` +
      `and ${g.rx_nvmeotcp_ddp_teardown} were released when their responses arrived (ddp_teardown${
        g.rx_nvmeotcp_ddp_setup === g.rx_nvmeotcp_ddp_teardown ? ' = ddp_setup: nothing left registered' : ''
      }).`,
    `The device placed ${humanBytes(lp.rx_nvmeotcp_bytes)} straight into those buffers (bytes) in ` +
      `${lp.rx_nvmeotcp_packets} packets (packets: TCP segments of at most ${mss} bytes, as an Ethernet link carries the stream): ` +
      `${pct(lp.rx_nvmeotcp_bytes, largeRead)}% of the ${humanBytes(largeRead)} read with ${LARGE / 1024} KiB commands, ` +
      `with no copy and ${digestWords(largePhase.digests)}.` +
      (copied > 0
        ? ` The other ${humanBytes(copied)} were the starts of READs in a packet whose one placement the PDU before ` +
          'had taken (mlx5 places one PDU per packet): the host copied those bytes.'
        : ''),
    `Of all ${lp.rx_packets} packets and ${humanBytes(lp.rx_bytes)} the offloaded queues received in that phase ` +
      `(rx_packets, rx_bytes), the device ${formatOffloadShare(lp)}.`,
    `The ${small.readOps} reads of ${SMALL / 1024} KiB (${humanBytes(small.readBytes)}) stayed below io_threshold: ` +
      `they were copied by the host, with ${digestWords(smallPhase.digests)}${
        smallPhase.digests.device > 0 ? ' (CRC offload without placement)' : ''
      }, and ${formatOffloadShare(smallPhase.flow)}.`,
    `drop ${d.rx_nvmeotcp_drop} and resync ${d.rx_nvmeotcp_resync}: on a live socket the stream is never out of ` +
      'order, so the device never lost PDU sync.',
  ];
  return `${lines.join(' ')}\n`;
}

async function runDemo(o: DemoOpts): Promise<number> {
  const out = (s: string) => process.stdout.write(s);
  const target = new NvmeTarget({ subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, backend: { kind: 'ram', size: NS_BYTES } }] }] });
  const at = await target.listen({ host: '127.0.0.1', port: 0 });
  const device = createSocketDevice();
  let stats: StatsServer | undefined;
  let ctrl: NvmeController | undefined;
  const phases: Phase[] = [];
  try {
    out(`target: ${NQN} on ${formatHostPort(at)}, one ${NS_BYTES >> 20} MiB RAM namespace\n`);
    ctrl = await NvmeController.connect({
      traddr: at.host,
      trsvcid: at.port,
      subnqn: NQN,
      nrIoQueues: o.queues,
      hdgst: o.digests,
      ddgst: o.digests,
      offload: device,
    });
    out(
      `host: ${ctrl.ioQueueCount} I/O queues, header digest ${o.digests ? 'on' : 'off'}, data digest ${o.digests ? 'on' : 'off'}, ` +
        `socket offload device (io_threshold ${device.limits().ioThreshold / 1024} KiB)\n`,
    );
    const ns = ctrl.namespace(1);
    if (o.statsListen) {
      const ep = hostEndpoints({ device, namespaces: [ns], controllers: [{ labels: { subsystem: NQN }, ctrl }] });
      stats = await serveStats(o.statsListen, ep, (l: string) =>
        out(`${l}
`),
      );
    }
    const runs: [string, WorkloadOptions][] = [
      [
        `write ${16} MiB, then ${LARGE / 1024} KiB reads, verified`,
        { rw: 'randread', bs: LARGE, iodepth: 16, regionBytes: 16 << 20, totalBytes: 96 << 20, verify: true, seed: 7 },
      ],
      [
        `write 2 MiB, then ${SMALL / 1024} KiB reads, verified`,
        { rw: 'randread', bs: SMALL, iodepth: 16, regionBytes: 2 << 20, totalBytes: 8 << 20, verify: true, seed: 11 },
      ],
    ];
    for (const [name, wo] of runs) {
      out(`\n== ${name}\n`);
      const before = ctrl.dataDigestChecks();
      const flowBefore = device.snapshot().sum;
      const [result] = await runJobs(ns, [{ ...wo, progressIntervalMs: 250 }], 'demo', false);
      const after = ctrl.dataDigestChecks();
      const flow = delta(flowBefore, device.snapshot().sum);
      out(`${formatSummary(result)}Offload: ${formatOffloadShare(flow)} received on the offloaded queues\n`);
      phases.push({
        name,
        result,
        digests: { device: after.device - before.device, software: after.software - before.software },
        flow,
      });
      if (result.error !== undefined) break;
    }
  } catch (e) {
    await stats?.close();
    throw e;
  } finally {
    await ctrl?.disconnect();
    await target.close();
  }
  const snap = device.snapshot();
  out(`\nOffload statistics (after disconnect):\n${formatEthtool(snap)}\n`);
  const failed = phases.find((p) => p.result.error !== undefined);
  if (failed || phases.length < 2) {
    process.stderr.write(`nvmeotcp demo: ${failed?.result.error ?? 'workload did not run'}\n`);
  } else {
    out(explain(snap, phases[0], phases[1], device.limits().ioThreshold, o.queues, device.mss));
  }
  await lingerThenClose(stats, o.statsLinger, (l: string) => out(`${l}\n`));
  return failed || phases.length < 2 ? 1 : 0;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('in-memory target + offloaded host, a short verified workload, then the offload counters explained')
    .option('--queues <n>', 'I/O queues', intArg(1, 16), 4)
    .addOption(new Option('--no-digests', 'run without header and data digests'))
    .option('--stats-listen <addr:port>', 'also serve /metrics, /stats and /dashboard while it runs', parseHostPort)
    .option('--stats-linger <seconds>', 'with --stats-listen: keep serving the final counters this long after the run', positiveNumberArg)
    .addHelpText(
      'after',
      `
Everything runs in this process on 127.0.0.1 (an ephemeral port) and takes a few
seconds. Exit code 1 if a read did not match what was written.`,
    )
    .action(async (opts: DemoOpts) => {
      if (opts.statsLinger !== undefined && !opts.statsListen) throw new CliError('--stats-linger needs --stats-listen');
      process.exitCode = await runDemo(opts);
    });
}
