// Test harness for the offload devices: a C2H stream builder (what a target sends
// for a set of READs) and a minimal host-side ULP (RecvHandler + UlpOps) that owns
// one destination buffer per CID and completes commands the way nvme-tcp does:
// an offloaded command completes only in ddpTeardownDone.
import { PduFlag, PduType } from '../../../src/protocol/constants.ts';
import { crc32c } from '../../../src/protocol/crc32c.ts';
import type { ProtocolError } from '../../../src/protocol/errors.ts';
import type { DataPdu, Pdu } from '../../../src/protocol/pdu.ts';
import { PduReceiver, type RecvHandler } from '../../../src/protocol/receiver.ts';
import { parseCqe } from '../../../src/protocol/sqe.ts';
import type { NicProfile } from '../../../src/offload/core.ts';
import { segmentStream } from '../../../src/offload/inject.ts';
import { createPacketDevice } from '../../../src/offload/packet-device.ts';
import { PacketRx } from '../../../src/offload/packet-rx.ts';
import type { DdpQueue, UlpOps } from '../../../src/offload/types.ts';
import type { StatsSnapshot } from '../../../src/stats/registry.ts';
import { encodeCapsuleResp, encodeDataHeader, encodeDdgst } from '../../helpers/pdu-encode.ts';

export interface Digests {
  hdgst: boolean;
  ddgst: boolean;
}

export interface ReadSpec {
  cid: number;
  data: Buffer;
  /** Split the data into C2HData PDUs of at most this many bytes. Default: one PDU. */
  maxPdu?: number;
  /** End with C2HData SUCCESS instead of a CapsuleResp. */
  success?: boolean;
  /** Flip one data byte after the digest was computed (offset into data). */
  corruptAt?: number;
}

/** One PDU of the stream and where its payload sits (for the tests' own arithmetic). */
export interface BuiltPdu {
  type: number;
  cid: number;
  bytes: Buffer;
  /** Offset of the payload in `bytes`, and its length (0 for a CapsuleResp). */
  dataAt: number;
  datal: number;
}

/** The PDUs a target sends for `reads`, in order. */
export function c2hPdus(reads: readonly ReadSpec[], d: Digests): BuiltPdu[] {
  const out: BuiltPdu[] = [];
  for (const r of reads) {
    const max = r.maxPdu ?? r.data.length;
    for (let off = 0; off < r.data.length; off += max) {
      const datal = Math.min(max, r.data.length - off);
      const last = off + datal === r.data.length;
      const flags = last ? PduFlag.LAST_PDU | (r.success ? PduFlag.SUCCESS : 0) : 0;
      const hdr = encodeDataHeader(PduType.C2HData, { cccid: r.cid, datao: off, datal, flags }, d);
      const payload = Buffer.from(r.data.subarray(off, off + datal));
      const parts = [hdr, payload];
      if (d.ddgst) parts.push(encodeDdgst(crc32c(payload)));
      if (r.corruptAt !== undefined && r.corruptAt >= off && r.corruptAt < off + datal) payload[r.corruptAt - off] ^= 0x5a;
      out.push({ type: PduType.C2HData, cid: r.cid, bytes: Buffer.concat(parts), dataAt: hdr.length, datal });
    }
    if (!r.success) {
      const resp = encodeCapsuleResp({ cid: r.cid }, d.hdgst);
      out.push({ type: PduType.CapsuleResp, cid: r.cid, bytes: resp, dataAt: 0, datal: 0 });
    }
  }
  return out;
}

export interface DataDone {
  cid: number;
  datao: number;
  ok: boolean;
  byDevice: boolean;
}

/** The host side of one I/O queue, reduced to what the offload needs. */
export class MiniHost implements RecvHandler, UlpOps {
  readonly rx: PduReceiver;
  readonly bufs = new Map<number, Buffer>();
  /** CIDs registered with the device (complete in ddpTeardownDone). */
  readonly offloaded = new Set<number>();
  readonly dataDone: DataDone[] = [];
  readonly completed: number[] = [];
  readonly errors: ProtocolError[] = [];
  readonly resyncAsks: number[] = [];
  q: DdpQueue | undefined;

  constructor(d: Digests) {
    this.rx = new PduReceiver({ role: 'host', maxDataLen: 1 << 20 }, this);
    this.rx.setNegotiated(d.hdgst, d.ddgst, 0);
  }

  /** A READ of `len` bytes on `cid`; registered with the device when `ddp`. Returns the setup result. */
  read(cid: number, len: number, ddp: boolean, buf = Buffer.alloc(len)): number {
    this.bufs.set(cid, buf);
    if (!ddp || this.q === undefined) return -1;
    const r = this.q.setup(cid, [buf]);
    if (r === 0) this.offloaded.add(cid);
    return r;
  }

  onPdu(pdu: Pdu): ProtocolError | undefined {
    if (pdu.type === PduType.C2HData) {
      const b = this.bufs.get(pdu.cccid);
      if (b !== undefined) this.rx.setDataDest(b, pdu.datao);
    } else if (pdu.type === PduType.CapsuleResp) {
      this.finish(parseCqe(pdu.cqe).cid);
    }
    return undefined;
  }

  onDataDone(pdu: DataPdu, ok: boolean, byDevice: boolean): void {
    this.dataDone.push({ cid: pdu.cccid, datao: pdu.datao, ok, byDevice });
    if ((pdu.flags & PduFlag.SUCCESS) !== 0) this.finish(pdu.cccid);
  }

  onError(err: ProtocolError): void {
    this.errors.push(err);
  }

  private finish(cid: number): void {
    if (this.offloaded.delete(cid)) this.q!.teardown(cid);
    else this.completed.push(cid);
  }

  resyncRequest(seq: number): boolean {
    this.resyncAsks.push(seq);
    return true;
  }

  ddpTeardownDone(cid: number): void {
    this.completed.push(cid);
  }
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * The reference run for a socket device's counters: the same stream, every READ
 * registered, through a packet device fed the stream cut at `mss` from its first
 * byte with no loss; the queue removed at the end. Its counters (global and sums).
 */
export async function packetDeviceRun(
  specs: readonly ReadSpec[],
  d: Digests,
  mss: number,
  profile: NicProfile = 'mlx5',
): Promise<Pick<StatsSnapshot, 'global' | 'sum'>> {
  const dev = createPacketDevice({ channels: 1, profile });
  const host = new MiniHost(d);
  const prx = new PacketRx(host.rx, { seq: 0, onTeardownDone: (cid) => host.ddpTeardownDone(cid) });
  const q = dev.addQueue({ pfv: 0, cpda: 0, dgst: (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0), queueSize: 64, queueId: 1, ioCpu: 0 }, prx);
  if (typeof q === 'number') throw new Error(`addQueue: ${q}`);
  prx.queue = q;
  host.q = q;
  for (const r of specs) host.read(r.cid, r.data.length, true);
  const stream = Buffer.concat(c2hPdus(specs, d).map((p) => p.bytes));
  for (const seg of segmentStream(stream, 0, mss)) prx.push(dev.receive(q, seg));
  await new Promise((res) => setImmediate(res));
  q.remove();
  const s = dev.snapshot();
  return { global: s.global, sum: s.sum };
}
