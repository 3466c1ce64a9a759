// Discovery: the log page (LID 0x70) served by discovery controllers, with one
// entry per NVM subsystem the host may use × listener of this target.
import { isIPv6 } from 'node:net';
import { AdrFam, type DiscoveryEntry, encodeDiscoveryLog, SubType, TrType } from '../protocol/discovery.ts';
import type { Controller } from './controller.ts';
import type { Subsystem } from './subsystem.ts';

export interface ListenerInfo {
  /** Address the listener was bound to (may be a wildcard). */
  host: string;
  port: number;
  portid: number;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::']);

/** The address a host should connect to: the listener's, or for a wildcard the local end of this connection. */
export function traddrFor(l: ListenerInfo, localAddress: string): string {
  const a = WILDCARDS.has(l.host) ? localAddress : l.host;
  return a.startsWith('::ffff:') && !isIPv6(a.slice(7)) ? a.slice(7) : a;
}

export function discoveryEntries(
  subsystems: Iterable<Subsystem>,
  listeners: readonly ListenerInfo[],
  hostnqn: string,
  localAddress: string,
  asqsz: number,
): DiscoveryEntry[] {
  const out: DiscoveryEntry[] = [];
  for (const s of subsystems) {
    if (!s.allowsHost(hostnqn)) continue;
    for (const l of listeners) {
      const traddr = traddrFor(l, localAddress);
      out.push({
        trtype: TrType.TCP,
        adrfam: isIPv6(traddr) ? AdrFam.IPv6 : AdrFam.IPv4,
        subtype: SubType.Nvme,
        treq: 0,
        portid: l.portid,
        cntlid: 0xffff,
        asqsz,
        eflags: 0,
        trsvcid: String(l.port),
        subnqn: s.nqn,
        traddr,
        sectype: 0,
      });
    }
  }
  return out;
}

/** The whole discovery log as this controller's host sees it. */
export function discoveryLogPage(ctrl: Controller): Buffer {
  const ctx = ctrl.ctx;
  return encodeDiscoveryLog(ctx.genctr, ctx.discoveryEntries(ctrl.hostnqn, ctrl.admin));
}
