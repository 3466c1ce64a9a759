// A RecvHandler for receiver tests: records every event as plain data, plays the
// connection owner's part in the ICReq/ICResp exchange, and places each data PDU's
// payload back to back in one destination buffer (`mem`).
import { PduType } from '../../src/protocol/constants.ts';
import type { ProtocolError } from '../../src/protocol/errors.ts';
import type { CapsuleCmd, DataPdu, Pdu } from '../../src/protocol/pdu.ts';
import { PduReceiver, type RecvHandler, type Role } from '../../src/protocol/receiver.ts';

export type RxEvent =
  | { ev: 'pdu'; pdu: Pdu }
  | { ev: 'done'; type: number; ok: boolean; byDevice: boolean; at: number; len: number }
  | { ev: 'error'; fes: number; fei: number; pduType: number };

export interface RecorderOptions {
  role: Role;
  /** Digests and PDA the owner turns on once the IC exchange is seen (or from the start, with icDone). */
  hdgst?: boolean;
  ddgst?: boolean;
  pda?: number;
  maxDataLen?: number;
  /** Start as if ICReq/ICResp were already exchanged. */
  icDone?: boolean;
  /** Where data goes: 'place' = into `mem` (default), 'discard' = no destination. */
  data?: 'place' | 'discard';
  memSize?: number;
  /** An error onPdu returns for PDUs of this type. */
  rejectType?: { type: number; err: ProtocolError };
}

/** Data length of a data-carrying PDU as the owner computes it. */
export function dataLenOf(p: DataPdu | CapsuleCmd): number {
  if (p.type !== PduType.CapsuleCmd) return p.datal;
  return p.plen > p.hlen + (p.flags & 1 ? 4 : 0) ? p.plen - p.pdo - (p.flags & 2 ? 4 : 0) : 0;
}

export class Recorder implements RecvHandler {
  readonly events: RxEvent[] = [];
  readonly errors: ProtocolError[] = [];
  readonly mem: Buffer;
  memPos = 0;
  readonly rx: PduReceiver;
  private readonly starts: number[] = [];

  constructor(readonly opts: RecorderOptions) {
    this.mem = Buffer.alloc(opts.memSize ?? 64 * 1024);
    this.rx = new PduReceiver({ role: opts.role, maxDataLen: opts.maxDataLen ?? 1 << 20 }, this);
    if (opts.icDone) this.negotiate();
  }

  private negotiate(): void {
    this.rx.setNegotiated(this.opts.hdgst ?? false, this.opts.ddgst ?? false, this.opts.pda ?? 0);
  }

  onPdu(pdu: Pdu): ProtocolError | undefined {
    this.events.push({ ev: 'pdu', pdu });
    if (pdu.type === PduType.ICReq || pdu.type === PduType.ICResp) this.negotiate();
    if (this.opts.rejectType?.type === pdu.type) return this.opts.rejectType.err;
    if (pdu.type === PduType.CapsuleCmd || pdu.type === PduType.H2CData || pdu.type === PduType.C2HData) {
      const n = dataLenOf(pdu);
      if (n > 0 && (this.opts.data ?? 'place') === 'place') {
        this.rx.setDataDest(this.mem, this.memPos);
        this.starts.push(this.memPos);
        this.memPos += n;
      } else if (n > 0) {
        this.starts.push(-1);
      }
    }
    return undefined;
  }

  onDataDone(pdu: DataPdu | CapsuleCmd, ddgstOk: boolean, crcByDevice: boolean): void {
    const at = this.starts.shift() ?? -2;
    this.events.push({ ev: 'done', type: pdu.type, ok: ddgstOk, byDevice: crcByDevice, at, len: dataLenOf(pdu) });
  }

  onError(err: ProtocolError): void {
    this.errors.push(err);
    this.events.push({ ev: 'error', fes: err.fes, fei: err.fei, pduType: err.pduType });
  }

  /** The bytes placed so far. */
  placed(): Buffer {
    return this.mem.subarray(0, this.memPos);
  }

  feedAll(chunks: readonly Buffer[]): this {
    for (const c of chunks) this.rx.feed(c);
    return this;
  }
}
