// `nvmeotcp stats`: read a running host's or target's stats endpoint (/stats) and
// print it as `ethtool -S` does; --watch prints per-second rates.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { intArg, positiveNumberArg } from '../args.ts';
import { CliError, describeError } from '../errors.ts';
import {
  formatRatesText,
  formatStatsText,
  NETLINK_OPS,
  type NetlinkOp,
  netlinkReply,
  parseStatsJson,
  rateSnapshot,
  statsJson,
} from '../stats-view.ts';

interface StatsOpts {
  url: string;
  perQueue: boolean;
  perChannel: boolean;
  json: boolean;
  netlink?: NetlinkOp;
  watch?: number;
  count?: number;
}

function netlinkArg(v: string): NetlinkOp {
  if (!(NETLINK_OPS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${NETLINK_OPS.join(', ')}`);
  return v as NetlinkOp;
}

function urlArg(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError('expected a URL such as http://127.0.0.1:9100');
  }
  if (u.protocol !== 'http:') throw new InvalidArgumentError('only http:// endpoints are served');
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/stats';
  return u.toString();
}

const FETCH_TIMEOUT_MS = 5000;

async function fetchStats(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    throw new CliError(`cannot read ${url}: ${describeError(cause ?? e)}`);
  }
  if (!res.ok) throw new CliError(`cannot read ${url}: HTTP ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new CliError(`${url} did not answer with JSON`);
  }
}

async function runStats(o: StatsOpts): Promise<void> {
  const first = parseStatsJson(await fetchStats(o.url), o.url);
  if (o.netlink !== undefined) {
    process.stdout.write(`${JSON.stringify(netlinkReply(first, o.netlink, o.url))}\n`);
    return;
  }
  if (o.watch === undefined) {
    process.stdout.write(o.json ? `${JSON.stringify(statsJson(first, o), null, 2)}\n` : formatStatsText(first, o));
    return;
  }
  let prev = first;
  let prevAt = performance.now();
  for (let i = 0; o.count === undefined || i < o.count; i++) {
    await sleep(o.watch * 1000);
    const cur = parseStatsJson(await fetchStats(o.url), o.url);
    const now = performance.now();
    const secs = (now - prevAt) / 1000;
    const rates = rateSnapshot(prev, cur, secs);
    process.stdout.write(o.json ? `${JSON.stringify(statsJson(rates, o))}\n` : `${formatRatesText(rates, cur, o, new Date(), secs)}\n`);
    prev = cur;
    prevAt = now;
  }
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description("print a running target's or perf's offload statistics as ethtool -S does")
    .requiredOption('--url <url>', 'stats endpoint of a process started with --stats-listen, e.g. http://127.0.0.1:9100', urlArg)
    .option('--per-queue', 'add the per-queue counters (rx<N>_...)', false)
    .option('--per-channel', 'add the per-channel counters (ch<N>_...)', false)
    .option('--json', 'print the JSON snapshot (with --watch: one JSON object of rates per line)', false)
    .option('--netlink <op>', `print the ulp-ddp netlink reply of ${NETLINK_OPS.join(' or ')}, as ynl --json does`, netlinkArg)
    .option('--watch <seconds>', 'print per-second rates every SECONDS', positiveNumberArg)
    .option('--count <n>', 'with --watch: stop after N reports', intArg(1, 1_000_000))
    .addHelpText(
      'after',
      `
Reads <url>/stats (JSON of one snapshot). Output for an offload device (perf, demo):
"NIC statistics:", then the global counters, their sums over every receive channel
(the seed's ten, then rx_packets and rx_bytes: every segment and byte of the
offloaded queues, ours), and with --per-queue (--per-channel) one block per queue
(channel), in ethtool -S order; for a target, "Target statistics:" and its controller
counters. --json prints the same counters under their seed names. --watch prints the
change per second between reads: one block per read, headed by its time (UTC) and
the interval, every value in /s. --netlink prints what the series' uAPI (the ulp-ddp generic netlink family)
answers: stats-get (ifindex and exactly the ten rx-nvme-tcp-* counters; the family
has no per-queue values) or caps-get (ifindex, hw, active).

Examples:
  nvmeotcp stats --url http://127.0.0.1:9100 --per-queue
  nvmeotcp stats --url http://127.0.0.1:9100 --watch 1 --count 10
  nvmeotcp stats --url http://127.0.0.1:9100 --netlink stats-get`,
    )
    .action(async (opts: StatsOpts) => {
      if (opts.count !== undefined && opts.watch === undefined) throw new CliError('--count needs --watch');
      if (opts.netlink !== undefined && (opts.watch !== undefined || opts.perQueue || opts.perChannel || opts.json)) {
        throw new CliError('--netlink prints one reply: no --watch, --per-queue, --per-channel or --json with it');
      }
      await runStats(opts);
    });
}
