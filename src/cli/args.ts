// Option value parsers shared by the verbs. Each throws commander's
// InvalidArgumentError, which commander turns into one line on stderr
// ("error: option '--bs <size>' argument 'x' is invalid. <reason>") and exit code 1.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDhchapKey, parseSize } from '../index.ts';

/** An integer within [min, max]. */
export function intArg(min: number, max: number): (v: string) => number {
  return (v: string) => {
    const s = v.trim();
    if (!/^-?\d+$/.test(s)) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    const n = Number(s);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** A positive number (seconds and the like; fractions allowed). */
export function positiveNumberArg(v: string): number {
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** Seconds (fractions allowed) ≥ min, or -1 when `minusOne` names what -1 means ("forever", "off"). */
export function secondsArg(min: number, minusOne?: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v.trim());
    if (v.trim() !== '' && minusOne !== undefined && n === -1) return -1;
    if (v.trim() === '' || !Number.isFinite(n) || n < min) {
      throw new InvalidArgumentError(`expected a number of seconds ≥ ${min}${minusOne !== undefined ? `, or -1 (${minusOne})` : ''}`);
    }
    return n;
  };
}

/** A byte offset with fio suffixes (0, 4k, 1m...; k = 1024). */
export function offsetArg(v: string): number {
  try {
    return parseSize(v);
  } catch {
    throw new InvalidArgumentError('expected a size such as 4096, 4k, 128k or 1m');
  }
}

/** A size with fio suffixes (4k, 128K, 1m, 2g; k = 1024). */
export function sizeArg(v: string): number {
  const n = offsetArg(v);
  if (n <= 0) throw new InvalidArgumentError('expected a size greater than 0');
  return n;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "ADDR:PORT", "[v6]:PORT" or ":PORT" (127.0.0.1). Port 0 picks a free port. */
export function parseHostPort(v: string): HostPort {
  const s = v.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]*):(\d+)$/.exec(s);
  if (!m) throw new InvalidArgumentError('expected ADDR:PORT, e.g. 127.0.0.1:4420 or [::1]:4420');
  const port = Number(m[2]);
  if (port > 65535) throw new InvalidArgumentError('port must be from 0 to 65535');
  return { host: m[1] === '' ? '127.0.0.1' : m[1], port };
}

/** For repeatable options: appends every occurrence. */
export function collect<T>(parse: (v: string) => T): (v: string, prev: T[] | undefined) => T[] {
  return (v, prev) => [...(prev ?? []), parse(v)];
}

/** "on" / "off" (also true/false, 1/0, yes/no). */
export function onOffArg(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (s === 'on' || s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'off' || s === 'false' || s === '0' || s === 'no') return false;
  throw new InvalidArgumentError('expected on or off');
}

/** An IP address or host name as nvme-cli's -a/--traddr takes it; an IPv6 address may be bracketed ("[::1]"). */
export function traddrArg(v: string): string {
  const s = v.trim();
  const m = /^\[([^\]]*)\](.*)$/.exec(s);
  if (m) {
    if (m[2] !== '') throw new InvalidArgumentError('expected an address alone (give the port with -s/--trsvcid)');
    if (!m[1].includes(':')) throw new InvalidArgumentError('brackets are for IPv6 addresses, e.g. [::1]');
    return m[1];
  }
  if (s === '' || /[[\]\s]/.test(s)) throw new InvalidArgumentError('expected an address such as 127.0.0.1, ::1 or [::1]');
  return s;
}

export type OutputFormat = 'normal' | 'json';

/** nvme-cli's -o/--output-format values that apply here ("binary" dumps raw structures, which we do not print). */
export function outputFormatArg(v: string): OutputFormat {
  const s = v.trim().toLowerCase();
  if (s === 'normal' || s === 'json') return s;
  throw new InvalidArgumentError('expected normal or json');
}

/** Adds -o/--output-format and its older spelling --json (the same as -o json). */
export function addOutputFormat(cmd: Command, what: string): Command {
  return cmd
    .addOption(new Option('-o, --output-format <fmt>', `${what}: normal or json`).default('normal').argParser(outputFormatArg))
    .option('--json', 'the same as -o json', false);
}

/** The output format the flags of addOutputFormat ask for. */
export function outputFormat(opts: Record<string, unknown>): OutputFormat {
  return opts.json === true ? 'json' : ((opts.outputFormat as OutputFormat | undefined) ?? 'normal');
}

/** "ADDR:PORT" as it would be typed back (IPv6 in brackets). */
export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A DH-HMAC-CHAP secret (DHHC-1:..: as `nvme gen-dhchap-key` prints it), checked: format, key length, CRC-32. */
export function dhchapSecretArg(v: string): string {
  try {
    parseDhchapKey(v, 'secret');
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v.trim();
}
