// What a user sees when a verb fails: one line, no stack trace. NVMEOTCP_DEBUG=1
// prints the stack as well (for bug reports).
import { NvmeStatusError, ProtocolError } from '../index.ts';

/** A failure the user caused (bad config file, wrong NQN...): its message is the whole story. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'address not found',
  EAI_AGAIN: 'address lookup failed',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
  ENOENT: 'no such file or directory',
  EPIPE: 'connection closed by peer',
};

interface SysError {
  code?: unknown;
  path?: unknown;
}

/** The system error's meaning; callers name the address themselves, files are named here. */
function sysText(e: SysError): string | undefined {
  if (typeof e.code !== 'string' || !(e.code in ERRNO_TEXT)) return undefined;
  return typeof e.path === 'string' ? `${ERRNO_TEXT[e.code]} (${e.path})` : ERRNO_TEXT[e.code];
}

/** Names of the statuses a CLI user meets (NVMe base spec Figure "Generic Command Status", NVMe-oF Connect). */
const STATUS_NAME: ReadonlyMap<number, string> = new Map([
  [0x002, 'Invalid Field in Command'],
  [0x00b, 'Invalid Namespace or Format'],
  [0x080, 'LBA Out of Range'],
  [0x180, 'Connect Incompatible Format'],
  [0x181, 'Connect Controller Busy'],
  [0x182, 'Connect Invalid Parameters'],
  [0x183, 'Connect Restart Discovery'],
  [0x184, 'Connect Invalid Host'],
]);

/** One line describing e; a system error behind a wrapped error is named by its meaning. */
export function describeError(e: unknown): string {
  let text: string;
  if (e instanceof ProtocolError) text = e.describe();
  else if (e instanceof NvmeStatusError) {
    const name = STATUS_NAME.get(e.status & 0x7ff);
    text = name === undefined ? e.message : `${e.message}: ${name}`;
  } else if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    text = sysText(e as SysError) ?? (cause instanceof Error ? sysText(cause as SysError) : undefined) ?? e.message;
  } else text = String(e);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
