// Output shaped like nvme-cli's, so scripts and eyes used to `nvme discover` and
// `nvme list` read ours unchanged. Field strings follow libnvme's tables
// (nvmf_trtype_str, nvmf_adrfam_str, nvmf_subtype_str, nvmf_treq_str,
// nvmf_eflags_str, nvmf_sectype_str); number formats follow nvme-cli's list view
// ("%6.2f %2sB / %6.2f %2sB" usage, "%3.0f %2sB + %2d B" format).
import type { DiscoveryEntry, IdentifyController, NamespaceInfo } from '../../index.ts';

const TRTYPE: Readonly<Record<number, string>> = { 1: 'rdma', 2: 'fc', 3: 'tcp', 254: 'loop' };
const ADRFAM: Readonly<Record<number, string>> = {
  0: 'pci',
  1: 'ipv4',
  2: 'ipv6',
  3: 'infiniband',
  4: 'fibre-channel',
  254: 'loop',
};
const SUBTYPE: Readonly<Record<number, string>> = {
  1: 'referral',
  2: 'nvme subsystem',
  3: 'current discovery subsystem',
};
const TREQ_SECURE: readonly string[] = ['not specified', 'required', 'not required'];
/** EFLAGS bits, in the order libnvme prints them. */
const EFLAG_NAMES: readonly [number, string][] = [
  [0x2, 'explicit discovery connections'],
  [0x1, 'duplicate discovery information'],
  [0x4, 'no cdc connectivity'],
];
const SECTYPE: Readonly<Record<number, string>> = { 0: 'none', 1: 'tls', 2: 'tls13' };

const UNRECOGNIZED = 'unrecognized';

export const trtypeStr = (v: number): string => TRTYPE[v] ?? UNRECOGNIZED;
export const adrfamStr = (v: number): string => ADRFAM[v] ?? UNRECOGNIZED;
export const subtypeStr = (v: number): string => SUBTYPE[v] ?? UNRECOGNIZED;
export const sectypeStr = (v: number): string => SECTYPE[v] ?? UNRECOGNIZED;

export function treqStr(v: number): string {
  const secure = TREQ_SECURE[v & 0x3] ?? UNRECOGNIZED;
  return v & 0x4 ? `${secure}, sq flow control disable supported` : secure;
}

export function eflagsStr(v: number): string {
  if (v === 0) return 'none';
  const names = EFLAG_NAMES.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);
  return names.length > 0 ? names.join(', ') : UNRECOGNIZED;
}

/** `nvme discover` text. */
export function formatDiscoveryLog(genctr: number, entries: readonly DiscoveryEntry[]): string {
  const out = [`\nDiscovery Log Number of Records ${entries.length}, Generation counter ${genctr}`];
  entries.forEach((e, i) => {
    out.push(
      `=====Discovery Log Entry ${i}======`,
      `trtype:  ${trtypeStr(e.trtype)}`,
      `adrfam:  ${adrfamStr(e.adrfam)}`,
      `subtype: ${subtypeStr(e.subtype)}`,
      `treq:    ${treqStr(e.treq)}`,
      `portid:  ${e.portid}`,
      `trsvcid: ${e.trsvcid}`,
      `subnqn:  ${e.subnqn}`,
      `traddr:  ${e.traddr}`,
      `eflags:  ${eflagsStr(e.eflags)}`,
      `sectype: ${sectypeStr(e.sectype)}`,
    );
  });
  return `${out.join('\n')}\n`;
}

/** `nvme discover -o json`. */
export function discoveryLogJson(genctr: number, entries: readonly DiscoveryEntry[]): object {
  return {
    genctr,
    records: entries.map((e) => ({
      trtype: trtypeStr(e.trtype),
      adrfam: adrfamStr(e.adrfam),
      subtype: subtypeStr(e.subtype),
      treq: treqStr(e.treq),
      portid: e.portid,
      trsvcid: e.trsvcid,
      subnqn: e.subnqn,
      traddr: e.traddr,
      eflags: eflagsStr(e.eflags),
      sectype: sectypeStr(e.sectype),
    })),
  };
}

/** nvme-cli suffix_si_get: scales v by 1000s and returns [scaled, prefix]. */
export function siScale(v: number): [number, string] {
  const steps: [number, string][] = [
    [1e15, 'P'],
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [m, s] of steps) if (v >= m) return [v / m, s];
  return [v, ''];
}

