// nvme-cli in tests: `nvme gen-tls-key` and `nvme check-tls-key` make and judge keys.
// Outside CI a machine without nvme-cli skips those tests with a message; in CI
// (.ci/run installs nvme-cli before the tests) a missing nvme-cli fails them.
import { execFileSync } from 'node:child_process';

function find(): string | undefined {
  for (const p of ['/usr/sbin/nvme', '/usr/bin/nvme', '/sbin/nvme']) {
    try {
      execFileSync(p, ['version'], { stdio: 'pipe' });
      return p;
    } catch {
      // try the next place
    }
  }
  return undefined;
}

const NVME = find();

/** `{ skip }` for a test that needs nvme-cli: a reason outside CI, false otherwise (in CI the test runs and fails). */
export function needsNvmeCli(): { skip: string | false } {
  if (NVME !== undefined || process.env.CI === 'true') return { skip: false };
  return { skip: 'nvme-cli is not installed (apt-get install nvme-cli)' };
}

/** Runs nvme-cli; returns stdout, or throws with its stderr. */
export function nvme(...args: string[]): string {
  if (NVME === undefined) throw new Error('nvme-cli is not installed');
  return execFileSync(NVME, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A fresh key from `nvme gen-tls-key --hmac=<hmac>` (1 SHA-256, 2 SHA-384). */
export function genTlsKey(hmac: 1 | 2): string {
  return nvme('gen-tls-key', `--hmac=${hmac}`).trim();
}
