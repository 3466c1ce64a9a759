// DH-HMAC-CHAP crypto: secrets, key transformation, RFC 7919 primes, DH, responses.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { test } from 'node:test';
import {
  AuthHash,
  augmentChallenge,
  computeResponse,
  DhExchange,
  DhGroup,
  dhGroupName,
  ffdhePrime,
  formatDhchapKey,
  parseDhchapKey,
  parseDhGroupName,
  parseHashName,
  transformKey,
} from '../../../src/protocol/dhchap.ts';
import { InvalidArgumentError } from '../../../src/protocol/errors.ts';

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const has = (cmd: string): boolean => spawnSync(cmd, ['version'], { stdio: 'ignore' }).error === undefined;
const skipUnlessCi = (what: string): string | false => (process.env.CI === 'true' ? false : `${what} is not installed`);

test('dhchap key - nvme-cli 2.3 vector: `nvme gen-dhchap-key -s 00..1f -m 0 -n nqn.test` parses and formats back', () => {
  const s = 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:';
  const k = parseDhchapKey(s);
  assert.equal(k.hmac, 0);
  assert.deepEqual(k.key, SECRET);
  assert.equal(formatDhchapKey(k), s);
});

test('dhchap key - nvme-cli 2.3 vector: `-s 00..1f -m 1 -n nqn.test` holds HMAC-SHA256(secret, NQN || "NVMe-over-Fabrics")', () => {
  // nvme-cli (libnvme) applies the transformation when it generates a key with -m; the
  // same function is what both sides apply to an hh = 01 key with the NQN (Linux
  // nvme_auth_transform_key), so the two must agree.
  const fromCli = parseDhchapKey('DHHC-1:01:vb3shNpwt6PnRJ3wYKwspZpHfeAH17cXc1fDwlzRPrxJu191:');
  assert.equal(fromCli.hmac, 1);
  assert.deepEqual(transformKey({ hmac: 1, key: SECRET }, 'nqn.test'), fromCli.key);
  assert.deepEqual(transformKey({ hmac: 0, key: SECRET }, 'nqn.test'), SECRET, 'hh 00: the key as it is');
});

test('dhchap key - bad input: one clear error each, never a stack of parsing internals', () => {
  const good = 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:';
  const cases: [string, RegExp][] = [
    ['DHHC-2:00:AAAA:', /expected DHHC-1/],
    ['DHHC-1:04:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:', /expected DHHC-1/],
    [good.replace('KfiaR', 'KfiaS'), /CRC-32 does not match/],
    [formatLike(Buffer.alloc(16)), /key length 16/],
    [`DHHC-1:03:${Buffer.concat([SECRET, crcOf(SECRET)]).toString('base64')}:`, /too short for hash hmac\(sha512\)/],
  ];
  for (const [s, re] of cases)
    assert.throws(
      () => parseDhchapKey(s),
      (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message),
      s,
    );
});

/** zlib's CRC-32 of the key, little-endian, as nvme-cli appends it. */
function crcOf(b: Buffer): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32LE(crc32(b));
  return c;
}
function formatLike(key: Buffer): string {
  return `DHHC-1:00:${Buffer.concat([key, crcOf(key)]).toString('base64')}:`;
}

test('dhchap key - keys from `nvme gen-dhchap-key` parse, and ours pass `nvme check-dhchap-key`', {
  skip: has('nvme') ? false : skipUnlessCi('nvme-cli'),
}, () => {
  for (const m of ['0', '1', '2', '3']) {
    for (const l of ['32', '48', '64']) {
      // nvme-cli wants a transformed key as long as its hash.
      if (m !== '0' && l !== ['', '32', '48', '64'][Number(m)]) continue;
      const out = execFileSync('nvme', ['gen-dhchap-key', '-m', m, '-l', l, '-n', 'nqn.2024-01.io.nvmeotcp:h'], {
        encoding: 'utf8',
      }).trim();
      const k = parseDhchapKey(out);
      assert.equal(k.hmac, Number(m));
      assert.equal(k.key.length, Number(l));
      assert.equal(formatDhchapKey(k), out);
      const ours = formatDhchapKey({ hmac: Number(m) as 0 | AuthHash, key: Buffer.from(k.key).reverse() });
      const chk = spawnSync('nvme', ['check-dhchap-key', '-k', ours], { encoding: 'utf8' });
      assert.equal(chk.status, 0, `${ours}: ${chk.stdout}${chk.stderr}`);
      assert.match(chk.stdout, new RegExp(`HMAC ${m}, length ${l}`));
    }
  }
});

