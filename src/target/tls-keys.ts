// The target's TLS keys: configured PSKs per host (or for any host) and, for each PSK
// identity a host sends in its ClientHello, the TLS PSK that goes with it (NVMe TCP
// Transport §3.6.1.3). As nvmet looks a host's identity up in its keyring: a key for
// the named host (and subsystem, if the entry names one), else a key for any host.
import { InvalidArgumentError } from '../protocol/errors.ts';
import {
  type ConfiguredPsk,
  deriveRetainedPsk,
  deriveTlsPsk,
  parsePskIdentity,
  parsePskInterchange,
  PskHash,
} from '../protocol/tls-psk.ts';

/** One configured PSK of the target. */
export interface TlsKeyConfig {
  /** The configured PSK in the interchange format (`nvme gen-tls-key`). */
  key: string;
  /** The host this key is for; default any host. */
  hostnqn?: string | undefined;
  /** The subsystem this key is for; default any (the discovery subsystem included). */
  subnqn?: string | undefined;
}

/** The host a TLS handshake authenticated (from its PSK identity). */
export interface TlsPeer {
  hostnqn: string;
  subnqn: string;
}

interface Entry {
  hostnqn: string | undefined;
  subnqn: string | undefined;
  configured: ConfiguredPsk;
  /** Retained PSK, derived once for an entry that names its host. */
  retained: Buffer | undefined;
}

export class TlsKeyring {
  private readonly entries: Entry[];

  constructor(
    keys: readonly TlsKeyConfig[],
    private readonly compat = false,
  ) {
    this.entries = keys.map((k, i) => {
      const where = `tlsKeys[${i}]${k.hostnqn !== undefined ? ` (host ${k.hostnqn})` : ''}`;
      let configured: ConfiguredPsk;
      try {
        configured = parsePskInterchange(k.key);
      } catch (e) {
        throw new InvalidArgumentError(`${where}: ${(e as Error).message}`);
      }
      const retained = k.hostnqn === undefined ? undefined : deriveRetainedPsk(configured, k.hostnqn, compat);
      return { hostnqn: k.hostnqn, subnqn: k.subnqn, configured, retained };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The TLS PSK for an identity, or null: not an NVMe/TCP retained-PSK identity, a
   * cipher suite hash we cannot negotiate (SHA-384, see transport/tls.ts), no key for
   * that host, or (version 1) a PSK digest that is not that of our key.
   */
  lookup(identity: string): { psk: Buffer; peer: TlsPeer } | null {
    const id = parsePskIdentity(identity);
    if (id === undefined || id.type !== 'R' || id.cipher !== PskHash.Sha256) return null;
    const e = this.find(id.hostnqn, id.subnqn);
    if (e === undefined) return null;
    const retained = e.retained ?? deriveRetainedPsk(e.configured, id.hostnqn, this.compat);
    const t = deriveTlsPsk(retained, { ...id, compat: this.compat });
    if (t.identity !== identity.replace(/\0$/, '')) return null;
    return { psk: t.psk, peer: { hostnqn: id.hostnqn, subnqn: id.subnqn } };
  }

  /** The most specific entry: host and subsystem, host, subsystem, any. */
  private find(hostnqn: string, subnqn: string): Entry | undefined {
    let best: Entry | undefined;
    let bestScore = -1;
    for (const e of this.entries) {
      if ((e.hostnqn !== undefined && e.hostnqn !== hostnqn) || (e.subnqn !== undefined && e.subnqn !== subnqn)) continue;
      const score = (e.hostnqn !== undefined ? 2 : 0) + (e.subnqn !== undefined ? 1 : 0);
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  }
}
