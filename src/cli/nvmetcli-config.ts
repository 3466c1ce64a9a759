// Reads the JSON that `nvmetcli save` writes (/etc/nvmet/config.json) and turns it
// into target options. The file mirrors configfs under /sys/kernel/config/nvmet:
//
//   { "hosts":      [ { "nqn": "...", "dhchap": { "key": "DHHC-1:..", "ctrl_key": "DHHC-1:..",
//                       "hash": "hmac(sha256)", "dhgroup": "ffdhe2048" } } ],
//     "ports":      [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4",
//                       "traddr": "127.0.0.1", "trsvcid": "4420", "treq": "..." },
//                       "param": { "inline_data_size": "16384" },
//                       "subsystems": [ "<nqn>" ], "referrals": [], "ana_groups": [] } ],
//     "subsystems": [ { "nqn": "...", "attr": { "allow_any_host": "1", "serial": "...",
//                       "model": "...", "version": "1.3", "cntlid_min": "1",
//                       "cntlid_max": "65519", "qid_max": "128", ... },
//                       "allowed_hosts": [ "<host nqn>" ],
//                       "namespaces": [ { "nsid": 1, "enable": 1,
//                         "device": { "path": "/dev/nvme0n1", "nguid": "...", "uuid": "..." } } ] } ] }
//
// configfs attribute values are strings ("1", "4420"); numbers are accepted too. A
// subsystem is served on the ports that list it (ports[].subsystems), and only there.
// Ports of another transport (rdma, fc, loop) are skipped with a note. nvmet prints an
// unset uuid/nguid as zeros; zeros mean "not set" here too.
// Our additions: device.size (bytes or "256M") for RAM namespaces and to size a new
// file, device.readonly ("1": served write-protected; nvmet has no such attribute).
// hosts[].dhchap holds nvmet's configfs host attributes dhchap_key, dhchap_ctrl_key,
// dhchap_hash and dhchap_dhgroup, grouped the way nvmetcli stores a "<group>_<attr>"
// attribute family (upstream nvmetcli does not save them yet).
//
// One function per object (host, subsystem, namespace, port), each reading its own
// attributes, so that a new attribute is one line in the function of its object.
import { statSync } from 'node:fs';
import { type HostConfig, type NamespaceConfig, parseSize, type SubsystemConfig } from '../index.ts';
import type { HostPort } from './args.ts';
import { CliError } from './errors.ts';
import { checkNqn } from './nqn.ts';

/** A listener and the NQNs served on it (undefined: every subsystem of the plan). */
export interface ListenPlan extends HostPort {
  subsystems?: string[];
}

