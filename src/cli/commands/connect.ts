// `nvmeotcp connect` and `nvmeotcp list`: connect a controller, show it as nvme-cli
// would (connect message, list-subsys block, id-ctrl fields, `nvme list` table),
// then shut it down. We are not a kernel: no /dev/nvme* node appears, so both verbs
// end with a clean disconnect.
import type { Command } from 'commander';
import type { IdentifyController, NvmeController } from '../../index.ts';
import { addOutputFormat, outputFormat } from '../args.ts';
import { addConnectionOptions, type ConnectionFlags, connectionFlags } from '../connection.ts';
import { formatListTable, type ListRow, listJson, listRows } from '../format/nvme-cli.ts';
import { connectController, resolveSubnqn } from '../session.ts';

/** The controller instance a kernel would number this controller with (nvme0). */
const CTRL_INSTANCE = 0;
const CTRL_NAME = `nvme${CTRL_INSTANCE}`;

function rowsOf(ctrl: NvmeController): ListRow[] {
  return listRows(CTRL_INSTANCE, ctrl.identify, ctrl.namespaces);
}

const hex = (v: number) => `0x${v.toString(16)}`;

/** The Identify Controller fields `nvme id-ctrl` prints that matter on fabrics. */
function idCtrlFields(id: IdentifyController): [string, string][] {
  return [
    ['vid', hex(id.vid)],
    ['ssvid', hex(id.ssvid)],
    ['sn', id.sn],
    ['mn', id.mn],
    ['fr', id.fr],
    ['ieee', id.ieee.toString(16).padStart(6, '0')],
    ['cmic', String(id.cmic)],
    ['mdts', String(id.mdts)],
    ['cntlid', hex(id.cntlid)],
    ['ver', hex(id.ver)],
    ['oaes', hex(id.oaes)],
    ['ctratt', hex(id.ctratt)],
    ['cntrltype', String(id.cntrltype)],
    ['kas', String(id.kas)],
    ['sqes', hex(id.sqes)],
    ['cqes', hex(id.cqes)],
    ['maxcmd', String(id.maxcmd)],
    ['nn', String(id.nn)],
    ['oncs', hex(id.oncs)],
    ['vwc', hex(id.vwc)],
    ['sgls', hex(id.sgls)],
    ['subnqn', id.subnqn],
    ['ioccsz', String(id.ioccsz)],
    ['iorcsz', String(id.iorcsz)],
    ['icdoff', String(id.icdoff)],
    ['fcatt', hex(id.fcatt)],
    ['msdbd', String(id.msdbd)],
  ];
}

function address(f: ConnectionFlags): string {
  return `traddr=${f.traddr},trsvcid=${f.trsvcid}`;
}

function connectText(f: ConnectionFlags, subnqn: string, ctrl: NvmeController): string {
  const out = [
    `connecting to device: ${CTRL_NAME}`,
    `nvme-subsys0 - NQN=${subnqn}`,
    `               hostnqn=${f.hostnqn}`,
    '\\',
    ` +- ${CTRL_NAME} tcp ${address(f)} live`,
    '',
    `queues: admin + ${ctrl.ioQueueCount} I/O (asked ${f.nrIoQueues}, size ${f.queueSize}), ` +
      `header digest ${f.hdrDigest ? 'on' : 'off'}, data digest ${f.dataDigest ? 'on' : 'off'}, ` +
      `keep-alive ${f.keepAliveTmo ? `${f.keepAliveTmo} s` : 'off'}`,
    `recovery: reconnect-delay ${f.reconnectDelay} s, ctrl-loss-tmo ${f.ctrlLossTmo < 0 ? 'never' : `${f.ctrlLossTmo} s`}, ` +
      `fast_io_fail_tmo ${f.fastIoFailTmo < 0 ? 'off' : `${f.fastIoFailTmo} s`}, io-timeout ${f.ioTimeout} s`,
    '',
    'NVME Identify Controller:',
    ...idCtrlFields(ctrl.identify).map(([k, v]) => `${k.padEnd(10)}: ${v}`),
    '',
  ];
  return `${out.join('\n')}\n${formatListTable(rowsOf(ctrl))}\nNQN:${subnqn} disconnected 1 controller(s)\n`;
}

