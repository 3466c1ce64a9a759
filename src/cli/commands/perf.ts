// `nvmeotcp perf`: a workload against one namespace of a target (fio /
// spdk_nvme_perf habits), with the host's receive offload on or off, then the
// results and the offload counters.
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type BlockDevice,
  createSocketDevice,
  formatEthtool,
  type IoDone,
  type Namespace,
  NIC_PROFILES,
  type NicProfile,
  type NvmeController,
  type RecoveryStats,
  RW_MODES,
  type RwMode,
  type SocketDevice,
  hostEndpoints,
  packageVersion,
  type StatsServer,
  statsToJson,
  type WorkloadOptions,
  type WorkloadResult,
} from '../../index.ts';
import { type HostPort, intArg, offsetArg, onOffArg, parseHostPort, positiveNumberArg, sizeArg } from '../args.ts';
import { addConnectionOptions, type ConnectionFlags, connectionFlags, targetLabel } from '../connection.ts';
import { CliError } from '../errors.ts';
import { type FioRun, fioJson, fioText } from '../fio-report.ts';
import { connectController, resolveSubnqn } from '../session.ts';
import { lingerThenClose, serveStats } from '../stats-server.ts';
import { cpuReport, formatOffloadShare, formatRecovery, offloadShare, runJobs } from '../workload-report.ts';

interface PerfOpts {
  rw: RwMode;
  bs: number;
  iodepth: number;
  /** fio's runtime (s). */
  runtime?: number;
  /** spdk_nvme_perf's -t (s): runtime, time-based. */
  time?: number;
  time_based: boolean;
  ramp_time?: number;
  /** fio's size: the region. */
  size?: number;
  /** fio's io_size: the amount of I/O. */
  io_size?: number;
  offset?: number;
  numjobs: number;
  rwmixread: number;
  verify: boolean;
  offload: boolean;
  nic: NicProfile;
  hipri: boolean;
  nsid?: number;
  json: boolean;
  outputFormat: OutputFormat;
  statsListen?: HostPort;
  statsLinger?: number;
}

const OUTPUT_FORMATS = ['normal', 'json'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

function outputFormatArg(v: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${OUTPUT_FORMATS.join(', ')}`);
  return v as OutputFormat;
}

function nicArg(v: string): NicProfile {
  if (!(NIC_PROFILES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${NIC_PROFILES.join(', ')}`);
  return v as NicProfile;
}