export interface TargetPlan {
  subsystems: SubsystemConfig[];
  /** Hosts with DH-HMAC-CHAP settings. */
  hosts?: HostConfig[];
  listen: ListenPlan[];
  /** Largest param.inline_data_size of the ports, if any port sets it. */
  inCapsuleDataSize?: number;
  /** Things the file asks for that we serve differently; logged at start. */
  notes: string[];
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function arr(v: unknown, where: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new CliError(`${where}: expected an array`);
  return v;
}

function str(v: unknown, where: string): string {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  throw new CliError(`${where}: expected a non-empty string`);
}

function int(v: unknown, where: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${where}: expected a non-negative integer`);
  return n;
}

function flag(v: unknown, where: string): boolean {
  if (v === true || v === 1 || v === '1') return true;
  if (v === false || v === 0 || v === '0') return false;
  throw new CliError(`${where}: expected "0" or "1"`);
}

function size(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (typeof v === 'string') {
    try {
      const n = parseSize(v);
      if (n > 0) return n;
    } catch {
      // fall through to the error below
    }
  }
  throw new CliError(`${where}: expected a size in bytes or with a suffix (256M, 1G)`);
}

/** A regular file backs a file namespace; anything else (/dev/ram0, /dev/nullb0, a missing path) is RAM. */
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export interface PlanDefaults {
  /** Size of RAM namespaces whose device has no size. */
  ramSize: number;
  lbaSize: 512 | 4096;
}

/** A 128-bit identifier as nvmet prints it (UUID form); all zeros (nvmet's "not set") is undefined. */
function id128(v: unknown, where: string): string | undefined {
  const t = str(v, where);
  const hex = t.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new CliError(`${where}: "${t}" is not a UUID (32 hex digits)`);
  return /^0+$/.test(hex) ? undefined : t;
}

function obj(v: unknown, where: string): Json {
  if (v === undefined) return {};
  if (!isObj(v)) throw new CliError(`${where}: expected an object`);
  return v;
}

/** One host: its NQN, and its DH-HMAC-CHAP settings when it has a "dhchap" object. */
function parseHost(h: unknown, at: string): { nqn: string; auth?: HostConfig } {
  if (!isObj(h)) throw new CliError(`${at}: expected an object`);
  const nqn = checkNqn(str(h.nqn, `${at}.nqn`), `${at}.nqn`);
  if (h.dhchap === undefined) return { nqn };
  const a = h.dhchap;
  if (!isObj(a)) throw new CliError(`${at}.dhchap: expected an object`);
  const opt = (k: string): string | undefined => (a[k] === undefined || a[k] === '' ? undefined : str(a[k], `${at}.dhchap.${k}`));
  return {
    nqn,
    auth: { nqn, dhchapKey: opt('key'), dhchapCtrlKey: opt('ctrl_key'), dhchapHash: opt('hash'), dhchapDhgroup: opt('dhgroup') },
  };
}

/** One namespace, or undefined when the file disables it. */
function parseNamespace(n: unknown, at: string, nqn: string, d: PlanDefaults, notes: string[]): NamespaceConfig | undefined {
  if (!isObj(n)) throw new CliError(`${at}: expected an object`);
  const nsid = int(n.nsid, `${at}.nsid`);
  if (nsid < 1) throw new CliError(`${at}.nsid: must be 1 or more`);
  if (n.enable !== undefined && !flag(n.enable, `${at}.enable`)) {
    notes.push(`${nqn}: namespace ${nsid} is disabled in the file, not served`);
    return undefined;
  }
  const dev = obj(n.device, `${at}.device`);
  const devSize = dev.size === undefined ? undefined : size(dev.size, `${at}.device.size`);
  const path = dev.path === undefined || dev.path === '' ? undefined : str(dev.path, `${at}.device.path`);
  const ns: NamespaceConfig = { nsid, lbaSize: d.lbaSize, backend: { kind: 'ram', size: devSize ?? d.ramSize } };
  if (path !== undefined && isRegularFile(path)) {
    ns.backend = { kind: 'file', path, ...(devSize ? { size: devSize } : {}) };
  } else if (path !== undefined) {
    notes.push(`${nqn}: namespace ${nsid}: ${path} is not a regular file, served from RAM (${devSize ?? d.ramSize} bytes)`);
  }
  const uuid = dev.uuid === undefined ? undefined : id128(dev.uuid, `${at}.device.uuid`);
  const nguid = dev.nguid === undefined ? undefined : id128(dev.nguid, `${at}.device.nguid`);
  if (uuid !== undefined) ns.uuid = uuid;
  if (nguid !== undefined) ns.nguid = nguid;
  if (dev.readonly !== undefined && flag(dev.readonly, `${at}.device.readonly`)) ns.readOnly = true;
  return ns;
}

function parseSubsystem(s: unknown, at: string, hosts: ReadonlySet<string>, d: PlanDefaults, notes: string[]): SubsystemConfig {
  if (!isObj(s)) throw new CliError(`${at}: expected an object`);
  const nqn = checkNqn(str(s.nqn, `${at}.nqn`), `${at}.nqn`);
  const attr = obj(s.attr, `${at}.attr`);
  const allowed = arr(s.allowed_hosts, `${at}.allowed_hosts`).map((h, j) => {
    const hn = str(h, `${at}.allowed_hosts[${j}]`);
    if (!hosts.has(hn)) throw new CliError(`${at}.allowed_hosts[${j}]: host ${hn} is not in "hosts"`);
    return hn;
  });
  const allowAny = attr.allow_any_host === undefined ? allowed.length === 0 : flag(attr.allow_any_host, `${at}.attr.allow_any_host`);
  const cfg: SubsystemConfig = { nqn, allowAnyHost: allowAny, allowedHosts: allowed, namespaces: [] };
  if (attr.serial !== undefined) cfg.serial = str(attr.serial, `${at}.attr.serial`);
  if (attr.model !== undefined) cfg.model = str(attr.model, `${at}.attr.model`);
  if (attr.version !== undefined) cfg.version = str(attr.version, `${at}.attr.version`);
  if (attr.cntlid_min !== undefined) cfg.cntlidMin = int(attr.cntlid_min, `${at}.attr.cntlid_min`);
  if (attr.cntlid_max !== undefined) cfg.cntlidMax = int(attr.cntlid_max, `${at}.attr.cntlid_max`);
  if (attr.qid_max !== undefined) cfg.qidMax = int(attr.qid_max, `${at}.attr.qid_max`);
  const nsids = new Set<number>();
  arr(s.namespaces, `${at}.namespaces`).forEach((n, j) => {
    const ns = parseNamespace(n, `${at}.namespaces[${j}]`, nqn, d, notes);
    const nsid = isObj(n) ? Number(n.nsid) : 0;
    if (nsids.has(nsid)) throw new CliError(`${at}.namespaces[${j}]: nsid ${nsid} is listed twice`);
    nsids.add(nsid);
    if (ns !== undefined) cfg.namespaces?.push(ns);
  });
  return cfg;
}

interface PortPlan {
  listen: ListenPlan;
  inlineDataSize?: number;
}

/** One port, or undefined for a port of another transport (skipped with a note). */
function parsePort(p: unknown, at: string, known: ReadonlyMap<string, SubsystemConfig>, notes: string[]): PortPlan | undefined {
  if (!isObj(p)) throw new CliError(`${at}: expected an object`);
  const portid = int(p.portid, `${at}.portid`);
  const addr = p.addr;
  if (!isObj(addr)) throw new CliError(`${at}.addr: expected an object`);
  const trtype = str(addr.trtype ?? 'tcp', `${at}.addr.trtype`);
  if (trtype !== 'tcp') {
    notes.push(`port ${portid}: trtype ${trtype} is not served (NVMe/TCP only), skipped`);
    return undefined;
  }
  const adrfam = str(addr.adrfam ?? 'ipv4', `${at}.addr.adrfam`);
  if (adrfam !== 'ipv4' && adrfam !== 'ipv6') throw new CliError(`${at}.addr.adrfam: "${adrfam}" is not ipv4 or ipv6`);
  const host = str(addr.traddr, `${at}.addr.traddr`);
  const port = int(addr.trsvcid ?? 4420, `${at}.addr.trsvcid`);
  if (port > 65535) throw new CliError(`${at}.addr.trsvcid: ${port} is not a TCP port`);
  const subsystems = arr(p.subsystems, `${at}.subsystems`).map((s, j) => str(s, `${at}.subsystems[${j}]`));
  for (const s of subsystems) if (!known.has(s)) throw new CliError(`${at}.subsystems: ${s} is not in "subsystems"`);
  if (arr(p.referrals, `${at}.referrals`).length > 0) notes.push(`port ${portid}: referrals are not served`);
  const out: PortPlan = { listen: { host, port, subsystems } };
  const param = p.param;
  if (isObj(param) && param.inline_data_size !== undefined)
    out.inlineDataSize = int(param.inline_data_size, `${at}.param.inline_data_size`);
  return out;
}

export function planFromNvmetcli(doc: unknown, d: PlanDefaults): TargetPlan {
  if (!isObj(doc)) throw new CliError('expected a JSON object with "ports" and "subsystems"');
  const notes: string[] = [];
  const parsedHosts = arr(doc.hosts, 'hosts').map((h, i) => parseHost(h, `hosts[${i}]`));
  const hosts = new Set(parsedHosts.map((h) => h.nqn));
  const hostAuth = parsedHosts.flatMap((h) => h.auth ?? []);

  const byNqn = new Map<string, SubsystemConfig>();
  arr(doc.subsystems, 'subsystems').forEach((s, i) => {
    const cfg = parseSubsystem(s, `subsystems[${i}]`, hosts, d, notes);
    if (byNqn.has(cfg.nqn)) throw new CliError(`subsystems[${i}]: subsystem ${cfg.nqn} is listed twice`);
    byNqn.set(cfg.nqn, cfg);
  });

  const ports = arr(doc.ports, 'ports').flatMap((p, i) => parsePort(p, `ports[${i}]`, byNqn, notes) ?? []);
  if (ports.length === 0) throw new CliError('no NVMe/TCP ports: the file exports nothing');
  const exported = new Set(ports.flatMap((p) => p.listen.subsystems ?? []));
  for (const s of byNqn.values()) if (!exported.has(s.nqn)) notes.push(`${s.nqn}: linked to no port, not served`);
  const plan: TargetPlan = {
    subsystems: [...byNqn.values()].filter((s) => exported.has(s.nqn)),
    listen: ports.map((p) => p.listen),
    notes,
  };
  if (hostAuth.length > 0) plan.hosts = hostAuth;
  const inline = ports.flatMap((p) => (p.inlineDataSize === undefined ? [] : [p.inlineDataSize]));
  if (inline.length > 0) plan.inCapsuleDataSize = Math.max(...inline);
  return plan;
}
