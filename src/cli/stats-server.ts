// `--stats-listen` of the verbs: the exporters' stats server, with a failure turned
// into one CliError naming the address and the URLs printed once it listens; and
// `--stats-linger`: the server kept up after a short run so a scraper can read the
// final counters.
import { type StatsEndpoints, type StatsServer, startStatsServer } from '../index.ts';
import { formatHostPort, type HostPort } from './args.ts';
import { CliError, describeError } from './errors.ts';

export async function serveStats(at: HostPort, ep: StatsEndpoints, log: (line: string) => void): Promise<StatsServer> {
  let s: StatsServer;
  try {
    s = await startStatsServer(at, ep);
  } catch (e) {
    throw new CliError(`cannot serve stats on ${formatHostPort(at)}: ${describeError(e)}`);
  }
  log(`stats: http://${formatHostPort(s.address)}/metrics, /stats and /dashboard`);
  return s;
}

/**
 * Closes the stats server, after `seconds` (--stats-linger) if given: a SIGINT or
 * SIGTERM ends the wait early. Nothing to do without a server.
 */
export async function lingerThenClose(s: StatsServer | undefined, seconds: number | undefined, log: (line: string) => void): Promise<void> {
  if (s === undefined) return;
  if (seconds !== undefined && seconds > 0) {
    log(`stats: serving the final counters for ${seconds} s more (SIGINT/SIGTERM ends it)`);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        resolve();
      };
      const timer = setTimeout(done, seconds * 1000);
      process.on('SIGINT', done);
      process.on('SIGTERM', done);
    });
  }
  await s.close();
}