function rwArg(v: string): RwMode {
  if (!(RW_MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${RW_MODES.join(', ')}`);
  return v as RwMode;
}

/**
 * The namespace as the workload sees it, with a stop switch: after SIGINT/SIGTERM
 * no new I/O starts (what is in flight completes), so the workload ends at once
 * and perf still prints the results so far and the counters (fio's habit).
 */
class StoppableNamespace implements BlockDevice {
  stoppedBy: NodeJS.Signals | undefined;
  readonly lbaSize: number;
  readonly nlba: number;
  constructor(private readonly ns: Namespace) {
    this.lbaSize = ns.lbaSize;
    this.nlba = ns.nlba;
  }
  get stopMessage(): string {
    return `interrupted by ${this.stoppedBy}`;
  }
  readInto(slba: number, buf: Buffer): Promise<unknown> {
    return this.stoppedBy ? Promise.reject(new Error(this.stopMessage)) : this.ns.readInto(slba, buf);
  }
  write(slba: number, buf: Buffer): Promise<unknown> {
    return this.stoppedBy ? Promise.reject(new Error(this.stopMessage)) : this.ns.write(slba, buf);
  }
  // The callback forms the workload prefers; a stopped run refuses new I/O by throwing.
  submitRead<A>(slba: number, buf: Buffer, done: IoDone<A>, arg: A): void {
    if (this.stoppedBy) throw new Error(this.stopMessage);
    this.ns.submitRead(slba, buf, done, arg);
  }
  submitWrite<A>(slba: number, buf: Buffer, done: IoDone<A>, arg: A): void {
    if (this.stoppedBy) throw new Error(this.stopMessage);
    this.ns.submitWrite(slba, buf, done, arg);
  }
}

const logErr = (l: string) => process.stderr.write(`${l}\n`);

/** Exit codes of a run stopped by a signal (128 + signal number, as shells report). */
/** How long perf waits for the controller's shutdown at the end before dropping its queues. */
const DISCONNECT_BOUND_MS = 2000;

/** Exit codes of a run stopped by a signal (128 + signal number, as shells report). */
const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The workload's options as fio would print them in "job options" (strings, only those that apply). */
function jobOptions(o: PerfOpts): Record<string, string> {
  const j: Record<string, string> = { name: 'perf', rw: o.rw, bs: String(o.bs), iodepth: String(o.iodepth), numjobs: String(o.numjobs) };
  if (o.size !== undefined) j.size = String(o.size);
  if (o.io_size !== undefined) j.io_size = String(o.io_size);
  if (o.offset !== undefined) j.offset = String(o.offset);
  if (o.runtime !== undefined) j.runtime = String(o.runtime);
  if (o.time_based) j.time_based = '1';
  if (o.ramp_time !== undefined) j.ramp_time = String(o.ramp_time);
  if (o.rw === 'rw' || o.rw === 'randrw') j.rwmixread = String(o.rwmixread);
  return j;
}

/** fio's "global options": the engine and the namespace, named as SPDK's fio plugin names a fabrics namespace. */
function globalOptions(f: ConnectionFlags, subnqn: string, nsid: number): Record<string, string> {
  const adrfam = f.traddr.includes(':') ? 'IPv6' : 'IPv4';
  return {
    ioengine: 'nvmeotcp',
    filename: `trtype=TCP adrfam=${adrfam} traddr=${f.traddr} trsvcid=${f.trsvcid} subnqn=${subnqn} ns=${nsid}`,
  };
}

/** What is ours in the report: the connection, the offload and its counters. */
function runDescription(o: PerfOpts, f: ConnectionFlags, subnqn: string, nsid: number, ctrl: NvmeController): Record<string, unknown> {
  return {
    target: targetLabel(f),
    subnqn,
    nsid,
    verify: o.verify,
    ...(o.offload ? { nic: o.nic } : {}),
    hipri: o.hipri,
    ioQueues: ctrl.ioQueueCount,
    queueSize: f.queueSize,
    hdrDigest: f.hdrDigest,
    dataDigest: f.dataDigest,
  };
}

/** The workload of each of numjobs jobs: the same options, each its own random sequence. */
function jobWorkloads(o: PerfOpts): WorkloadOptions[] {
  const wo: WorkloadOptions = { rw: o.rw, bs: o.bs, iodepth: o.iodepth, rwmixread: o.rwmixread, verify: o.verify };
  if (o.runtime !== undefined) wo.runtimeMs = o.runtime * 1000;
  if (o.time_based) wo.timeBased = true;
  if (o.ramp_time !== undefined) wo.rampMs = o.ramp_time * 1000;
  if (o.size !== undefined) wo.regionBytes = o.size;
  if (o.io_size !== undefined) wo.totalBytes = o.io_size;
  if (o.offset !== undefined) wo.offset = o.offset;
  return Array.from({ length: o.numjobs }, (_, i) => ({ ...wo, seed: i + 1 }));
}

async function runPerf(o: PerfOpts, f: ConnectionFlags): Promise<number> {
  const subnqn = await resolveSubnqn(f);
  const device: SocketDevice | undefined = o.offload ? createSocketDevice({ profile: o.nic }) : undefined;
  const ctrl = await connectController(f, subnqn, device, { poll: o.hipri });
  let stats: StatsServer | undefined;
  let results: WorkloadResult[];
  let extra: Record<string, unknown>;
  let recovery: RecoveryStats | undefined;
  let nsid: number | undefined;
  let dev: StoppableNamespace | undefined;
  const t0 = performance.now();
  const stop = (sig: NodeJS.Signals) => {
    if (dev) dev.stoppedBy = sig;
    // A second signal ends the process the default way.
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    nsid = o.nsid ?? ctrl.namespaces[0]?.nsid;
    if (nsid === undefined) throw new CliError(`${subnqn} has no namespace`);
    dev = new StoppableNamespace(ctrl.namespace(nsid));
    if (o.bs % dev.lbaSize !== 0) throw new CliError(`--bs ${o.bs} is not a multiple of namespace ${nsid}'s LBA size ${dev.lbaSize}`);
    extra = runDescription(o, f, subnqn, nsid, ctrl);
    if (o.statsListen) {
      const ep = hostEndpoints({ device, namespaces: [ctrl.namespace(nsid)], controllers: [{ labels: { subsystem: subnqn }, ctrl }] });
      stats = await serveStats(o.statsListen, ep, logErr);
    }
    // A status line, not a result: stderr, as the progress.
    process.stderr.write(
      `perf: ${o.rw} bs=${o.bs} iodepth=${o.iodepth} numjobs=${o.numjobs} on ${subnqn} nsid ${nsid} at ${targetLabel(f)}, ` +
        `${ctrl.ioQueueCount} I/O queue(s), offload ${o.offload ? 'on' : 'off'}\n`,
    );
    try {
      results = await runJobs(dev, jobWorkloads(o), 'perf', o.outputFormat === 'json');
    } catch (e) {
      // Bad block size or region for this namespace: a usage error, not a crash.
      if (e instanceof RangeError) throw new CliError(e.message);
      throw e;
    }
  } catch (e) {
    await stats?.close();
    throw e;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    recovery = ctrl.recovery;
    // Counters are read after the disconnect: every queue's sk_add has its sk_del. Bounded:
    // perf ends however the target behaves (I/O abandoned at the deadline is dropped with it).
    await ctrl.disconnect({ timeoutMs: DISCONNECT_BOUND_MS });
  }
  const wallMs = performance.now() - t0;
  const stoppedBy = dev.stoppedBy;
  if (stoppedBy !== undefined) {
    for (const r of results) if (r.error === dev.stopMessage) delete r.error;
    extra.interrupted = stoppedBy;
  }
  const snap = device?.snapshot();
  extra.offload = snap ? statsToJson(snap) : null;
  extra.offloadShare = snap ? offloadShare(snap.sum) : null;
  // Error recovery over the run: resets, reconnects, I/O resent and retried, time reconnecting.
  extra.recovery = recovery;
  const run: FioRun = {
    tool: `nvmeotcp-${packageVersion()}`,
    end: new Date(),
    wallMs,
    globalOptions: globalOptions(f, subnqn, nsid),
    jobs: results.map((result) => ({
      name: 'perf',
      options: jobOptions(o),
      result,
      extra: {
        verifiedBlocks: result.verifiedBlocks,
        abandoned: result.abandoned,
        ioErrors: result.ioErrors,
        // The CPU time behind usr_cpu / sys_cpu (µs), and per I/O.
        cpu: { user: result.cpu.user, system: result.cpu.system, usPerIo: cpuReport(result).usPerIo },
        ...(result.error !== undefined ? { error: result.error } : {}),
      },
    })),
    extra,
  };
  if (o.outputFormat === 'json') {
    process.stdout.write(`${JSON.stringify(fioJson(run), null, 2)}\n`);
  } else {
    let text = fioText(run);
    const verified = results.reduce((a, r) => a + r.verifiedBlocks, 0);
    if (verified > 0 && results.every((r) => r.error === undefined)) text += `\nVerify: ${verified} blocks checked, all match\n`;
    text += formatRecovery(recovery!, results);
    text += snap
      ? `\nOffload statistics:\n${formatEthtool(snap)}Offload: ${formatOffloadShare(snap.sum)} received on the offloaded queues\n`
      : '\nOffload: off (software receive path)\n';
    process.stdout.write(text);
  }
  // The results are out; the final counters stay up for a last scrape if asked.
  await lingerThenClose(stats, o.statsLinger, logErr);
  const failed = results.find((r) => r.error !== undefined);
  if (failed?.error !== undefined) {
    process.stderr.write(`nvmeotcp perf: ${failed.error}\n`);
    return 1;
  }
  if (stoppedBy !== undefined) {
    process.stderr.write(`nvmeotcp perf: interrupted by ${stoppedBy}\n`);
    return SIGNAL_EXIT[stoppedBy] ?? 1;
  }
  return 0;
}

export function registerPerf(program: Command): void {
  const cmd = program
    .command('perf')
    .description('run a workload against a namespace (fio / spdk_nvme_perf habits) and show the offload counters')
    .addOption(new Option('-w, --rw <mode>', `I/O pattern: ${RW_MODES.join(', ')}`).default('randread').argParser(rwArg))
    .option('-o, --bs <size>', 'block size, bytes or with a suffix (4096, 4k, 128k...)', sizeArg, 4096)
    .option('-q, --iodepth <n>', 'requests in flight, per job', intArg(1, 4096), 16)
    .option('--size <bytes>', 'region of the namespace to use, from --offset (4g, 100m...; default: to the end)', sizeArg)
    .option('--io_size <bytes>', 'amount of I/O per job (default: the region once)', sizeArg)
    .option('--offset <bytes>', 'start of the region (default 0)', offsetArg)
    .option('--runtime <seconds>', 'with --time_based, run this long; without, stop by then at the latest', positiveNumberArg)
    .option('--time_based', 'run for --runtime, going round the region as often as it takes', false)
    .option('-t, --time <seconds>', 'spdk_nvme_perf: run this long (--runtime SECONDS --time_based)', positiveNumberArg)
    .option('--ramp_time <seconds>', 'run this long before measuring; nothing done then is counted', positiveNumberArg)
    .option('--numjobs <n>', 'jobs running side by side, each with its own iodepth (fio numjobs)', intArg(1, 64), 1)
    .option('-M, --rwmixread <pct>', 'percentage of reads for rw/randrw', intArg(0, 100), 50)
    .option('--verify', 'tag every written block and check every read (read modes write the region first)', false)
    .addOption(new Option('--offload <on|off>', 'host receive offload (the socket DDP device)').default(true, 'on').argParser(onOffArg))
    .addOption(
      new Option('--nic <profile>', `how the modelled NIC places and resyncs: ${NIC_PROFILES.join(', ')}`)
        .default('mlx5')
        .argParser(nicArg),
    )
    .option(
      '--hipri',
      'poll for completions (busy-poll the event loop while small I/O (≤ 16 KiB) is in flight: lower latency, a core at 100%)',
      false,
    )
    .option('--nsid <n>', 'namespace ID (default: the first active one)', intArg(1, 0xfffffffe))
    .addOption(
      new Option('--output-format <format>', `results as fio writes them: ${OUTPUT_FORMATS.join(', ')}`)
        .default('normal')
        .argParser(outputFormatArg),
    )
    .option('--json', 'the same as --output-format json', false)
    .option('--stats-listen <addr:port>', 'serve /metrics, /stats and /dashboard (offload and I/O counters) while running', parseHostPort)
    .option('--stats-linger <seconds>', 'with --stats-listen: keep serving the final counters this long after the run', positiveNumberArg);
  addConnectionOptions(cmd, { nqn: 'optional', ioQueues: true, spdkPerf: true, recovery: true });
  cmd
    .addHelpText(
      'after',
      `
fio's meanings: --size is the region, --io_size the amount of I/O (default: one pass
over the region), --runtime with --time_based the duration (without --time_based,
--runtime only caps a size-bounded run), --ramp_time a warm-up left out of every
result, --numjobs that many jobs side by side (results per job, then the group's).
Results go to stdout in fio's normal format, or as fio's JSON with --output-format
json (--json): fio's keys and units (bw in KiB/s, latencies in ns, runtime in ms),
with our own facts (target, offload counters, verification) in "nvmeotcp" objects.
Progress and status lines go to stderr: a bar with MiB/s, IOPS and the ETA on a
terminal, one line per second otherwise (none with JSON output).

spdk_nvme_perf's short flags work too: -q depth, -o I/O size in bytes, -w pattern,
-t seconds (time-based), -M read percentage. In perf, -q and -t are therefore
spdk_nvme_perf's: the host NQN and transport are --hostnqn and --transport here.

The summary's offload part gives the counters (ethtool -S style) and the share of
packets and bytes offloaded (the ratios blktests nvme/055 judges). READs of at least
the device's io_threshold (32 KiB) are placed directly in the I/O buffers; smaller
ones take the software path. The device counts packets as an Ethernet link (MSS
1448) would carry them; --nic mlx5 (default) places at most one PDU per packet,
--nic generic any number. Exit code 1 if an I/O or a verification failed. SIGINT
(Ctrl-C) or SIGTERM stops the workload: I/O in flight completes, then the results
so far and the counters are printed (exit code 130 or 143; a second signal ends
perf at once).

Examples:
  nvmeotcp perf -a 127.0.0.1 -s 4420 --rw randread --bs 128k --iodepth 32 --runtime 10 --time_based
  nvmeotcp perf -s 4420 -q 32 -o 4096 -w randrw -M 70 -t 10
  nvmeotcp perf -s 4420 --rw write --bs 4k --size 64m --verify --output-format json > out.json
  nvmeotcp perf -s 4420 --offload off -G --rw read --bs 128k --size 1g --numjobs 2
  nvmeotcp perf -s 4420 --rw randread --bs 4k --iodepth 64 --hipri -t 10 --ramp_time 2`,
    )
    .action(async (opts: PerfOpts & Record<string, unknown>) => {
      if (opts.time !== undefined) {
        if (opts.runtime !== undefined) throw new CliError('give -t or --runtime, not both');
        opts.runtime = opts.time;
        opts.time_based = true;
      }
      if (opts.time_based && opts.runtime === undefined) throw new CliError('--time_based needs --runtime (or give -t SECONDS)');
      if (opts.verify && opts.numjobs > 1)
        throw new CliError("--verify with --numjobs above 1: the jobs would overwrite each other's blocks");
      if (opts.json) opts.outputFormat = 'json';
      if (opts.statsLinger !== undefined && !opts.statsListen) throw new CliError('--stats-linger needs --stats-listen');
      process.exitCode = await runPerf(opts, connectionFlags(opts));
    });
}
