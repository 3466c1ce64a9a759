// TLS 1.3 with a pre-shared key around an NVMe/TCP connection (NVMe TCP Transport
// §3.6.1): the TCP connection is wrapped before the ICReq; no certificates.
//
// Cipher suite: TLS_AES_128_GCM_SHA256 only. Node 20's `pskCallback` sets OpenSSL's
// old-style PSK callbacks, and OpenSSL ties a PSK found that way to SHA-256 ("We don't
// know the digest so we default to SHA256", ssl/statem/extensions_clnt.c and
// extensions_srvr.c), so TLS_AES_256_GCM_SHA384 cannot be negotiated with an external
// PSK from Node (a handshake offering only it fails with handshake_failure). Node has no
// binding for SSL_set_psk_use_session_callback / SSL_CTX_set_psk_find_session_callback,
// which would let the session carry SHA-384. A key of hash 02 (SHA-384) still works: its
// retained PSK derives a SHA-256 TLS PSK and the identity NVMe0R01 (the spec derives
// one {TLS PSK, identity} pair per cipher suite hash).
//
// The spec forbids 0-RTT data; Node never sends early data. Session tickets are off:
// every connection authenticates with the PSK itself.
import type net from 'node:net';
import tls from 'node:tls';

/** TLS 1.3 cipher suites offered and accepted. */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256';
/** The first byte of a TLS record carrying a handshake message (ClientHello); an ICReq starts with 0x00. */
export const TLS_HANDSHAKE_RECORD = 0x16;

const TLS_OPTIONS = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_CIPHERS,
  secureOptions: 0x4000, // SSL_OP_NO_TICKET
} as const;

/** The PSK identity a host sends and the TLS PSK that goes with it. */
export interface TlsClientPsk {
  identity: string;
  psk: Buffer;
}

/** The target's side: the TLS PSK for an identity a host sent, or null to refuse it. */
export type TlsPskLookup = (identity: string) => Buffer | null;

/** Host: TCP connect, then the TLS handshake with one PSK identity ('secureConnect' once done). */
export function tlsConnect(host: string, port: number, p: TlsClientPsk): tls.TLSSocket {
  const s = tls.connect({
    host,
    port,
    ...TLS_OPTIONS,
    pskCallback: () => ({ psk: p.psk, identity: p.identity }),
    // PSK only: the server sends no certificate and there is no name to check.
    checkServerIdentity: () => undefined,
  });
  s.setNoDelay(true);
  return s;
}

let serverContext: tls.SecureContext | undefined;

/**
 * Target: the TLS server side over an accepted socket (bytes already read from it and
 * unshifted back are fed to the handshake first). `lookup` answers each identity.
 */
export function tlsAccept(raw: net.Socket, lookup: TlsPskLookup): tls.TLSSocket {
  serverContext ??= tls.createSecureContext(TLS_OPTIONS);
  const s = new tls.TLSSocket(raw, {
    isServer: true,
    secureContext: serverContext,
    requestCert: false,
    pskCallback: (_socket: tls.TLSSocket, identity: string) => lookup(identity),
  } as tls.TLSSocketOptions);
  s.setNoDelay(true);
  return s;
}

/**
 * Reads the first bytes of a socket accepted with pauseOnConnect and puts them back
 * (unshift), leaving it paused: resolves with them, or undefined if the socket closed
 * or sent nothing within `timeoutMs`.
 */
export function peekFirstBytes(raw: net.Socket, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('close', onEnd);
      raw.off('end', onEnd);
      raw.off('error', onEnd);
      raw.pause();
      if (b !== undefined) raw.unshift(b);
      resolve(b);
    };
    const onData = (b: Buffer) => done(b);
    const onEnd = () => done(undefined);
    const timer = setTimeout(onEnd, timeoutMs);
    timer.unref();
    raw.on('data', onData);
    raw.on('close', onEnd);
    raw.on('end', onEnd);
    raw.on('error', onEnd);
    raw.resume();
  });
}

/** One line for a TLS failure: OpenSSL's reason without its error-stack prefix. */
export function tlsFailureReason(e: Error): string {
  const r = (e as { reason?: unknown }).reason;
  if (typeof r === 'string' && r !== '') return r;
  return e.message.split('\n')[0] ?? e.message;
}
