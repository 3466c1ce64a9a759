// What a reader of the figures needs to know about the build that made them: the
// package version and the CRC32C implementation the digests run on (the native one
// or the slower fallback a consumer gets when its npm blocks the native install).
import { readFileSync } from 'node:fs';
import { crc32cImplementation } from '../protocol/crc32c.ts';

export interface BuildInfo {
  version: string;
  crc32c: string;
}

let version: string | undefined;

/** The `version` of this package's package.json (the same file from src/ or a compiled dist/), read once. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

export function buildInfo(): BuildInfo {
  return { version: packageVersion(), crc32c: crc32cImplementation() };
}
