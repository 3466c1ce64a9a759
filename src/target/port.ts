// A listener of the target, as nvmet calls it a port: its address, its port ID in the
// discovery log, and the NVM subsystems linked to it (nvmet serves a subsystem only on
// the ports it is linked to; the discovery subsystem is on every port).

export interface ListenerInfo {
  /** Address the listener was bound to (may be a wildcard). */
  host: string;
  port: number;
  portid: number;
  /** NQNs of the NVM subsystems served on this port; undefined: every subsystem. */
  subsystems: ReadonlySet<string> | undefined;
  /** TLS on this listener (discovery TREQ and TSAS say so); default none. */
  tls?: TlsMode;
}

/** A listener's TLS: none (plaintext only), optional (both, told by the first byte), required (TLS only). */
export type TlsMode = 'none' | 'optional' | 'required';

/** Whether NVM subsystem `nqn` is served on listener `l`. */
export function linked(l: ListenerInfo, nqn: string): boolean {
  return l.subsystems === undefined || l.subsystems.has(nqn);
}
