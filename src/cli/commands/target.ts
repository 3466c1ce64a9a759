// `nvmeotcp target`: serve RAM or file namespaces over NVMe/TCP until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type ControllerInfo,
  type NamespaceConfig,
  NvmeTarget,
  parsePskInterchange,
  type StatsServer,
  type SubsystemConfig,
  type TlsKeyConfig,
  type TlsMode,
} from '../../index.ts';
import { collect, formatHostPort, type HostPort, intArg, parseHostPort, sizeArg } from '../args.ts';
import { CliError, describeError } from '../errors.ts';
import { planFromNvmetcli, type TargetPlan } from '../nvmetcli-config.ts';
import { serveStats } from '../stats-server.ts';
import { TargetCounters, targetEndpoints } from '../target-stats.ts';

const DEFAULT_TARGET_NQN = 'nqn.2024-01.io.nvmeotcp:target';
const DEFAULT_RAM = 64 << 20;

type NsSpec = { kind: 'ram'; size: number } | { kind: 'file'; path: string; size?: number; sync?: boolean };

/** ram:SIZE | file:PATH[:SIZE][,sync] */
function nsArg(v: string): NsSpec {
  const ram = /^ram(?::(.+))?$/i.exec(v);
  if (ram) {
    if (ram[1] === undefined) return { kind: 'ram', size: DEFAULT_RAM };
    return { kind: 'ram', size: sizeArg(ram[1]) };
  }
  const file = /^file:(.+?)(?::(\d+(?:\.\d+)?[kmgt]?i?b?))?(,sync)?$/i.exec(v);
  if (file) {
    const spec: NsSpec = { kind: 'file', path: file[1] };
    if (file[2] !== undefined) spec.size = sizeArg(file[2]);
    // Write-through: every write is on stable storage before it completes (O_DSYNC).
    if (file[3] !== undefined) spec.sync = true;
    return spec;
  }
  throw new InvalidArgumentError('expected ram:SIZE (ram:256M) or file:PATH[:SIZE][,sync]');
}

function tlsModeArg(v: string): TlsMode {
  if (v === 'none' || v === 'optional' || v === 'required') return v;
  throw new InvalidArgumentError('expected required, optional or none');
}

