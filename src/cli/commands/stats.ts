// `nvmeotcp stats`: read a running host's or target's stats endpoint (/stats) and
// print it as `ethtool -S` does; --watch prints per-second rates.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { intArg, positiveNumberArg } from '../args.ts';
import { CliError, describeError } from '../errors.ts';
import { formatStatsText, parseStatsJson, rateSnapshot, statsJson } from '../stats-view.ts';

interface StatsOpts {
  url: string;
  perQueue: boolean;
  perChannel: boolean;
  json: boolean;
  watch?: number;
  count?: number;
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
    const rates = rateSnapshot(prev, cur, (now - prevAt) / 1000);
    process.stdout.write(o.json ? `${JSON.stringify(statsJson(rates, o))}\n` : `${formatStatsText(rates, o)}\n`);
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
    .option('--watch <seconds>', 'print per-second rates every SECONDS', positiveNumberArg)
    .option('--count <n>', 'with --watch: stop after N reports', intArg(1, 1_000_000))
    .addHelpText(
      'after',
      `
Reads <url>/stats (JSON of one snapshot). Output: "NIC statistics:", then the global
counters, their sums over every receive channel, and with --per-queue (--per-channel)
one block per queue (channel), in ethtool -S order. --json prints the same counters
under their seed names. --watch shows the change per second between reads.

Examples:
  nvmeotcp stats --url http://127.0.0.1:9100 --per-queue
  nvmeotcp stats --url http://127.0.0.1:9100 --watch 1 --count 10`,
    )
    .action(async (opts: StatsOpts) => {
      if (opts.count !== undefined && opts.watch === undefined) throw new CliError('--count needs --watch');
      await runStats(opts);
    });
}