/** nvme-cli suffix_binary_get: scales v by 1024s ("Ki", "Mi"...). */
export function binaryScale(v: number): [number, string] {
  const steps: [number, string][] = [
    [2 ** 40, 'Ti'],
    [2 ** 30, 'Gi'],
    [2 ** 20, 'Mi'],
    [2 ** 10, 'Ki'],
  ];
  for (const [m, s] of steps) if (v >= m) return [v / m, s];
  return [v, ''];
}

const padL = (s: string, w: number) => s.padStart(w);
const padR = (s: string, w: number) => s.padEnd(w);

/** "%6.2f %2sB / %6.2f %2sB". */
export function usageStr(usedBytes: number, totalBytes: number): string {
  const [u, us] = siScale(usedBytes);
  const [t, ts] = siScale(totalBytes);
  return `${padL(u.toFixed(2), 6)} ${padL(us, 2)}B / ${padL(t.toFixed(2), 6)} ${padL(ts, 2)}B`;
}

/** "%3.0f %2sB + %2d B". */
export function formatStr(lbaSize: number, metadataSize: number): string {
  const [l, ls] = binaryScale(lbaSize);
  return `${padL(l.toFixed(0), 3)} ${padL(ls, 2)}B + ${padL(String(metadataSize), 2)} B`;
}

export interface ListRow {
  /** The block device node the kernel would create (/dev/nvme0n1); we are not a kernel, so it does not exist. */
  node: string;
  /** The generic character node (/dev/ng0n1), as nvme-cli 2.x names it; it does not exist either. */
  generic: string;
  sn: string;
  mn: string;
  fr: string;
  nsid: number;
  lbaSize: number;
  metadataSize: number;
  /** NSZE and NUSE, in logical blocks. */
  nsze: number;
  nuse: number;
}

/** One row per namespace of controller instance `instance` (nvme<instance>): NSZE, NUSE and MS as Identify Namespace gave them. */
export function listRows(
  instance: number,
  id: Pick<IdentifyController, 'sn' | 'mn' | 'fr'>,
  namespaces: readonly NamespaceInfo[],
): ListRow[] {
  return namespaces.map((ns) => ({
    node: `/dev/nvme${instance}n${ns.nsid}`,
    generic: `/dev/ng${instance}n${ns.nsid}`,
    sn: id.sn,
    mn: id.mn,
    fr: id.fr,
    nsid: ns.nsid,
    lbaSize: ns.lbaSize,
    metadataSize: ns.ms,
    nsze: ns.nlba,
    nuse: ns.nuse,
  }));
}

/** Column widths of nvme-cli 2.x `nvme list`: Node, Generic, SN, Model, Namespace, Usage, Format, FW Rev. */
const LIST_WIDTHS = [21, 21, 20, 40, 10, 26, 16, 8];

/** `nvme list` as nvme-cli 2.x prints it (the namespace ID in hex, "%#x"). */
export function formatListTable(rows: readonly ListRow[]): string {
  // nvme-cli pads the last column too; trailing blanks are dropped here.
  const line = (cols: string[]) =>
    cols
      .map((c, i) => padR(c.slice(0, LIST_WIDTHS[i]), LIST_WIDTHS[i]))
      .join(' ')
      .trimEnd();
  const out = [
    line(['Node', 'Generic', 'SN', 'Model', 'Namespace', 'Usage', 'Format', 'FW Rev']),
    line(LIST_WIDTHS.map((w) => '-'.repeat(w))),
  ];
  for (const r of rows) {
    out.push(
      line([
        r.node,
        r.generic,
        r.sn,
        r.mn,
        `0x${r.nsid.toString(16)}`,
        usageStr(r.nuse * r.lbaSize, r.nsze * r.lbaSize),
        formatStr(r.lbaSize, r.metadataSize),
        r.fr,
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

/** `nvme list -o json` of nvme-cli 2.x (the "Devices" array, one object per namespace). */
export function listJson(rows: readonly ListRow[]): { Devices: object[] } {
  return {
    Devices: rows.map((r) => ({
      NameSpace: r.nsid,
      DevicePath: r.node,
      GenericPath: r.generic,
      Firmware: r.fr,
      ModelNumber: r.mn,
      SerialNumber: r.sn,
      UsedBytes: r.nuse * r.lbaSize,
      MaximumLBA: r.nsze,
      PhysicalSize: r.nsze * r.lbaSize,
      SectorSize: r.lbaSize,
    })),
  };
}
