// The nvme-cli-shaped output and the option parsers, in process (no sockets).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { intArg, onOffArg, outputFormat, outputFormatArg, parseHostPort, sizeArg, traddrArg } from '../../src/cli/args.ts';
import {
  discoveryLogJson,
  eflagsStr,
  formatDiscoveryLog,
  formatListTable,
  formatStr,
  listJson,
  listRows,
  treqStr,
  usageStr,
} from '../../src/cli/format/nvme-cli.ts';
import type { DiscoveryEntry } from '../../src/protocol/discovery.ts';

const entry = (over: Partial<DiscoveryEntry>): DiscoveryEntry => ({
  trtype: 3,
  adrfam: 1,
  subtype: 2,
  treq: 0,
  portid: 1,
  cntlid: 0xffff,
  asqsz: 32,
  eflags: 0,
  trsvcid: '4420',
  subnqn: 'nqn.2024-01.io.nvmeotcp:a',
  traddr: '127.0.0.1',
  sectype: 0,
  ...over,
});

test('formatDiscoveryLog - prints the nvme discover layout', () => {
  const text = formatDiscoveryLog(2, [
    entry({ subtype: 3, subnqn: 'nqn.2014-08.org.nvmexpress.discovery', eflags: 0x3, treq: 0x4 }),
    entry({}),
  ]);
  assert.equal(
    text,
    [
      '',
      'Discovery Log Number of Records 2, Generation counter 2',
      '=====Discovery Log Entry 0======',
      'trtype:  tcp',
      'adrfam:  ipv4',
      'subtype: current discovery subsystem',
      'treq:    not specified, sq flow control disable supported',
      'portid:  1',
      'trsvcid: 4420',
      'subnqn:  nqn.2014-08.org.nvmexpress.discovery',
      'traddr:  127.0.0.1',
      'eflags:  explicit discovery connections, duplicate discovery information',
      'sectype: none',
      '=====Discovery Log Entry 1======',
      'trtype:  tcp',
      'adrfam:  ipv4',
      'subtype: nvme subsystem',
      'treq:    not specified',
      'portid:  1',
      'trsvcid: 4420',
      'subnqn:  nqn.2024-01.io.nvmeotcp:a',
      'traddr:  127.0.0.1',
      'eflags:  none',
      'sectype: none',
      '',
    ].join('\n'),
  );
});

test('discoveryLogJson - names fields as nvme discover -o json', () => {
  assert.deepEqual(discoveryLogJson(7, [entry({ adrfam: 2, traddr: '::1', treq: 2 })]), {
    genctr: 7,
    records: [
      {
        trtype: 'tcp',
        adrfam: 'ipv6',
        subtype: 'nvme subsystem',
        treq: 'not required',
        portid: 1,
        trsvcid: '4420',
        subnqn: 'nqn.2024-01.io.nvmeotcp:a',
        traddr: '::1',
        eflags: 'none',
        sectype: 'none',
      },
    ],
  });
});

test('treqStr/eflagsStr - decode every bit libnvme names', () => {
  assert.equal(treqStr(1), 'required');
  assert.equal(treqStr(6), 'not required, sq flow control disable supported');
  assert.equal(eflagsStr(4), 'no cdc connectivity');
  assert.equal(eflagsStr(7), 'explicit discovery connections, duplicate discovery information, no cdc connectivity');
  assert.equal(eflagsStr(0x100), 'unrecognized');
});

test('usageStr/formatStr - nvme list number formats', () => {
  assert.equal(usageStr(268435456, 268435456), '268.44  MB / 268.44  MB');
  assert.equal(usageStr(0, 1e12), '  0.00   B /   1.00  TB');
  assert.equal(formatStr(512, 0), '512   B +  0 B');
  assert.equal(formatStr(4096, 8), '  4 KiB +  8 B');
});

test('formatListTable - header, rule and one row per namespace', () => {
  const rows = [
    {
      node: '/dev/nvme0n1',
      generic: '/dev/ng0n1',
      sn: 'a1b2c3',
      mn: 'nvmeotcp',
      fr: '0.1.0',
      nsid: 1,
      lbaSize: 512,
      metadataSize: 0,
      nsze: 131072,
      nuse: 131072,
    },
  ];
  const lines = formatListTable(rows).split('\n');
  assert.equal(
    lines[0],
    'Node                  Generic               SN                   Model                                    Namespace  Usage                      Format           FW Rev',
  );
  assert.equal(
    lines[1]
      .split(' ')
      .map((s) => s.length)
      .join(','),
    '21,21,20,40,10,26,16,8',
  );
  assert.equal(
    lines[2],
    '/dev/nvme0n1          /dev/ng0n1            a1b2c3               nvmeotcp                                 0x1         67.11  MB /  67.11  MB    512   B +  0 B   0.1.0',
  );
  assert.deepEqual(listJson(rows), {
    Devices: [
      {
        NameSpace: 1,
        DevicePath: '/dev/nvme0n1',
        GenericPath: '/dev/ng0n1',
        Firmware: '0.1.0',
        ModelNumber: 'nvmeotcp',
        SerialNumber: 'a1b2c3',
        UsedBytes: 67108864,
        MaximumLBA: 131072,
        PhysicalSize: 67108864,
        SectorSize: 512,
      },
    ],
  });
});

