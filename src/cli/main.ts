// `nvmeotcp <verb>`: the command registry and the one place errors become exit codes.
// Every failure is one line on stderr ("nvmeotcp <verb>: <what>") and a non-zero exit
// code; NVMEOTCP_DEBUG=1 adds the stack trace.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerConnect, registerList } from './commands/connect.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDiscover } from './commands/discover.ts';
import { registerPerf } from './commands/perf.ts';
import { registerReplay } from './commands/replay.ts';
import { registerStats } from './commands/stats.ts';
import { registerTarget } from './commands/target.ts';
import { crc32cImplementation, crc32cSkipped, packageVersion } from '../index.ts';
import { CliError, describeError } from './errors.ts';

/** Where help, usage errors and failure lines go (tests pass their own). */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export function buildProgram(io: Io = processIo): Command {
  const program = new Command('nvmeotcp')
    .description(
      'NVMe over TCP in Node.js: a target, a host with a receive offload engine (the Linux ulp_ddp ' +
        'NVMe/TCP offload model) and the mlx5e offload statistics.',
    )
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Commander's own errors ("error: unknown option '--x'"): one line.
      outputError: (str) => io.err(`nvmeotcp: ${str.replace(/\s*\n\s*/g, ' ').trim()}\n`),
    });
  registerTarget(program);
  registerDiscover(program);
  registerConnect(program);
  registerList(program);
  registerPerf(program);
  registerStats(program);
  registerDemo(program);
  registerReplay(program);
  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[] = process.argv, io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  // Once at start-up, with NVMEOTCP_DEBUG=1 or a verb's -v/--verbose: which CRC32C
  // computes the digests, and why faster ones were passed over.
  const sayCrc = () => {
    io.err(`nvmeotcp: crc32c ${crc32cImplementation()}\n`);
    for (const why of crc32cSkipped()) io.err(`nvmeotcp: crc32c: ${why}\n`);
  };
  if (process.env.NVMEOTCP_DEBUG) sayCrc();
  let verb = '';
  program.hook('preAction', (_this, action) => {
    verb = action.name();
    if (!process.env.NVMEOTCP_DEBUG && action.opts().verbose === true) sayCrc();
  });
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version end here too, with exit code 0; errors were printed by commander.
      return e.exitCode;
    }
    io.err(`nvmeotcp${verb ? ` ${verb}` : ''}: ${describeError(e)}\n`);
    if (process.env.NVMEOTCP_DEBUG && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

const isClosedPipe = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'EPIPE';

/** Entry point for the bin launcher and `node --import tsx src/cli/main.ts`. */
export async function run(argv: readonly string[] = process.argv): Promise<void> {
  // The reader of our output went away (`nvmeotcp discover | head -1`): stop quietly
  // with exit code 0, as CLIs killed by SIGPIPE do (Node ignores SIGPIPE, so a write
  // fails with EPIPE instead). Handled here, once, for every verb and both streams.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: unknown) => {
      if (isClosedPipe(e)) process.exit(0);
      throw e;
    });
  }
  const oneLine = (e: unknown) => {
    process.stderr.write(`nvmeotcp: internal error: ${describeError(e)}\n`);
    if (process.env.NVMEOTCP_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(70);
  };
  process.on('uncaughtException', oneLine);
  process.on('unhandledRejection', oneLine);
  const code = await main(argv);
  process.exitCode = code;
  // Everything was closed by the verb; if a handle still lingers, do not hang the shell.
  setTimeout(() => process.exit(code), 1000).unref();
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await run();
