// `nvmeotcp discover`: read a target's discovery log, printed as `nvme discover` does.
import type { Command } from 'commander';
import { addOutputFormat, outputFormat } from '../args.ts';
import { addConnectionOptions, connectionFlags } from '../connection.ts';
import { discoveryLogJson, formatDiscoveryLog } from '../format/nvme-cli.ts';
import { readDiscoveryLog } from '../session.ts';

export function registerDiscover(program: Command): void {
  const cmd = program.command('discover').description('read the discovery log of a target (as `nvme discover`)');
  addOutputFormat(cmd, 'how to print the log (json as `nvme discover -o json`)');
  addConnectionOptions(cmd, { nqn: 'none', ioQueues: false, verbose: true });
  cmd
    .addHelpText(
      'after',
      `
The discovery controller is reached at -a/-s (default 127.0.0.1:4420: nvmeotcp targets
serve discovery on every listener; a Linux or SPDK target usually listens for it on 8009).

Example:
  nvmeotcp discover -a 127.0.0.1 -s 4420`,
    )
    .action(async (opts: Record<string, unknown>) => {
      const log = await readDiscoveryLog(connectionFlags(opts));
      process.stdout.write(
        outputFormat(opts) === 'json'
          ? `${JSON.stringify(discoveryLogJson(log.genctr, log.entries), null, 2)}\n`
          : formatDiscoveryLog(log.genctr, log.entries),
      );
    });
}
