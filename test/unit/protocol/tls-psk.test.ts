// TLS PSKs: interchange format, retained PSK, identities, TLS PSK. Every vector names its source.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import test from 'node:test';
import {
  deriveRetainedPsk,
  deriveTlsPsk,
  formatPskInterchange,
  hkdfExpandLabel,
  hkdfLabel,
  parsePskIdentity,
  parsePskInterchange,
  PskHash,
  pskDigest,
  pskIdentity,
} from '../../../src/protocol/tls-psk.ts';
import { genTlsKey, needsNvmeCli, nvme } from '../../helpers/nvme-cli.ts';

// NVMe TCP Transport 1.0 §3.6.1.5: the 32-byte configured PSK of the example.
const SPEC_KEY = Buffer.from('5512DBB6737D0106F65975B773DFB011FFC344BCF442E2DD6D8BC4870B5D5B03', 'hex');
const SPEC_TEXT = 'NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:';
// libnvme test/psk.c (linux-nvme/nvme-cli libnvme/test/psk.c): a 48-byte key made of the spec key and its second half.
const KEY48 = Buffer.concat([SPEC_KEY, SPEC_KEY.subarray(16)]);
const LIBNVME_00 = 'NVMeTLSkey-1:00:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:';
const LIBNVME_02 = 'NVMeTLSkey-1:02:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwP/w0S89ELi3W2LxIcLXVsDn8kXZQ==:';

test('tls-psk - the interchange example of NVMe TCP 1.0 §3.6.1.5 parses and formats back', () => {
  const c = parsePskInterchange(SPEC_TEXT);
  assert.equal(c.hash, PskHash.Sha256);
  assert.deepEqual(c.key, SPEC_KEY);
  assert.equal(formatPskInterchange({ hash: PskHash.Sha256, key: SPEC_KEY }), SPEC_TEXT);
});

test('tls-psk - libnvme test/psk.c interchange vectors (hh 00 with 32 bytes, hh 02 with 48 bytes)', () => {
  assert.deepEqual(parsePskInterchange(LIBNVME_00), { hash: PskHash.None, key: SPEC_KEY });
  assert.deepEqual(parsePskInterchange(LIBNVME_02), { hash: PskHash.Sha384, key: KEY48 });
  assert.equal(formatPskInterchange({ hash: PskHash.Sha384, key: KEY48 }), LIBNVME_02);
});

test('tls-psk - bad keys: one-line errors naming what is wrong', () => {
  const flip = SPEC_TEXT.replace('LrZ:', 'LrY:'); // last CRC byte changed
  const cases: [string, RegExp][] = [
    ['NVMeTLSkey-2:01:abcd:', /not in the PSK interchange format/],
    [SPEC_TEXT.slice(0, -1), /not in the PSK interchange format/],
    ['NVMeTLSkey-1:03:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:', /unknown hash 03/],
    ['NVMeTLSkey-1:02:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:', /32-byte key does not go with hash 02/],
    ['NVMeTLSkey-1:01:VRLb*nN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:', /malformed/],
    ['NVMeTLSkey-1:01:VRLbtnN9:', /6-byte key|does not go/],
    [flip, /CRC-32 mismatch/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parsePskInterchange(text),
      (e: Error) => e.name === 'InvalidArgumentError' && re.test(e.message) && !e.message.includes('\n'),
      text,
    );
  }
});

