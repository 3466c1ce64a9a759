// `nvmeotcp target`: serve RAM or file namespaces over NVMe/TCP until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type ControllerInfo,
  type NamespaceConfig,
  NvmeTarget,
  parseDhGroupName,
  parseHashName,
  parsePskInterchange,
  type StatsServer,
  type SubsystemConfig,
  type TlsKeyConfig,
  type TlsMode,
} from '../../index.ts';
import { collect, dhchapSecretArg, formatHostPort, type HostPort, intArg, parseHostPort, sizeArg } from '../args.ts';
import { CliError, describeError } from '../errors.ts';
import { checkNqn } from '../nqn.ts';
import { planFromNvmetcli, type TargetPlan } from '../nvmetcli-config.ts';
import { serveStats } from '../stats-server.ts';
import { TargetCounters, targetEndpoints } from '../target-stats.ts';

const DEFAULT_TARGET_NQN = 'nqn.2024-01.io.nvmeotcp:target';
const DEFAULT_RAM = 64 << 20;

type NsSpec = { backend: NamespaceConfig['backend']; readOnly: boolean };

/** ram[:SIZE][,ro] | file:PATH[:SIZE][,sync][,ro] */
function nsArg(v: string): NsSpec {
  const ram = /^ram(?::([^,]+))?(,ro)?$/i.exec(v);
  if (ram) return { backend: { kind: 'ram', size: ram[1] === undefined ? DEFAULT_RAM : sizeArg(ram[1]) }, readOnly: ram[2] !== undefined };
  const file = /^file:(.+?)(?::(\d+(?:\.\d+)?[kmgt]?i?b?))?((?:,sync|,ro)*)$/i.exec(v);
  if (file) {
    const flags = file[3].toLowerCase().split(',');
    const backend: NamespaceConfig['backend'] = { kind: 'file', path: file[1] };
    if (file[2] !== undefined) backend.size = sizeArg(file[2]);
    // Write-through: every write is on stable storage before it completes (O_DSYNC).
    if (flags.includes('sync')) backend.sync = true;
    return { backend, readOnly: flags.includes('ro') };
  }
  throw new InvalidArgumentError('expected ram:SIZE[,ro] (ram:256M) or file:PATH[:SIZE][,sync][,ro]');
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
  dhchapKey?: [string, string][];
  dhchapCtrlKey?: [string, string][];
  dhchapHash?: string;
  dhchapDhgroup?: string;
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
  const specs: NsSpec[] = o.ns ?? [{ backend: { kind: 'ram', size: o.ramSize }, readOnly: false }];
  const namespaces: NamespaceConfig[] = specs.map((n, i) => ({
    nsid: i + 1,
    lbaSize: o.lba,
    backend: n.backend,
    ...(n.readOnly ? { readOnly: true } : {}),
  }));
  checkNqn(o.nqn, '--nqn');
  for (const h of o.allowHost ?? []) checkNqn(h, '--allow-host');
  const sub: SubsystemConfig = { nqn: o.nqn, namespaces };
  if (o.allowHost && o.allowHost.length > 0) {
    sub.allowAnyHost = false;
    sub.allowedHosts = o.allowHost;
  } else sub.allowAnyHost = true;
  const plan: TargetPlan = { subsystems: [sub], listen: o.listen ?? [{ host: '127.0.0.1', port: 4420 }], notes: [] };
  const keys = new Map(o.dhchapKey ?? []);
  const ctrlKeys = new Map(o.dhchapCtrlKey ?? []);
  for (const nqn of ctrlKeys.keys())
    if (!keys.has(nqn)) throw new CliError(`--dhchap-ctrl-key ${nqn}: give --dhchap-key ${nqn}=... as well`);
  if (keys.size > 0) {
    plan.hosts = [...keys].map(([nqn, key]) => ({
      nqn,
      dhchapKey: key,
      dhchapCtrlKey: ctrlKeys.get(nqn),
      dhchapHash: o.dhchapHash,
      dhchapDhgroup: o.dhchapDhgroup,
    }));
  } else if (o.dhchapHash !== undefined || o.dhchapDhgroup !== undefined) {
    throw new CliError('--dhchap-hash/--dhchap-dhgroup apply to hosts given with --dhchap-key');
  }
  return plan;
}

