// Discovery: the log page (LID 0x70) served by discovery controllers, with one
// entry per NVM subsystem the host may use × listener of this target.
import { isIPv6 } from 'node:net';
import { AdrFam, type DiscoveryEntry, encodeDiscoveryLog, SecType, SubType, Treq, TrType } from '../protocol/discovery.ts';
import type { Controller } from './controller.ts';
import type { Subsystem } from './subsystem.ts';

export interface ListenerInfo {
  /** Address the listener was bound to (may be a wildcard). */
  host: string;
  port: number;
  portid: number;
  /** TLS on this listener (discovery TREQ and TSAS say so); default none. */
  tls?: TlsMode;
}

/** A listener's TLS: none (plaintext only), optional (both, told by the first byte), required (TLS only). */
export type TlsMode = 'none' | 'optional' | 'required';

/** TREQ secure channel bits and TSAS SECTYPE of a listener (nvmet: addr_treq, addr_tsas). */
function security(tls: TlsMode = 'none'): { treq: number; sectype: number } {
  if (tls === 'none') return { treq: Treq.NotSpecified, sectype: SecType.None };
  return { treq: tls === 'required' ? Treq.Required : Treq.NotRequired, sectype: SecType.Tls13 };
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
        treq: security(l.tls).treq,
        portid: l.portid,
        cntlid: 0xffff,
        asqsz,
        eflags: 0,
        trsvcid: String(l.port),
        subnqn: s.nqn,
        traddr,
        sectype: security(l.tls).sectype,
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