test('tls-psk - HkdfLabel and HKDF-Expand-Label against RFC 8448 §3 ("tls13 derived" from the early secret)', () => {
  // RFC 8448 §3, {server} derive secret for handshake "tls13 derived": info (49 octets) and expanded (32 octets).
  const hash = createHash('sha256').update('').digest();
  const info = hkdfLabel(32, 'derived', hash);
  assert.equal(info.toString('hex'), '00200d746c733133206465726976656420e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  // The early secret is HKDF-Extract(0, 32 zero bytes) (RFC 8448 §3 "extract secret \"early\""), so
  // HKDF-Expand-Label over HKDF-Extract of the zero IKM is the expanded "derived" secret.
  const early = createHmac('sha256', Buffer.alloc(32)).update(Buffer.alloc(32)).digest();
  assert.equal(early.toString('hex'), '33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a');
  const expanded = hkdfExpandLabel(PskHash.Sha256, Buffer.alloc(32), 'derived', hash, 32);
  assert.equal(expanded.toString('hex'), '6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba');
});

test('tls-psk - version-1 identities of libnvme test/psk.c: retained PSK (SHA-256, SHA-384) and PSK digest, RFC 8446 labels', () => {
  // libnvme test/psk.c test_data_identity (the RFC-conformant derivation).
  const host = 'nqn.psk-test-host';
  const sub = 'nqn.psk-test-subsys';
  const v: [PskHash, Buffer, string][] = [
    [PskHash.Sha256, SPEC_KEY, 'NVMe1R01 nqn.psk-test-host nqn.psk-test-subsys iSbjiStwJ/1TrTvDlt2fjFmzvsytOJelidNnA+X5lEU='],
    [
      PskHash.Sha384,
      KEY48,
      'NVMe1R02 nqn.psk-test-host nqn.psk-test-subsys QhW2+Rp6RzHlNtCslyRxMnwJ11tKKhz8JCAQpQ+XUD8f9td1VeH5h53yz2wKJG1a',
    ],
  ];
  for (const [hash, key, identity] of v) {
    const cipher = hash === PskHash.Sha384 ? PskHash.Sha384 : PskHash.Sha256;
    const retained = deriveRetainedPsk({ hash, key }, host);
    assert.equal(retained.length, key.length);
    const t = deriveTlsPsk(retained, { version: 1, cipher, hostnqn: host, subnqn: sub });
    assert.equal(t.identity, identity);
    assert.equal(t.psk.length, cipher === PskHash.Sha384 ? 48 : 32);
  }
});

test('tls-psk - version-1 identities of libnvme test/psk.c with the former libnvme derivation (compat)', () => {
  // libnvme test/psk.c test_data_identity_compat.
  const host = 'nqn.psk-test-host';
  const sub = 'nqn.psk-test-subsys';
  const r256 = deriveRetainedPsk({ hash: PskHash.Sha256, key: SPEC_KEY }, host, true);
  assert.equal(pskDigest(r256, PskHash.Sha256, host, sub), '66GuqV08TsAGII39teWUfwQwizjv06Jy8jOcX3NAAzM=');
  const r384 = deriveRetainedPsk({ hash: PskHash.Sha384, key: KEY48 }, host, true);
  assert.equal(pskDigest(r384, PskHash.Sha384, host, sub), 'RsKmYJ3nAn1ApjjMloJFbAkLPivONDAX/xW327YBUsn2eGShXSjCZvBaOxscLqmz');
  assert.notDeepEqual(r256, deriveRetainedPsk({ hash: PskHash.Sha256, key: SPEC_KEY }, host));
});

test('tls-psk - identities: the NVMe TCP 1.0 §3.6.1.3 example, and parse round trips', () => {
  const h = 'nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
  const s = 'nqn.2014-08.org.nvmexpress:uuid:36ebf5a9-1df9-47b3-a6d0-e9ba32e428a2';
  const id = pskIdentity(0, PskHash.Sha256, h, s);
  assert.equal(id, `NVMe0R01 ${h} ${s}`);
  assert.deepEqual(parsePskIdentity(id), { version: 0, type: 'R', cipher: 1, hostnqn: h, subnqn: s });
  // The spec's identity ends with a NUL character; hosts send it without. Both parse.
  assert.deepEqual(parsePskIdentity(`${id}\0`), parsePskIdentity(id));
  const v1 = parsePskIdentity('NVMe1R02 nqn.a nqn.b QhW2+Rp6');
  assert.deepEqual(v1, { version: 1, type: 'R', cipher: 2, hostnqn: 'nqn.a', subnqn: 'nqn.b', digest: 'QhW2+Rp6' });
  for (const bad of ['NVMe0R03 a b', 'NVMe2R01 a b', 'NVMe0R01 a', 'NVMe1R01 a b', 'NVMe0R01 a b c', 'x', '']) {
    assert.equal(parsePskIdentity(bad), undefined, bad);
  }
});

test('tls-psk - a SHA-384 retained PSK gives a SHA-256 TLS PSK for TLS_AES_128_GCM_SHA256 (another identity, another key)', () => {
  const r = deriveRetainedPsk({ hash: PskHash.Sha384, key: KEY48 }, 'nqn.h');
  const a = deriveTlsPsk(r, { version: 0, cipher: PskHash.Sha256, hostnqn: 'nqn.h', subnqn: 'nqn.s' });
  const b = deriveTlsPsk(r, { version: 0, cipher: PskHash.Sha384, hostnqn: 'nqn.h', subnqn: 'nqn.s' });
  assert.equal(a.identity, 'NVMe0R01 nqn.h nqn.s');
  assert.equal(b.identity, 'NVMe0R02 nqn.h nqn.s');
  assert.equal(a.psk.length, 32);
  assert.equal(b.psk.length, 48);
  assert.notDeepEqual(a.psk.subarray(0, 32), b.psk.subarray(0, 32));
});

test('tls-psk - keys from `nvme gen-tls-key` parse; ours pass `nvme check-tls-key`', needsNvmeCli(), () => {
  for (const hmac of [1, 2] as const) {
    const text = genTlsKey(hmac);
    const c = parsePskInterchange(text);
    assert.equal(c.hash, hmac);
    assert.equal(c.key.length, hmac === 1 ? 32 : 48);
    assert.equal(formatPskInterchange(c), text);
    // A fresh key of ours, judged by nvme-cli (exit status 0 and its "Key is valid" line).
    const mine = formatPskInterchange({
      hash: hmac,
      key: Buffer.from(createHash('sha384').update(text).digest().subarray(0, c.key.length)),
    });
    assert.match(nvme('check-tls-key', `--key=${mine}`), /Key is valid/);
  }
});