/** NQN=SECRET, the secret checked (DHHC-1 format, length, CRC-32). */
function hostKeyArg(v: string, prev: [string, string][] = []): [string, string][] {
  const at = v.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected HOSTNQN=DHHC-1:..: (a secret from `nvme gen-dhchap-key`)');
  return [...prev, [v.slice(0, at), dhchapSecretArg(v.slice(at + 1))]];
}

/** A --dhchap-hash / --dhchap-dhgroup name, checked by `parse`. */
function nameArg(parse: (s: string) => unknown): (v: string) => string {
  return (v) => {
    try {
      parse(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    return v;
  };
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
    // --listen replaces the ports' addresses, in order (handy for port 0 in tests and demos).
    if (o.listen) {
      const given = o.listen;
      if (given.length !== plan.listen.length) {
        throw new CliError(`--listen gives ${given.length} address(es) for the file's ${plan.listen.length} NVMe/TCP port(s)`);
      }
      plan.listen = plan.listen.map((l, i) => ({ ...l, host: given[i].host, port: given[i].port }));
    }
    return plan;
  } catch (e) {
    throw e instanceof CliError ? new CliError(`config ${path}: ${e.message}`) : e;
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`);

function describeSubsystem(s: SubsystemConfig): string {
  const ns = (s.namespaces ?? [])
    .map(
      (n) =>
        `${n.nsid}=${n.backend.kind === 'ram' ? `ram:${n.backend.size}` : `file:${n.backend.path}${n.backend.sync ? ',sync' : ''}`}` +
        (n.readOnly ? ',ro' : ''),
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
  if (o.config && (o.ns || o.allowHost || o.dhchapKey || o.dhchapCtrlKey || o.dhchapHash || o.dhchapDhgroup)) {
    throw new CliError('--config describes the namespaces and hosts: drop --ns/--allow-host/--dhchap-*');
  }
  const tls = o.tls ?? 'none';
  if (tls !== 'none' && !o.tlsKey) throw new CliError(`--tls ${tls} needs at least one --tls-key`);
  if (tls === 'none' && o.tlsKey) throw new CliError('--tls-key needs --tls required or --tls optional');
  const plan = o.config ? planFromFile(o.config, o) : planFromFlags(o);
  const tgt = new NvmeTarget({
    subsystems: plan.subsystems,
    ...(plan.hosts !== undefined ? { hosts: plan.hosts } : {}),
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

  // Namespaces first, so that a file that cannot be opened is named as a namespace error.
  try {
    await tgt.open();
  } catch (e) {
    await tgt.close();
    throw new CliError(`namespace: ${describeError(e)}`);
  }
  // The stats endpoint next: nothing is announced as listening while it may still fail.
  let stats: StatsServer | undefined;
  if (o.statsListen) {
    try {
      stats = await serveStats(o.statsListen, targetEndpoints(counters), log);
    } catch (e) {
      await tgt.close();
      throw e;
    }
  }
  const bound: HostPort[] = [];
  try {
    for (const l of plan.listen) bound.push(await tgt.listen({ ...l, tls }));
  } catch (e) {
    await stats?.close();
    await tgt.close();
    throw new CliError(`cannot listen on ${formatHostPort(plan.listen[bound.length])}: ${describeError(e)}`);
  }
  // The bound addresses (port 0 resolved), for people and scripts alike.
  log(`nvmeotcp target: listening on ${bound.map(formatHostPort).join(', ')}`);
  for (const s of plan.subsystems) log(describeSubsystem(s));
  for (const n of plan.notes) log(`note: ${n}`);
  if (tls !== 'none') {
    const who = (o.tlsKey ?? []).map((k) => k.hostnqn ?? 'any host').join(', ');
    log(`tls: ${tls} (TLS 1.3, TLS_AES_128_GCM_SHA256, PSK); keys for ${who}`);
  }
  if (o.poll) log('note: busy polling while I/O queues are connected (one core at 100%)');

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
      'namespace, repeatable: ram:SIZE (ram:256M, at most 1G) or file:PATH[:SIZE][,sync] (,sync: write-through); ,ro serves it read-only (default ram:64M)',
      collect(nsArg),
    )
    .addOption(new Option('--lba <bytes>', 'logical block size: 512 or 4096').default(512).argParser(lbaArg))
    .option('--allow-host <hostnqn>', 'host NQN allowed to connect, repeatable (default: any host)', collect(String))
    .option(
      '--dhchap-key <hostnqn=secret>',
      'DH-HMAC-CHAP: this host must authenticate with this secret (nvmet dhchap_key), repeatable',
      hostKeyArg,
    )
    .option(
      '--dhchap-ctrl-key <hostnqn=secret>',
      "controller secret for this host's bidirectional authentication (nvmet dhchap_ctrl_key)",
      hostKeyArg,
    )
    .option('--dhchap-hash <hash>', 'hash the controller picks: hmac(sha256) (default), hmac(sha384), hmac(sha512)', nameArg(parseHashName))
    .option('--dhchap-dhgroup <group>', 'DH group the controller picks: null (default), ffdhe2048 ... ffdhe8192', nameArg(parseDhGroupName))
    .option('--config <file>', 'nvmetcli-style JSON (what `nvmetcli save` writes) describing ports and subsystems')
    .addOption(
      new Option('--ram-size <size>', 'size of RAM namespaces whose config entry gives none')
        .default(DEFAULT_RAM, '64M')
        .argParser(sizeArg),
    )
    .option('--stats-listen <addr:port>', 'serve /metrics (Prometheus), /stats (JSON) and /dashboard on this address', parseHostPort)
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
address(es), e.g. "nvmeotcp target: listening on 127.0.0.1:4420" (after "stats: ..."
with --stats-listen): it appears once namespaces, stats endpoint and listeners are up.

Sizes must be whole blocks of --lba. A RAM namespace takes memory only for the 1 MiB
chunks written, up to 1 GiB each (the library's maxRamSize; Node buffers are not the
limit, the chunks are separate). file:PATH:SIZE creates a missing file at SIZE (sparse)
and never grows an existing one: a file shorter than SIZE is refused; without SIZE the
file's own size is served. ,ro opens the file read-only and serves the namespace
write-protected (Identify NSATTR bit 0; writes fail with Namespace Is Write Protected).
NQNs must be nqn.yyyy-mm.<reverse domain>:<name> or nqn.2014-08.org.nvmexpress:uuid:<uuid>.

--config reads the JSON that nvmetcli saves (/etc/nvmet/config.json): ports[].addr
(trtype tcp, adrfam ipv4/ipv6, traddr, trsvcid), ports[].param.inline_data_size,
ports[].subsystems (a subsystem is served, and discovered, only on the ports that link
it, as nvmet does), subsystems[] (nqn, attr.allow_any_host/serial/model/version/
cntlid_min/cntlid_max/qid_max, allowed_hosts, namespaces[].nsid/enable/device.path/
uuid/nguid) and hosts[]. Ports of another trtype (rdma, fc, loop) are skipped with a
note. device.readonly "1" (our addition) serves a namespace read-only. A device path that is a regular file
is served as a file namespace; any other path (a block device such as /dev/nvme0n1,
/dev/ram0 or /dev/nullb0, or a path that does not exist) is served from RAM, sized by
device.size (our addition: bytes or "256M") or --ram-size. --listen, if given, replaces
the ports' addresses in order (one --listen per NVMe/TCP port).

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
