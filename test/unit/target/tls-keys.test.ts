// The target's TLS keyring: which key answers which PSK identity.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import test from 'node:test';
import { deriveRetainedPsk, deriveTlsPsk, formatPskInterchange, parsePskInterchange, PskHash } from '../../../src/protocol/tls-psk.ts';
import { TlsKeyring } from '../../../src/target/tls-keys.ts';

const H = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';
const S = 'nqn.2024-01.io.nvmeotcp:s';
const key = (hash: 1 | 2 = 1) => formatPskInterchange({ hash, key: randomBytes(hash === 1 ? 32 : 48) });
const hostSide = (k: string, version: 0 | 1, hostnqn = H, subnqn = S) =>
  deriveTlsPsk(deriveRetainedPsk(parsePskInterchange(k), hostnqn), { version, cipher: PskHash.Sha256, hostnqn, subnqn });

test('tls-keys - the most specific key answers: host and subsystem, then host, then any host', () => {
  const [any, host, hostSub] = [key(), key(2), key()];
  const ring = new TlsKeyring([{ key: any }, { key: host, hostnqn: H }, { key: hostSub, hostnqn: H, subnqn: S }]);
  for (const version of [0, 1] as const) {
    const a = hostSide(hostSub, version);
    assert.deepEqual(ring.lookup(a.identity), { psk: a.psk, peer: { hostnqn: H, subnqn: S } });
    const b = hostSide(host, version, H, 'nqn.other');
    assert.deepEqual(ring.lookup(b.identity)?.psk, b.psk);
    const c = hostSide(any, version, 'nqn.someone', S);
    assert.deepEqual(ring.lookup(c.identity)?.psk, c.psk);
  }
});

test('tls-keys - refused: unknown host, a version-1 digest of another key, generated PSKs, SHA-384 suites, junk', () => {
  const k = key();
  const ring = new TlsKeyring([{ key: k, hostnqn: H }]);
  assert.equal(ring.lookup(hostSide(k, 0, 'nqn.stranger').identity), null);
  const forged = hostSide(key(), 1); // right host, digest of a key the target does not have
  assert.equal(ring.lookup(forged.identity), null);
  const good = hostSide(k, 0).identity;
  assert.equal(ring.lookup(good.replace('NVMe0R01', 'NVMe0G01')), null);
  assert.equal(ring.lookup(good.replace('NVMe0R01', 'NVMe0R02')), null);
  assert.equal(ring.lookup('x'.repeat(300)), null);
  assert.notEqual(ring.lookup(`${good}\0`), null);
});

test('tls-keys - a bad key fails the configuration with its place named', () => {
  assert.throws(
    () => new TlsKeyring([{ key: key() }, { key: 'NVMeTLSkey-1:01:abc:', hostnqn: H }]),
    (e: Error) => e.name === 'InvalidArgumentError' && e.message.startsWith(`tlsKeys[1] (host ${H}): TLS key:`),
  );
});
