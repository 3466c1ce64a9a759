// TCP connections keyed by their 4-tuple, both directions in one entry. A lookup
// hashes the addresses and ports straight from the packet buffer (symmetric in the
// two endpoints) and compares bytes, so finding a known flow allocates nothing.
import type { TcpPacket } from './decode.ts';

/** What the table needs of a flow. `side` 0 is the source of the flow's first packet. */
export interface FlowKey {
  readonly addr: readonly [Buffer, Buffer];
  readonly port: readonly [number, number];
  /** Next flow in the same hash bucket. */
  nextInBucket: FlowKey | undefined;
}

function mixEnd(buf: Buffer, addr: number, len: number, port: number): number {
  let h = Math.imul(port ^ 0x9e3779b9, 0x85ebca6b);
  for (let i = 0; i < len; i += 4) h = Math.imul(h ^ buf.readUInt32BE(addr + i), 0xcc9e2d51) ^ (h >>> 15);
  return h;
}

function sameEnd(buf: Buffer, addr: number, len: number, port: number, a: Buffer, p: number): boolean {
  if (port !== p || a.length !== len) return false;
  for (let i = 0; i < len; i++) if (buf[addr + i] !== a[i]) return false;
  return true;
}

export class FlowTable<F extends FlowKey> {
  private readonly buckets = new Map<number, F>();
  /** Side of the packet in the flow found by the last find() (0: from addr[0]). */
  side = 0;
  size = 0;

  /** The live flow the packet belongs to, or undefined. Sets `side`. */
  find(t: TcpPacket): F | undefined {
    let f = this.buckets.get(this.hash(t));
    const b = t.buf;
    while (f !== undefined) {
      if (
        sameEnd(b, t.srcAddr, t.addrLen, t.sport, f.addr[0], f.port[0]) &&
        sameEnd(b, t.dstAddr, t.addrLen, t.dport, f.addr[1], f.port[1])
      ) {
        this.side = 0;
        return f;
      }
      if (
        sameEnd(b, t.srcAddr, t.addrLen, t.sport, f.addr[1], f.port[1]) &&
        sameEnd(b, t.dstAddr, t.addrLen, t.dport, f.addr[0], f.port[0])
      ) {
        this.side = 1;
        return f;
      }
      f = f.nextInBucket as F | undefined;
    }
    return undefined;
  }

  /** Adds a flow made for packet t (whose source is the flow's side 0). */
  add(t: TcpPacket, f: F): void {
    const h = this.hash(t);
    f.nextInBucket = this.buckets.get(h);
    this.buckets.set(h, f);
    this.size++;
  }

  /** Removes a flow (a closed connection whose 4-tuple is being reused). */
  remove(f: F): void {
    const h = this.hashKey(f);
    let cur = this.buckets.get(h);
    let prev: F | undefined;
    while (cur !== undefined && cur !== f) {
      prev = cur;
      cur = cur.nextInBucket as F | undefined;
    }
    if (cur === undefined) return;
    if (prev === undefined) {
      if (f.nextInBucket === undefined) this.buckets.delete(h);
      else this.buckets.set(h, f.nextInBucket as F);
    } else {
      prev.nextInBucket = f.nextInBucket;
    }
    f.nextInBucket = undefined;
    this.size--;
  }

  /** Removes every flow for which `drop` is true. */
  removeIf(drop: (f: F) => boolean): void {
    for (const [h, head] of this.buckets) {
      let keep: F | undefined;
      let tail: F | undefined;
      for (let f: F | undefined = head; f !== undefined; ) {
        const next = f.nextInBucket as F | undefined;
        if (drop(f)) {
          f.nextInBucket = undefined;
          this.size--;
        } else {
          if (tail === undefined) keep = f;
          else tail.nextInBucket = f;
          tail = f;
          f.nextInBucket = undefined;
        }
        f = next;
      }
      if (keep === undefined) this.buckets.delete(h);
      else this.buckets.set(h, keep);
    }
  }

  /** Addresses as bytes copied out of the packet, for a new flow's key. */
  static endpoints(t: TcpPacket): [Buffer, Buffer] {
    const n = t.addrLen;
    return [Buffer.from(t.buf.subarray(t.srcAddr, t.srcAddr + n)), Buffer.from(t.buf.subarray(t.dstAddr, t.dstAddr + n))];
  }

  private hash(t: TcpPacket): number {
    return (mixEnd(t.buf, t.srcAddr, t.addrLen, t.sport) + mixEnd(t.buf, t.dstAddr, t.addrLen, t.dport)) | 0;
  }

  private hashKey(f: FlowKey): number {
    const [a, b] = f.addr;
    return (mixEnd(a, 0, a.length, f.port[0]) + mixEnd(b, 0, b.length, f.port[1])) | 0;
  }
}
