// Bounded, seeded fuzzing of the receive state machine. Random bytes, mutated valid
// streams and random-but-plausible headers, fed in random chunks (and, in data phases,
// partly through feedPlaced), must never throw out of feed(). The outcome must be valid
// events, ending either normally or in ERR with exactly one onError and nothing after
// it, and must not depend on how the bytes were chunked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HLEN, PduType } from '../../../src/protocol/constants.ts';
import { crc32c, crc32cUpdate } from '../../../src/protocol/crc32c.ts';
import { ProtocolError } from '../../../src/protocol/errors.ts';
import { RecvState, type Role } from '../../../src/protocol/receiver.ts';
import { hostStream, STREAM_OPTS, type Stream, targetStream } from '../../fixtures/pdu/streams.ts';
import { Prng } from '../../helpers/prng.ts';
import { type RecorderOptions, Recorder } from '../../helpers/rx-recorder.ts';

const HOST_RX = new Set<number>([1, 3, 5, 7, 9]);
const TARGET_RX = new Set<number>([0, 2, 4, 6]);

interface Case {
  opts: RecorderOptions;
  bytes: Buffer;
}

/** Feeds `bytes` in random chunks; in data phases, some pieces go through feedPlaced. */
function drive(c: Case, rng: Prng, usePlaced: boolean): Recorder {
  const r = new Recorder(c.opts);
  const rx = r.rx;
  let off = 0;
  while (off < c.bytes.length) {
    const n = Math.min(rng.int(1, rng.pick([1, 3, 16, 200])), c.bytes.length - off);
    const piece = c.bytes.subarray(off, off + n);
    if (usePlaced && rx.state === RecvState.DATA && rx.destBuf !== undefined && rng.bool(0.5)) {
      const k = Math.min(n, rx.dataRemaining);
      const prior = rx.dataCrcSoFar;
      piece.copy(rx.destBuf, rx.destPos, 0, k);
      if (rng.bool()) rx.feedPlaced(k, crc32cUpdate(prior, piece, 0, k));
      else rx.feedPlaced(k);
      off += k;
    } else {
      try {
        rx.feed(piece);
      } catch (e) {
        assert.fail(`feed() threw: ${(e as Error).stack}`);
      }
      off += n;
    }
  }
  return r;
}

function checkInvariants(c: Case, r: Recorder, what: string): void {
  const allowed = c.opts.role === 'host' ? HOST_RX : TARGET_RX;
  const errIdx = r.events.findIndex((e) => e.ev === 'error');
  assert.ok(r.errors.length <= 1, `${what}: at most one onError`);
  if (r.errors.length === 1) {
    assert.equal(r.rx.state, RecvState.ERR, `${what}: an error leaves the receiver in ERR`);
    assert.equal(errIdx, r.events.length - 1, `${what}: nothing after the error`);
    const e = r.errors[0];
    assert.ok(e instanceof ProtocolError);
    assert.ok(e.fes >= 1 && e.fes <= 6, `${what}: FES ${e.fes}`);
    assert.ok(e.fei >= 0 && e.fei < 256, `${what}: FEI ${e.fei}`);
  }
  let open: { type: number; len: number } | undefined;
  let pdus = 0;
  for (const ev of r.events) {
    if (ev.ev === 'pdu') {
      assert.equal(open, undefined, `${what}: a header arrived inside a data phase`);
      const p = ev.pdu;
      assert.ok(allowed.has(p.type), `${what}: type ${p.type} delivered to a ${c.opts.role}`);
      assert.equal(p.hlen, HLEN[p.type], what);
      const isIc = p.type === PduType.ICReq || p.type === PduType.ICResp;
      assert.equal(isIc, pdus === 0 && !c.opts.icDone, `${what}: IC PDU exactly first`);
      if (p.type === PduType.H2CData || p.type === PduType.C2HData) {
        assert.ok(p.datal > 0 && p.datal <= (c.opts.maxDataLen ?? 1 << 20), what);
        open = { type: p.type, len: p.datal };
      } else if (p.type === PduType.CapsuleCmd && p.plen > p.hlen + (p.flags & 1 ? 4 : 0)) {
        open = { type: p.type, len: p.plen - p.pdo - (p.flags & 2 ? 4 : 0) };
      } else if (p.type === PduType.H2CTermReq || p.type === PduType.C2HTermReq) {
        assert.equal(p.data.length, p.plen - 24, what);
      }
      pdus++;
    } else if (ev.ev === 'done') {
      assert.ok(open !== undefined && open.type === ev.type && open.len === ev.len, `${what}: done matches its header`);
      open = undefined;
    }
  }
  assert.ok(r.rx.streamPos <= c.bytes.length, what);
}

