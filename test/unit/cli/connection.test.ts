import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { addConnectionOptions, connectionFlags } from '../../../src/cli/connection.ts';
import { connectController } from '../../../src/cli/session.ts';
import { AdminOpc, FabricsType } from '../../../src/protocol/constants.ts';
import { CATTR_DISABLE_SQFLOW, FabricsOff } from '../../../src/protocol/fabrics.ts';
import { FakeTarget } from '../host/fake-target.ts';

function parse(argv: string[]) {
  const cmd = addConnectionOptions(new Command('connect').exitOverride(), { nqn: 'required', ioQueues: true });
  cmd.parse(argv, { from: 'user' });
  return connectionFlags(cmd.opts());
}

test('cli connection flags - -d/--disable-sqflow (nvme-cli spelling) sets CATTR bit 2 in every I/O queue Connect', async () => {
  assert.equal(parse(['-n', 'nqn.x']).disableSqflow, false);
  assert.equal(parse(['-n', 'nqn.x', '--disable-sqflow']).disableSqflow, true);
  const t = new FakeTarget();
  const port = await t.listen();
  try {
    const f = parse(['-n', t.subnqn, '-s', String(port), '-d', '-i', '2', '-k', '0']);
    const ctrl = await connectController(f, t.subnqn);
    await ctrl.disconnect();
    const connects = t.seen.filter((c) => c.opc === AdminOpc.Fabrics && c.fctype === FabricsType.Connect);
    assert.deepEqual(
      connects.map((c) => [c.qid, c.sqe[FabricsOff.CATTR] & CATTR_DISABLE_SQFLOW]),
      [
        [0, CATTR_DISABLE_SQFLOW],
        [1, CATTR_DISABLE_SQFLOW],
        [2, CATTR_DISABLE_SQFLOW],
      ],
    );
  } finally {
    await t.close();
  }
});