test('listRows - usage from NUSE and format from the LBA format metadata size', () => {
  const rows = listRows(0, { sn: 'a1b2c3', mn: 'nvmeotcp', fr: '0.1.0' }, [
    { nsid: 1, lbaSize: 512, nlba: 131072, nuse: 131072, ms: 0, bytes: 67108864 },
    { nsid: 3, lbaSize: 4096, nlba: 262144, nuse: 1000, ms: 8, bytes: 1073741824 },
  ]);
  assert.deepEqual(rows[1], {
    node: '/dev/nvme0n3',
    generic: '/dev/ng0n3',
    sn: 'a1b2c3',
    mn: 'nvmeotcp',
    fr: '0.1.0',
    nsid: 3,
    lbaSize: 4096,
    metadataSize: 8,
    nsze: 262144,
    nuse: 1000,
  });
  const lines = formatListTable(rows).split('\n');
  assert.equal(
    lines[2],
    '/dev/nvme0n1          /dev/ng0n1            a1b2c3               nvmeotcp                                 0x1         67.11  MB /  67.11  MB    512   B +  0 B   0.1.0',
  );
  assert.equal(
    lines[3],
    '/dev/nvme0n3          /dev/ng0n3            a1b2c3               nvmeotcp                                 0x3          4.10  MB /   1.07  GB      4 KiB +  8 B   0.1.0',
  );
  assert.equal((listJson(rows).Devices[1] as { UsedBytes: number }).UsedBytes, 4096000);
});

test('parseHostPort - IPv4, bracketed IPv6, bare port, and errors', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:4420'), { host: '127.0.0.1', port: 4420 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort(':9100'), { host: '127.0.0.1', port: 9100 });
  assert.throws(() => parseHostPort('127.0.0.1'), InvalidArgumentError);
  assert.throws(() => parseHostPort('::1:4420'), InvalidArgumentError);
  assert.throws(() => parseHostPort('h:70000'), InvalidArgumentError);
});

test('intArg/sizeArg/onOffArg - accept the documented forms only', () => {
  assert.equal(intArg(1, 8)('8'), 8);
  assert.throws(() => intArg(1, 8)('9'), InvalidArgumentError);
  assert.throws(() => intArg(1, 8)('2x'), InvalidArgumentError);
  assert.equal(sizeArg('128k'), 131072);
  assert.equal(sizeArg('4096'), 4096);
  assert.throws(() => sizeArg('0'), InvalidArgumentError);
  assert.throws(() => sizeArg('lots'), InvalidArgumentError);
  assert.equal(onOffArg('off'), false);
  assert.equal(onOffArg('ON'), true);
  assert.throws(() => onOffArg('maybe'), InvalidArgumentError);
});

test('traddrArg - IPv4, bare and bracketed IPv6, host names; no port inside', () => {
  assert.equal(traddrArg('127.0.0.1'), '127.0.0.1');
  assert.equal(traddrArg('::1'), '::1');
  assert.equal(traddrArg('[::1]'), '::1');
  assert.equal(traddrArg(' [fe80::1%eth0] '), 'fe80::1%eth0');
  assert.equal(traddrArg('localhost'), 'localhost');
  assert.throws(() => traddrArg('[::1]:4420'), /give the port with -s/);
  assert.throws(() => traddrArg('[127.0.0.1]'), /brackets are for IPv6/);
  assert.throws(() => traddrArg('[::1'), InvalidArgumentError);
  assert.throws(() => traddrArg(''), InvalidArgumentError);
});

test('outputFormatArg/outputFormat - normal or json; --json wins as -o json', () => {
  assert.equal(outputFormatArg('JSON'), 'json');
  assert.equal(outputFormatArg('normal'), 'normal');
  assert.throws(() => outputFormatArg('binary'), /expected normal or json/);
  assert.equal(outputFormat({ outputFormat: 'normal' }), 'normal');
  assert.equal(outputFormat({ outputFormat: 'json' }), 'json');
  assert.equal(outputFormat({ outputFormat: 'normal', json: true }), 'json');
  assert.equal(outputFormat({}), 'normal');
});
