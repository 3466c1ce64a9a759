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
    hosts: [{ nqn: 'nqn.2014-08.org.nvmexpress:uuid:6f2a1c9e-4b7d-4e1a-9c3f-2d8b5a7e0c11' }],
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
        allowed_hosts: ['nqn.2014-08.org.nvmexpress:uuid:6f2a1c9e-4b7d-4e1a-9c3f-2d8b5a7e0c11'],
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
    assert.deepEqual(plan.listen, [
      { host: '127.0.0.1', port: 4420, subsystems: ['nqn.2024-01.io.example:open', 'nqn.2024-01.io.example:closed'] },
    ]);
    assert.equal(plan.inCapsuleDataSize, 16384);
    assert.deepEqual(plan.subsystems, [
      {
        nqn: 'nqn.2024-01.io.example:open',
        allowAnyHost: true,
        allowedHosts: [],
        serial: '0123456789abcdef',
        model: 'Linux',
        version: '1.3',
        cntlidMin: 1,
        cntlidMax: 65519,
        namespaces: [
          { nsid: 1, lbaSize: 512, backend: { kind: 'ram', size: 2 << 20 } },
          { nsid: 2, lbaSize: 512, backend: { kind: 'file', path: file } },
        ],
      },
      {
        nqn: 'nqn.2024-01.io.example:closed',
        allowAnyHost: false,
        allowedHosts: ['nqn.2014-08.org.nvmexpress:uuid:6f2a1c9e-4b7d-4e1a-9c3f-2d8b5a7e0c11'],
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
  bad({ ports: [] }, 'no NVMe/TCP ports: the file exports nothing');
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'rdma', traddr: '10.0.0.1', trsvcid: '4420' } }] },
    'no NVMe/TCP ports: the file exports nothing',
  );
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420' }, subsystems: ['nqn.x'] }] },
    'ports[0].subsystems: nqn.x is not in "subsystems"',
  );
  const Y = 'nqn.2024-01.io.example:y';
  bad({ subsystems: [{ nqn: Y, allowed_hosts: ['nqn.h'] }] }, 'subsystems[0].allowed_hosts[0]: host nqn.h is not in "hosts"');
  bad({ subsystems: [{ nqn: Y, namespaces: [{ enable: 1 }] }] }, 'subsystems[0].namespaces[0].nsid: expected a non-negative integer');
  bad(
    { subsystems: [{ nqn: 'nqn.y' }] },
    'subsystems[0].nqn: "nqn.y" is not nqn.yyyy-mm.<reverse domain>:<name> nor nqn.2014-08.org.nvmexpress:uuid:<uuid>',
  );
  bad(
    { hosts: [{ nqn: 'nqn.2014-08.org.nvmexpress:uuid:host-a' }] },
    'hosts[0].nqn: "nqn.2014-08.org.nvmexpress:uuid:host-a" has no UUID after nqn.2014-08.org.nvmexpress:uuid:',
  );
  bad(
    { subsystems: [{ nqn: Y, namespaces: [{ nsid: 1, device: { uuid: 'zz' } }] }] },
    'subsystems[0].namespaces[0].device.uuid: "zz" is not a UUID (32 hex digits)',
  );
  bad(
    { subsystems: [{ nqn: Y, namespaces: [{ nsid: 1, device: { size: 'big' } }] }] },
    'subsystems[0].namespaces[0].device.size: expected a size in bytes or with a suffix (256M, 1G)',
  );
  bad(
    { ports: [{ portid: 1, addr: { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '99999' } }] },
    'ports[0].addr.trsvcid: 99999 is not a TCP port',
  );
});

test('planFromNvmetcli - per-port links, non-TCP ports skipped with a note, uuid/nguid/readonly and qid_max', () => {
  const A = 'nqn.2024-01.io.example:a';
  const B = 'nqn.2024-01.io.example:b';
  const plan = planFromNvmetcli(
    {
      ports: [
        { portid: 1, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '4420' }, subsystems: [A] },
        { portid: 2, addr: { trtype: 'rdma', adrfam: 'ipv4', traddr: '10.0.0.1', trsvcid: '4420' }, subsystems: [B] },
        { portid: 3, addr: { trtype: 'tcp', adrfam: 'ipv6', traddr: '::1', trsvcid: '4421' }, subsystems: [A, B] },
      ],
      subsystems: [
        {
          nqn: A,
          attr: { qid_max: '4' },
          namespaces: [
            {
              nsid: 1,
              enable: 1,
              device: {
                path: '/dev/nullb0',
                uuid: '4e1f2a3b-0c5d-4e6f-8a9b-0c1d2e3f4a5b',
                nguid: '00000000-0000-0000-0000-000000000000',
                readonly: '1',
              },
            },
          ],
        },
        { nqn: B, namespaces: [] },
      ],
    },
    defaults,
  );
  assert.deepEqual(plan.listen, [
    { host: '127.0.0.1', port: 4420, subsystems: [A] },
    { host: '::1', port: 4421, subsystems: [A, B] },
  ]);
  assert.equal(plan.subsystems[0].qidMax, 4);
  assert.deepEqual(plan.subsystems[0].namespaces?.[0], {
    nsid: 1,
    lbaSize: 512,
    backend: { kind: 'ram', size: 1 << 20 },
    uuid: '4e1f2a3b-0c5d-4e6f-8a9b-0c1d2e3f4a5b',
    readOnly: true,
  });
  assert.ok(plan.notes.includes('port 2: trtype rdma is not served (NVMe/TCP only), skipped'), plan.notes.join('\n'));
});
