// nvmetcli-style JSON → target plan, in process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliError } from '../../src/cli/errors.ts';
import { planFromNvmetcli } from '../../src/cli/nvmetcli-config.ts';

const defaults = { ramSize: 1 << 20, lbaSize: 512 as const };

/** The shape `nvmetcli save` writes: configfs attribute values as strings. */
function savedConfig(filePath: string): unknown {
  return {
    hosts: [{ nqn: 'nqn.2014-08.org.nvmexpress:uuid:host-a' }],
    ports: [
      {
        addr: { adrfam: 'ipv4', traddr: '127.0.0.1', treq: 'not specified', trsvcid: '4420', trtype: 'tcp' },
        ana_groups: [{ ana: { state: 'optimized' }, grpid: 1 }],
        param: { inline_data_size: '16384', pi_enable: '0' },
        portid: 1,
        referrals: [],
        subsystems: ['nqn.2024-01.io.example:open', 'nqn.2024-01.io.example:closed'],
      },
    ],
    subsystems: [
      {
        allowed_hosts: [],
        attr: { allow_any_host: '1', cntlid_max: '65519', cntlid_min: '1', model: 'Linux', serial: '0123456789abcdef', version: '1.3' },
        namespaces: [
          { ana_grpid: 1, device: { nguid: '00000000-0000-0000-0000-000000000000', path: '/dev/ram0', size: '2M' }, enable: 1, nsid: 1 },
          { ana_grpid: 1, device: { path: filePath }, enable: 1, nsid: 2 },
          { ana_grpid: 1, device: { path: '/dev/nullb0' }, enable: 0, nsid: 3 },
        ],
        nqn: 'nqn.2024-01.io.example:open',
      },
      {
        allowed_hosts: ['nqn.2014-08.org.nvmexpress:uuid:host-a'],
        attr: { allow_any_host: '0' },
        namespaces: [{ device: { path: '/dev/nullb0' }, enable: 1, nsid: 1 }],
        nqn: 'nqn.2024-01.io.example:closed',
      },
      { attr: {}, namespaces: [], nqn: 'nqn.2024-01.io.example:unlinked' },
    ],
  };
}

test('planFromNvmetcli - maps ports, subsystems, hosts and namespaces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-cfg-'));
  try {
    const file = join(dir, 'disk.img');
    writeFileSync(file, Buffer.alloc(8192));
    const plan = planFromNvmetcli(savedConfig(file), defaults);
    assert.deepEqual(plan.listen, [{ host: '127.0.0.1', port: 4420 }]);
    assert.equal(plan.inCapsuleDataSize, 16384);
    assert.deepEqual(plan.subsystems, [
      {
        nqn: 'nqn.2024-01.io.example:open',
        allowAnyHost: true,
        allowedHosts: [],
        serial: '0123456789abcdef',
        model: 'Linux',
        namespaces: [
          { nsid: 1, lbaSize: 512, backend: { kind: 'ram', size: 2 << 20 } },
          { nsid: 2, lbaSize: 512, backend: { kind: 'file', path: file } },
        ],
      },
      {
        nqn: 'nqn.2024-01.io.example:closed',
        allowAnyHost: false,
        allowedHosts: ['nqn.2014-08.org.nvmexpress:uuid:host-a'],
        namespaces: [{ nsid: 1, lbaSize: 512, backend: { kind: 'ram', size: 1 << 20 } }],
      },
    ]);
    assert.deepEqual(plan.notes, [
      'nqn.2024-01.io.example:open: namespace 1: /dev/ram0 is not a regular file, served from RAM (2097152 bytes)',
      'nqn.2024-01.io.example:open: namespace 3 is disabled in the file, not served',
      'nqn.2024-01.io.example:closed: namespace 1: /dev/nullb0 is not a regular file, served from RAM (1048576 bytes)',
      'nqn.2024-01.io.example:unlinked: linked to no port, not served',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('planFromNvmetcli - rejects what nvmetcli restore would refuse, naming the field', () => {
  const bad = (doc: unknown, msg: string) =>
    assert.throws(
      () => planFromNvmetcli(doc, defaults),
      (e: unknown) => e instanceof CliError && e.message === msg,
    );
  bad([], 'expected a JSON object with "ports" and "subsystems"');
  bad({ ports: [] }, 'no ports: the file exports nothing');
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'rdma', traddr: '10.0.0.1', trsvcid: '4420' } }] },
    'ports[0].addr.trtype: "rdma" is not supported (tcp only)',
  );
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420' }, subsystems: ['nqn.x'] }] },
    'ports[0].subsystems: nqn.x is not in "subsystems"',
  );
  bad({ subsystems: [{ nqn: 'nqn.y', allowed_hosts: ['nqn.h'] }] }, 'subsystems[0].allowed_hosts[0]: host nqn.h is not in "hosts"');
  bad({ subsystems: [{ nqn: 'nqn.y', namespaces: [{ enable: 1 }] }] }, 'subsystems[0].namespaces[0].nsid: expected a non-negative integer');
  bad(
    { subsystems: [{ nqn: 'nqn.y', namespaces: [{ nsid: 1, device: { size: 'big' } }] }] },
    'subsystems[0].namespaces[0].device.size: expected a size in bytes or with a suffix (256M, 1G)',
  );
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '99999' } }] },
    'ports[0].addr.trsvcid: 99999 is not a TCP port',
  );
});
