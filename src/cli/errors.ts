// What a user sees when a verb fails: one line, no stack trace. NVMEOTCP_DEBUG=1
// prints the stack as well (for bug reports).
import { NvmeTcpError, ProtocolError } from '../protocol/errors.ts';

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
  address?: unknown;
  port?: unknown;
  path?: unknown;
}

function sysText(e: SysError): string | undefined {
  if (typeof e.code !== 'string' || !(e.code in ERRNO_TEXT)) return undefined;
  let where = '';
  if (typeof e.address === 'string') where = ` (${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''})`;
  else if (typeof e.path === 'string') where = ` (${e.path})`;
  return `${ERRNO_TEXT[e.code]}${where}`;
}

/** One line describing e, with the system error behind a wrapped error when there is one. */
export function describeError(e: unknown): string {
  let text: string;
  if (e instanceof ProtocolError) text = e.describe();
  else if (e instanceof Error) {
    text = sysText(e as SysError) ?? e.message;
    const cause = (e as { cause?: unknown }).cause;
    if (NvmeTcpError.isNvmeTcpError(e) && cause instanceof Error) {
      const c = sysText(cause as SysError) ?? cause.message;
      if (!text.includes(c)) text = `${text}: ${c}`;
    }
  } else text = String(e);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
