// `--stats-listen` of the verbs: the exporters' stats server, with a failure turned
// into one CliError naming the address and the URLs printed once it listens.
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
  log(`stats: http://${formatHostPort(s.address)}/metrics and /stats`);
  return s;
}