/** The outcome, chunked or not, must match feeding everything at once. */
function check(c: Case, rng: Prng, what: string): void {
  const whole = new Recorder(c.opts);
  whole.rx.feed(c.bytes);
  checkInvariants(c, whole, `${what} (whole)`);
  const chunked = drive(c, rng, false);
  checkInvariants(c, chunked, `${what} (chunked)`);
  assert.deepEqual(chunked.events, whole.events, `${what}: chunking changed the outcome`);
  assert.ok(chunked.placed().equals(whole.placed()), `${what}: placed bytes`);
  const placed = drive(c, rng, true);
  checkInvariants(c, placed, `${what} (placed)`);
  const errs = (r: Recorder) => r.events.filter((e) => e.ev !== 'done');
  assert.deepEqual(errs(placed), errs(whole), `${what}: feedPlaced changed the outcome`);
}

function randomOpts(rng: Prng, role: Role): RecorderOptions {
  return {
    role,
    hdgst: rng.bool(),
    ddgst: rng.bool(),
    pda: rng.pick([0, 0, 1, 3, 31]),
    icDone: rng.bool(),
    maxDataLen: rng.pick([64, 512, 4096]),
    memSize: 8192,
  };
}

test('fuzz receiver - random bytes', () => {
  const rng = new Prng(0xf022);
  for (let i = 0; i < 1500; i++) {
    const opts = randomOpts(rng, rng.pick(['host', 'target'] as const));
    check({ opts, bytes: rng.bytes(rng.int(1, 300)) }, rng, `iteration ${i}`);
  }
});

test('fuzz receiver - mutated valid streams', () => {
  const rng = new Prng(0x3a7e);
  const streams: Stream[] = STREAM_OPTS.flatMap((o) => [hostStream(o), targetStream(o)]);
  for (let i = 0; i < 1200; i++) {
    const s = rng.pick(streams);
    const b = Buffer.from(s.bytes);
    let bytes: Buffer = b;
    for (let m = rng.int(1, 3); m > 0; m--) {
      const at = rng.int(0, bytes.length - 1);
      switch (rng.int(0, 4)) {
        case 0: // flip a bit
          bytes[at] ^= 1 << rng.int(0, 7);
          break;
        case 1: // random byte, mostly inside a header
          bytes[rng.pick(s.starts.slice(0, -1)) + rng.int(0, 7)] = rng.int(0, 255);
          break;
        case 2: // drop a byte
          bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          break;
        case 3: // insert a byte
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([rng.int(0, 255)]), bytes.subarray(at)]);
          break;
        default: // truncate
          bytes = bytes.subarray(0, at + 1);
      }
    }
    const opts: RecorderOptions = { role: s.role, ...s.opts, maxDataLen: rng.pick([100, 1 << 20]), memSize: 8192 };
    check({ opts, bytes }, rng, `iteration ${i}`);
  }
});

/** A plausible header for `role` with random flags, PDO, PLEN and lengths, plus data and digests. */
function plausiblePdu(rng: Prng, role: Role, o: RecorderOptions): Buffer {
  const type = rng.pick(role === 'host' ? [3, 5, 7, 7, 9] : [2, 4, 4, 6, 6]);
  const hlen = rng.bool(0.95) ? HLEN[type] : rng.int(0, 255);
  const hd = o.hdgst && type >= 4 ? 4 : 0;
  const dataLen = rng.pick([0, 1, 4, 13, 64, 200]);
  const pdo = rng.bool(0.8) ? hlen + hd + rng.pick([0, 0, 4, 8]) : rng.int(0, 255);
  const dd = o.ddgst && dataLen > 0 ? 4 : 0;
  const plen = rng.bool(0.85) ? (dataLen > 0 ? pdo + dataLen + dd : hlen + hd) : rng.int(0, 400);
  const flags = (hd ? 1 : 0) | (dd ? 2 : 0) | (rng.bool(0.2) ? rng.int(0, 15) : 4);
  const h = rng.bytes(Math.max(hlen, 8));
  h[0] = type;
  h[1] = flags;
  h[2] = hlen;
  h[3] = pdo;
  h.writeUInt32LE(plen >>> 0, 4);
  if (h.length >= 20 && rng.bool(0.8)) h.writeUInt32LE(dataLen, 16);
  const parts = [h];
  if (hd) parts.push(Buffer.from(rng.bool(0.9) ? crc32c(h, 0, hlen).toString(16).padStart(8, '0') : '00000000', 'hex').reverse());
  const rest = Math.max(0, Math.min(plen, 400) - h.length - hd);
  parts.push(rng.bytes(rest));
  return Buffer.concat(parts);
}

test('fuzz receiver - plausible random headers after the IC exchange', () => {
  const rng = new Prng(0x9e11);
  for (let i = 0; i < 1500; i++) {
    const role = rng.pick(['host', 'target'] as const);
    const opts = { ...randomOpts(rng, role), icDone: true };
    const pdus: Buffer[] = [];
    for (let k = rng.int(1, 5); k > 0; k--) pdus.push(plausiblePdu(rng, role, opts));
    check({ opts, bytes: Buffer.concat(pdus) }, rng, `iteration ${i}`);
  }
});