function connectJson(f: ConnectionFlags, subnqn: string, ctrl: NvmeController): object {
  return {
    device: CTRL_NAME,
    subsystem: { name: 'nvme-subsys0', nqn: subnqn, hostnqn: f.hostnqn },
    controller: {
      name: CTRL_NAME,
      transport: 'tcp',
      address: address(f),
      state: 'live',
      cntlid: ctrl.cntlid,
      ioQueues: ctrl.ioQueueCount,
      hdrDigest: f.hdrDigest,
      dataDigest: f.dataDigest,
      keepAliveTmo: f.keepAliveTmo,
      reconnectDelay: f.reconnectDelay,
      ctrlLossTmo: f.ctrlLossTmo,
      fastIoFailTmo: f.fastIoFailTmo,
      ioTimeout: f.ioTimeout,
    },
    identify: Object.fromEntries(idCtrlFields(ctrl.identify)),
    namespaces: listJson(rowsOf(ctrl)).Devices,
  };
}

/** Connects, renders, disconnects (also when rendering fails). */
async function withController(
  opts: Record<string, unknown>,
  render: (f: ConnectionFlags, subnqn: string, c: NvmeController) => string,
): Promise<void> {
  const f = connectionFlags(opts);
  const subnqn = await resolveSubnqn(f);
  const ctrl = await connectController(f, subnqn);
  let text: string;
  try {
    text = render(f, subnqn, ctrl);
  } finally {
    await ctrl.disconnect();
  }
  process.stdout.write(text);
}

const NOT_A_KERNEL = `
We are not a kernel: no /dev/nvme* node is created. The controller is connected,
shown, and shut down cleanly (CC.SHN) before the command exits.`;

export function registerConnect(program: Command): void {
  const cmd = program.command('connect').description('connect to a subsystem, show the controller and its namespaces, disconnect');
  addOutputFormat(cmd, 'how to print the controller');
  addConnectionOptions(cmd, { nqn: 'optional', ioQueues: true, verbose: true, recovery: true });
  cmd
    .addHelpText(
      'after',
      `${NOT_A_KERNEL}\n\nExample:\n  nvmeotcp connect -a 127.0.0.1 -s 4420 -n nqn.2024-01.io.nvmeotcp:target -g -G -i 2`,
    )
    .action(async (opts: Record<string, unknown>) => {
      await withController(opts, (f, subnqn, ctrl) =>
        outputFormat(opts) === 'json' ? `${JSON.stringify(connectJson(f, subnqn, ctrl), null, 2)}\n` : connectText(f, subnqn, ctrl),
      );
    });
}

export function registerList(program: Command): void {
  const cmd = program.command('list').description("list a target's namespaces as `nvme list` (nvme-cli 2.x) does");
  addOutputFormat(cmd, 'how to print the list (json as `nvme list -o json`)');
  addConnectionOptions(cmd, { nqn: 'optional', ioQueues: false, verbose: true });
  cmd
    .addHelpText(
      'after',
      `${NOT_A_KERNEL} The Node and Generic columns (/dev/nvme0n<NSID>, /dev/ng0n<NSID>)
name the nodes a kernel would create for the namespace; they do not exist.\n\nExample:\n  nvmeotcp list -a 127.0.0.1 -s 4420`,
    )
    .action(async (opts: Record<string, unknown>) => {
      await withController(opts, (_f, _subnqn, ctrl) =>
        outputFormat(opts) === 'json' ? `${JSON.stringify(listJson(rowsOf(ctrl)), null, 2)}\n` : formatListTable(rowsOf(ctrl)),
      );
    });
}
