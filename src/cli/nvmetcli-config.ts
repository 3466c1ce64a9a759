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
//                       "model": "...", "version": "1.3", ... },
//                       "allowed_hosts": [ "<host nqn>" ],
//                       "namespaces": [ { "nsid": 1, "enable": 1,
//                         "device": { "path": "/dev/nvme0n1", "nguid": "...", "uuid": "..." } } ] } ] }
//
// configfs attribute values are strings ("1", "4420"); numbers are accepted too.
// Our additions: device.size (bytes or "256M") for RAM namespaces and to size a new file.
// hosts[].dhchap holds nvmet's configfs host attributes dhchap_key, dhchap_ctrl_key,
// dhchap_hash and dhchap_dhgroup, grouped the way nvmetcli stores a "<group>_<attr>"
// attribute family (upstream nvmetcli does not save them yet).
import { statSync } from 'node:fs';
import { type HostConfig, parseSize, type SubsystemConfig } from '../index.ts';
import type { HostPort } from './args.ts';
import { CliError } from './errors.ts';

export interface TargetPlan {
  subsystems: SubsystemConfig[];
  /** Hosts with DH-HMAC-CHAP settings. */
  hosts?: HostConfig[];
  listen: HostPort[];
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

export function planFromNvmetcli(doc: unknown, d: PlanDefaults): TargetPlan {
  if (!isObj(doc)) throw new CliError('expected a JSON object with "ports" and "subsystems"');
  const notes: string[] = [];

  const hosts = new Set<string>();
  const hostAuth: HostConfig[] = [];
  arr(doc.hosts, 'hosts').forEach((h, i) => {
    if (!isObj(h)) throw new CliError(`hosts[${i}]: expected an object`);
    const nqn = str(h.nqn, `hosts[${i}].nqn`);
    hosts.add(nqn);
    if (h.dhchap === undefined) return;
    const a = h.dhchap;
    if (!isObj(a)) throw new CliError(`hosts[${i}].dhchap: expected an object`);
    const opt = (k: string): string | undefined => (a[k] === undefined || a[k] === '' ? undefined : str(a[k], `hosts[${i}].dhchap.${k}`));
    hostAuth.push({ nqn, dhchapKey: opt('key'), dhchapCtrlKey: opt('ctrl_key'), dhchapHash: opt('hash'), dhchapDhgroup: opt('dhgroup') });
  });

  const byNqn = new Map<string, SubsystemConfig>();
  arr(doc.subsystems, 'subsystems').forEach((s, i) => {
    const at = `subsystems[${i}]`;
    if (!isObj(s)) throw new CliError(`${at}: expected an object`);
    const nqn = str(s.nqn, `${at}.nqn`);
    if (byNqn.has(nqn)) throw new CliError(`${at}: subsystem ${nqn} is listed twice`);
    const attr = s.attr === undefined ? {} : s.attr;
    if (!isObj(attr)) throw new CliError(`${at}.attr: expected an object`);
    const allowed = arr(s.allowed_hosts, `${at}.allowed_hosts`).map((h, j) => {
      const hn = str(h, `${at}.allowed_hosts[${j}]`);
      if (!hosts.has(hn)) throw new CliError(`${at}.allowed_hosts[${j}]: host ${hn} is not in "hosts"`);
      return hn;
    });
    const allowAny = attr.allow_any_host === undefined ? allowed.length === 0 : flag(attr.allow_any_host, `${at}.attr.allow_any_host`);
    const cfg: SubsystemConfig = { nqn, allowAnyHost: allowAny, allowedHosts: allowed, namespaces: [] };
    if (attr.serial !== undefined) cfg.serial = str(attr.serial, `${at}.attr.serial`);
    if (attr.model !== undefined) cfg.model = str(attr.model, `${at}.attr.model`);
    const nsids = new Set<number>();
    arr(s.namespaces, `${at}.namespaces`).forEach((n, j) => {
      const nat = `${at}.namespaces[${j}]`;
      if (!isObj(n)) throw new CliError(`${nat}: expected an object`);
      const nsid = int(n.nsid, `${nat}.nsid`);
      if (nsid < 1) throw new CliError(`${nat}.nsid: must be 1 or more`);
      if (nsids.has(nsid)) throw new CliError(`${nat}: nsid ${nsid} is listed twice`);
      nsids.add(nsid);
      if (n.enable !== undefined && !flag(n.enable, `${nat}.enable`)) {
        notes.push(`${nqn}: namespace ${nsid} is disabled in the file, not served`);
        return;
      }
      const dev = n.device === undefined ? {} : n.device;
      if (!isObj(dev)) throw new CliError(`${nat}.device: expected an object`);
      const devSize = dev.size === undefined ? undefined : size(dev.size, `${nat}.device.size`);
      const path = dev.path === undefined || dev.path === '' ? undefined : str(dev.path, `${nat}.device.path`);
      if (path !== undefined && isRegularFile(path)) {
        cfg.namespaces?.push({ nsid, lbaSize: d.lbaSize, backend: { kind: 'file', path, ...(devSize ? { size: devSize } : {}) } });
      } else {
        const ram = devSize ?? d.ramSize;
        if (path !== undefined) notes.push(`${nqn}: namespace ${nsid}: ${path} is not a regular file, served from RAM (${ram} bytes)`);
        cfg.namespaces?.push({ nsid, lbaSize: d.lbaSize, backend: { kind: 'ram', size: ram } });
      }
    });
    byNqn.set(nqn, cfg);
  });

  const listen: HostPort[] = [];
  const exported = new Set<string>();
  let inCapsuleDataSize: number | undefined;
  arr(doc.ports, 'ports').forEach((p, i) => {
    const at = `ports[${i}]`;
    if (!isObj(p)) throw new CliError(`${at}: expected an object`);
    const portid = int(p.portid, `${at}.portid`);
    const addr = p.addr;
    if (!isObj(addr)) throw new CliError(`${at}.addr: expected an object`);
    const trtype = str(addr.trtype ?? 'tcp', `${at}.addr.trtype`);
    if (trtype !== 'tcp') throw new CliError(`${at}.addr.trtype: "${trtype}" is not supported (tcp only)`);
    const adrfam = str(addr.adrfam ?? 'ipv4', `${at}.addr.adrfam`);
    if (adrfam !== 'ipv4' && adrfam !== 'ipv6') throw new CliError(`${at}.addr.adrfam: "${adrfam}" is not ipv4 or ipv6`);
    const host = str(addr.traddr, `${at}.addr.traddr`);
    const port = int(addr.trsvcid ?? 4420, `${at}.addr.trsvcid`);
    if (port > 65535) throw new CliError(`${at}.addr.trsvcid: ${port} is not a TCP port`);
    listen.push({ host, port });
    const subs = arr(p.subsystems, `${at}.subsystems`).map((s, j) => str(s, `${at}.subsystems[${j}]`));
    for (const s of subs) {
      if (!byNqn.has(s)) throw new CliError(`${at}.subsystems: ${s} is not in "subsystems"`);
      exported.add(s);
    }
    if (arr(p.referrals, `${at}.referrals`).length > 0) notes.push(`port ${portid}: referrals are not served`);
    const param = p.param;
    if (isObj(param) && param.inline_data_size !== undefined) {
      const ids = int(param.inline_data_size, `${at}.param.inline_data_size`);
      inCapsuleDataSize = Math.max(inCapsuleDataSize ?? 0, ids);
    }
  });
  if (listen.length === 0) throw new CliError('no ports: the file exports nothing');

  const subsystems = [...byNqn.values()].filter((s) => exported.has(s.nqn));
  for (const s of byNqn.values()) if (!exported.has(s.nqn)) notes.push(`${s.nqn}: linked to no port, not served`);
  if (listen.length > 1 && subsystems.length > 0) {
    const perPort = arr(doc.ports, 'ports').map((p) => JSON.stringify([...arr((p as Json).subsystems, '')].sort()));
    if (new Set(perPort).size > 1) notes.push('every exported subsystem is served on every port');
  }
  const plan: TargetPlan = { subsystems, listen, notes };
  if (hostAuth.length > 0) plan.hosts = hostAuth;
  if (inCapsuleDataSize !== undefined) plan.inCapsuleDataSize = inCapsuleDataSize;
  return plan;
}