/** [HOSTNQN=]KEY: a configured PSK for one host, or for any host. */
function tlsKeyArg(v: string): TlsKeyConfig {
  const eq = v.trim().startsWith('NVMeTLSkey-') ? -1 : v.indexOf('='); // base64 padding has '=' too
  const k: TlsKeyConfig = eq < 0 ? { key: v.trim() } : { hostnqn: v.slice(0, eq).trim(), key: v.slice(eq + 1).trim() };
  try {
    parsePskInterchange(k.key);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return k;
}

function lbaArg(v: string): 512 | 4096 {
  if (v === '512') return 512;
  if (v === '4096' || v.toLowerCase() === '4k') return 4096;
  throw new InvalidArgumentError('expected 512 or 4096');
}

interface TargetOpts {
  listen?: HostPort[];
  nqn: string;
  ns?: NsSpec[];
  lba: 512 | 4096;
  allowHost?: string[];
  config?: string;
  ramSize: number;
  statsListen?: HostPort;
  poll: boolean;
  maxConnections?: number;
  handshakeTimeout?: number;
  dataBudget?: number;
  tls?: TlsMode;
  tlsKey?: TlsKeyConfig[];
}

function planFromFlags(o: TargetOpts): TargetPlan {
  const namespaces: NamespaceConfig[] = (o.ns ?? [{ kind: 'ram', size: o.ramSize }]).map((backend, i) => ({
    nsid: i + 1,
    lbaSize: o.lba,
    backend,
  }));
  const sub: SubsystemConfig = { nqn: o.nqn, namespaces };
  if (o.allowHost && o.allowHost.length > 0) {
    sub.allowAnyHost = false;
    sub.allowedHosts = o.allowHost;
  } else sub.allowAnyHost = true;
  return { subsystems: [sub], listen: o.listen ?? [{ host: '127.0.0.1', port: 4420 }], notes: [] };
}

function planFromFile(path: string, o: TargetOpts): TargetPlan {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(`config ${path}: ${describeError(e)}`);
  }
  try {
    const plan = planFromNvmetcli(doc, { ramSize: o.ramSize, lbaSize: o.lba });
    // --listen overrides the ports' addresses (handy for port 0 in tests and demos).
    if (o.listen) plan.listen = o.listen;
    return plan;
  } catch (e) {
    throw e instanceof CliError ? new CliError(`config ${path}: ${e.message}`) : e;
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`);

function describeSubsystem(s: SubsystemConfig): string {
  const ns = (s.namespaces ?? [])
    .map(
      (n) => `${n.nsid}=${n.backend.kind === 'ram' ? `ram:${n.backend.size}` : `file:${n.backend.path}${n.backend.sync ? ',sync' : ''}`}`,
    )
    .join(' ');
  const hosts = s.allowAnyHost === false ? `hosts ${(s.allowedHosts ?? []).join(',')}` : 'any host';
  return `subsystem ${s.nqn}: namespaces ${ns || 'none'}; ${hosts}`;
}

function describeController(c: ControllerInfo): string {
  const why = c.reason !== undefined ? ` (${c.reason})` : '';
  return `controller ${c.cntlid} ${c.subnqn} host ${c.hostnqn} from ${c.remoteAddress}${why}`;
}

async function runTarget(o: TargetOpts): Promise<void> {
  if (o.config && (o.ns || o.allowHost)) throw new CliError('--config describes the namespaces and hosts: drop --ns/--allow-host');
  const tls = o.tls ?? 'none';
  if (tls !== 'none' && !o.tlsKey) throw new CliError(`--tls ${tls} needs at least one --tls-key`);
  if (tls === 'none' && o.tlsKey) throw new CliError('--tls-key needs --tls required or --tls optional');
  const plan = o.config ? planFromFile(o.config, o) : planFromFlags(o);
  const tgt = new NvmeTarget({
    subsystems: plan.subsystems,
    ...(plan.inCapsuleDataSize !== undefined ? { inCapsuleDataSize: plan.inCapsuleDataSize } : {}),
    poll: o.poll,
    ...(o.maxConnections !== undefined ? { maxConnections: o.maxConnections } : {}),
    ...(o.handshakeTimeout !== undefined ? { handshakeTimeoutMs: o.handshakeTimeout * 1000 } : {}),
    ...(o.dataBudget !== undefined ? { dataBudgetBytes: o.dataBudget } : {}),
    ...(o.tlsKey ? { tlsKeys: o.tlsKey } : {}),
  });
  const counters = new TargetCounters(tgt);
  tgt.on('connect', (c: ControllerInfo) => log(`connect: ${describeController(c)}`));
  tgt.on('disconnect', (c: ControllerInfo) => log(`disconnect: ${describeController(c)}`));

  const bound: HostPort[] = [];
  try {
    for (const l of plan.listen) bound.push(await tgt.listen({ ...l, tls }));
  } catch (e) {
    await tgt.close();
    throw new CliError(`cannot listen on ${formatHostPort(plan.listen[bound.length])}: ${describeError(e)}`);
  }
  // First line: the bound addresses (port 0 resolved), for people and scripts alike.
  log(`nvmeotcp target: listening on ${bound.map(formatHostPort).join(', ')}`);
  for (const s of plan.subsystems) log(describeSubsystem(s));
  for (const n of plan.notes) log(`note: ${n}`);
  if (tls !== 'none') {
    const who = (o.tlsKey ?? []).map((k) => k.hostnqn ?? 'any host').join(', ');
    log(`tls: ${tls} (TLS 1.3, TLS_AES_128_GCM_SHA256, PSK); keys for ${who}`);
  }
  if (o.poll) log('note: busy polling while I/O queues are connected (one core at 100%)');

  let stats: StatsServer | undefined;
  if (o.statsListen) {
    try {
      stats = await serveStats(o.statsListen, targetEndpoints(counters), log);
    } catch (e) {
      await tgt.close();
      throw e;
    }
  }

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      log(`${sig}: stopping`);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await stats?.close();
  await tgt.close();
  log('nvmeotcp target: stopped');
}

export function registerTarget(program: Command): void {
  program
    .command('target')
    .description('serve NVMe/TCP namespaces (RAM or file) until SIGINT/SIGTERM')
    .option('--listen <addr:port>', 'address to listen on, repeatable (default 127.0.0.1:4420; port 0 picks one)', collect(parseHostPort))
    .option('--nqn <nqn>', 'subsystem NQN', DEFAULT_TARGET_NQN)
    .option(
      '--ns <spec>',
      'namespace, repeatable: ram:SIZE (ram:256M) or file:PATH[:SIZE][,sync] (,sync: write-through) (default ram:64M)',
      collect(nsArg),
    )
    .addOption(new Option('--lba <bytes>', 'logical block size: 512 or 4096').default(512).argParser(lbaArg))
    .option('--allow-host <hostnqn>', 'host NQN allowed to connect, repeatable (default: any host)', collect(String))
    .option('--config <file>', 'nvmetcli-style JSON (what `nvmetcli save` writes) describing ports and subsystems')
    .addOption(
      new Option('--ram-size <size>', 'size of RAM namespaces whose config entry gives none')
        .default(DEFAULT_RAM, '64M')
        .argParser(sizeArg),
    )
    .option('--stats-listen <addr:port>', 'serve /metrics (Prometheus) and /stats (JSON) on this address', parseHostPort)
    .option('--poll', 'busy-poll while I/O queues are connected (SPDK-style: lower latency, a core at 100%)', false)
    .option('--max-connections <n>', 'connections (queues) open at once; more are closed at accept (default 1024)', intArg(1, 1 << 20))
    .option('--handshake-timeout <seconds>', 'close a connection that has not sent ICReq and Connect by then (default 10)', intArg(1, 3600))
    .option('--data-budget <size>', 'memory for data buffers of all connections; over it, commands wait (default 256M)', sizeArg)
    .addOption(
      new Option('--tls <mode>', 'TLS 1.3 with PSKs on every listener: required, optional (TLS and plaintext) or none').argParser(
        tlsModeArg,
      ),
    )
    .option(
      '--tls-key <[hostnqn=]key>',
      'TLS PSK (interchange format, `nvme gen-tls-key`) for one host or, without hostnqn=, any host; repeatable',
      collect(tlsKeyArg),
    )
    .addHelpText(
      'after',
      `
Logs one line per controller connect and disconnect. The first line names the bound
address(es), e.g. "nvmeotcp target: listening on 127.0.0.1:4420".

--config reads the JSON that nvmetcli saves (/etc/nvmet/config.json): ports[].addr
(trtype tcp, adrfam ipv4/ipv6, traddr, trsvcid), ports[].param.inline_data_size,
ports[].subsystems, subsystems[] (nqn, attr.allow_any_host/serial/model, allowed_hosts,
namespaces[].nsid/enable/device.path) and hosts[]. A device path that is a regular file
is served as a file namespace; any other path (a block device such as /dev/nvme0n1,
/dev/ram0 or /dev/nullb0, or a path that does not exist) is served from RAM, sized by
device.size (our addition: bytes or "256M") or --ram-size. --listen, if given, replaces
the ports' addresses. Every exported subsystem is served on every port.

--tls required serves TLS 1.3 only (a plaintext ICReq fails the handshake); --tls
optional serves both on the same port. The discovery log says so (TREQ, TSAS). A host
authenticated by its key must Connect with the host NQN of its PSK identity.

Examples:
  nvmeotcp target --listen 127.0.0.1:4420 --ns ram:256M
  nvmeotcp target --tls required --tls-key nqn.2014-08.org.nvmexpress:uuid:...=NVMeTLSkey-1:01:...:
  nvmeotcp target --listen 0.0.0.0:4420 --ns file:/var/tmp/disk.img:1G --allow-host nqn.2014-08.org.nvmexpress:uuid:...
  nvmeotcp target --config /etc/nvmet/config.json --stats-listen 127.0.0.1:9100`,
    )
    .action(async (opts: TargetOpts) => {
      await runTarget(opts);
    });
}
