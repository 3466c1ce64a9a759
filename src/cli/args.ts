// Option value parsers shared by the verbs. Each throws commander's
// InvalidArgumentError, which commander turns into one line on stderr
// ("error: option '--bs <size>' argument 'x' is invalid. <reason>") and exit code 1.
import { InvalidArgumentError } from 'commander';
import { parseSize } from '../index.ts';

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

/** A size with fio suffixes (4k, 128K, 1m, 2g; k = 1024). */
export function sizeArg(v: string): number {
  let n: number;
  try {
    n = parseSize(v);
  } catch {
    throw new InvalidArgumentError('expected a size such as 4096, 4k, 128k or 1m');
  }
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

/** "ADDR:PORT" as it would be typed back (IPv6 in brackets). */
export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
