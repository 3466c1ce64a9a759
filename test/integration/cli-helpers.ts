// Running the CLI as a subprocess in tests: one-shot verbs (run to completion under a
// hang guard), long-running ones (target, perf) owned by a test or by the file (see
// test/helpers/subprocess.ts: killed when the owner ends, described when a test
// fails), and a port nobody listens on.
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Child, type Exit, type Owner, own } from '../helpers/subprocess.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];
/** A one-shot verb that has not ended after this long is killed: a hang, not a slow run. */
const HANG_GUARD_MS = 300_000;

export type Run = Exit;

/** Stderr lines that are not empty. */
export const errLines = (r: Run): string[] => r.stderr.split('\n').filter((l) => l !== '');

function spawnCli(args: readonly string[], hangGuardMs: number | undefined, bin: readonly string[] = MAIN): Child {
  return Child.spawn(args[0] ?? 'nvmeotcp', process.execPath, [...bin, ...args], { cwd: ROOT, hangGuardMs });
}

/** A long-running verb (no time limit), stopped by `owner` at the latest. */
export function startCli(args: readonly string[], owner: Owner): Child {
  return own(owner, spawnCli(args, undefined));
}

/** Runs one verb to completion. */
export function cli(args: readonly string[]): Promise<Run> {
  return spawnCli(args, HANG_GUARD_MS).wait();
}

/** Runs the bin launcher (bin/nvmeotcp.js) to completion. */
export function bin(args: readonly string[]): Promise<Run> {
  return spawnCli(args, HANG_GUARD_MS, ['bin/nvmeotcp.js']).wait();
}

/** A 127.0.0.1 port that was free a moment ago and has nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A target subprocess on 127.0.0.1:0 owned by `owner`; resolves once it printed its bound address. */
export async function startTarget(args: readonly string[], owner: Owner): Promise<{ proc: Child; port: number; statsUrl?: string }> {
  const proc = startCli(['target', '--listen', '127.0.0.1:0', ...args], owner);
  const m = await proc.waitFor(/^nvmeotcp target: listening on 127\.0\.0\.1:(\d+)$/m);
  const out: { proc: Child; port: number; statsUrl?: string } = { proc, port: Number(m[1]) };
  if (args.includes('--stats-listen')) out.statsUrl = (await proc.waitFor(/^stats: (http:\/\/\S+)\/metrics/m))[1];
  return out;
}
