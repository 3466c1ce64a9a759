// `promtool check metrics` (Debian's prometheus package) on exposition text. Absent
// promtool skips the test with a message, except in CI (CI=true), where it fails:
// .ci/run installs the package.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

function havePromtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Checks `text` with promtool; false (and the test skipped) when promtool is missing outside CI. */
export function promtoolCheck(t: TestContext, text: string): boolean {
  if (!havePromtool()) {
    assert.ok(process.env.CI !== 'true', 'promtool is missing in CI: .ci/run must install the prometheus package');
    t.skip('promtool not installed (apt-get install prometheus): exposition text not linted');
    return false;
  }
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics failed:\n${r.stdout}${r.stderr}`);
  return true;
}
