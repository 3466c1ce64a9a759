// Discovery: the log page (LID 0x70) served by discovery controllers. As nvmet
// builds it, the log describes the port the host asked through and nothing else:
// first the current discovery subsystem (subtype 3, the discovery NQN, that port's
// address), then every NVM subsystem linked to that port that the host may use.
// Other ports, and subsystems not linked to this one, stay unseen.
import { isIPv6 } from 'node:net';
import { NQN_DISCOVERY } from '../protocol/constants.ts';
import { AdrFam, type DiscoveryEntry, encodeDiscoveryLog, SecType, SubType, Treq, TrType } from '../protocol/discovery.ts';
import type { Controller } from './controller.ts';
import { type ListenerInfo, linked, type TlsMode } from './port.ts';
import type { Subsystem } from './subsystem.ts';

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

/** The log entries `hostnqn` sees through listener `l` (reached at `localAddress`). */
export function discoveryEntries(
  subsystems: Iterable<Subsystem>,
  l: ListenerInfo,
  hostnqn: string,
  localAddress: string,
  asqsz: number,
): DiscoveryEntry[] {
  const traddr = traddrFor(l, localAddress);
  const { treq, sectype } = security(l.tls);
  const entry = (subtype: number, subnqn: string): DiscoveryEntry => ({
    trtype: TrType.TCP,
    adrfam: isIPv6(traddr) ? AdrFam.IPv6 : AdrFam.IPv4,
    subtype,
    treq,
    portid: l.portid,
    cntlid: 0xffff,
    asqsz,
    eflags: 0,
    trsvcid: String(l.port),
    subnqn,
    traddr,
    sectype,
  });
  const out = [entry(SubType.CurrentDiscovery, NQN_DISCOVERY)];
  for (const s of subsystems) {
    if (linked(l, s.nqn) && s.allowsHost(hostnqn)) out.push(entry(SubType.Nvme, s.nqn));
  }
  return out;
}

/** The whole discovery log as this controller's host sees it. */
export function discoveryLogPage(ctrl: Controller): Buffer {
  const ctx = ctrl.ctx;
  return encodeDiscoveryLog(ctx.genctr, ctx.discoveryEntries(ctrl.hostnqn, ctrl.admin));
}