test('ffdhe primes - the RFC 7919 formula gives the primes OpenSSL has for ffdhe2048..8192', {
  skip: has('openssl') ? false : skipUnlessCi('openssl'),
}, () => {
  for (const g of [DhGroup.Ffdhe2048, DhGroup.Ffdhe3072, DhGroup.Ffdhe4096, DhGroup.Ffdhe6144, DhGroup.Ffdhe8192]) {
    const name = dhGroupName(g);
    const pem = execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', `group:${name}`]);
    const asn = execFileSync('openssl', ['asn1parse'], { input: pem, encoding: 'utf8' });
    const hex = /INTEGER\s+:([0-9A-F]+)/.exec(asn)![1]!;
    assert.equal(ffdhePrime(g).toString('hex').toUpperCase(), hex, name);
  }
});

test('ffdhe primes - fixed shape: top and bottom 64 bits all ones', () => {
  const p = ffdhePrime(DhGroup.Ffdhe2048);
  assert.equal(p.length, 256);
  assert.equal(p.subarray(0, 8).toString('hex'), 'ffffffffffffffff');
  assert.equal(p.subarray(248).toString('hex'), 'ffffffffffffffff');
  assert.equal(p.subarray(8, 16).toString('hex'), 'adf85458a2bb4a9a', 'the first bits of e after 2^(b-64)');
});

test('DH - both sides derive the same secret; values outside 2..p-2 or of the wrong length are refused', () => {
  const a = new DhExchange(DhGroup.Ffdhe2048);
  const b = new DhExchange(DhGroup.Ffdhe2048);
  assert.equal(a.publicValue.length, 256);
  assert.deepEqual(a.sharedSecret(b.publicValue), b.sharedSecret(a.publicValue));
  const p = ffdhePrime(DhGroup.Ffdhe2048);
  const pm1 = Buffer.from(p);
  pm1[255] = 0xfe;
  for (const bad of [Buffer.alloc(256), Buffer.alloc(256, 0).fill(1, 255), pm1, p, a.publicValue.subarray(1)]) {
    assert.equal(a.sharedSecret(bad), undefined);
  }
});

test('response - the byte layout of the host and controller responses and the augmented challenge', () => {
  const key = Buffer.alloc(32, 7);
  const c = Buffer.alloc(32, 9);
  const r = { hash: AuthHash.Sha256, key, challenge: c, seqnum: 0x01020304, tid: 0xa0b, scc: 0, ownNqn: 'nqn.h', peerNqn: 'nqn.s' };
  const lit = (role: string) =>
    createHmac('sha256', key)
      .update(Buffer.concat([c, Buffer.from('040302010b0a00', 'hex'), Buffer.from(role), Buffer.from('nqn.h\0nqn.s')]))
      .digest();
  assert.deepEqual(computeResponse('host', r), lit('HostHost'));
  assert.deepEqual(computeResponse('controller', r), lit('Controller'));
  const sk = Buffer.alloc(256, 3);
  const hk = createHash('sha256').update(sk).digest();
  assert.deepEqual(augmentChallenge(AuthHash.Sha256, c, sk), createHmac('sha256', hk).update(c).digest());
  assert.equal(augmentChallenge(AuthHash.Sha256, c, undefined), c);
});

test('names - nvmet configfs spellings of hashes and groups', () => {
  assert.equal(parseHashName('hmac(sha384)'), AuthHash.Sha384);
  assert.equal(parseHashName('sha512'), AuthHash.Sha512);
  assert.equal(parseDhGroupName('ffdhe6144'), DhGroup.Ffdhe6144);
  assert.equal(parseDhGroupName('null'), DhGroup.Null);
  assert.throws(() => parseHashName('md5'), /dhchap hash: "md5"/);
  assert.throws(() => parseDhGroupName('modp2048'), /dhchap dhgroup: "modp2048"/);
});
