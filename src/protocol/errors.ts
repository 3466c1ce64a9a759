// Error classes. Every error carries a stable machine-readable `code`.
import { FES_NAME, PDU_TYPE_NAME } from './constants.ts';
import { STATUS_DNR, STATUS_MORE } from './sqe.ts';

export class NvmeTcpError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A malformed or unexpected PDU. Fatal to its queue: the receiver answers with a
 * TermReq carrying `fes` and `fei` (the byte offset of the offending field for
 * FES 1 and 6), then the queue is closed.
 */
export class ProtocolError extends NvmeTcpError {
  readonly fes: number;
  readonly fei: number;
  readonly pduType: number;
  constructor(message: string, fes: number, fei = 0, pduType = -1) {
    super(message, 'NVMEOTCP_ERR_PROTOCOL');
    this.fes = fes;
    this.fei = fei;
    this.pduType = pduType;
  }
  describe(): string {
    const t = PDU_TYPE_NAME[this.pduType] ?? `type 0x${this.pduType.toString(16)}`;
    return `${this.message} (${t}, FES 0x${this.fes.toString(16)} ${FES_NAME[this.fes] ?? ''}, FEI 0x${this.fei.toString(16)})`;
  }
}

/** The peer terminated the connection with a TermReq. */
export class TermReqError extends NvmeTcpError {
  readonly fes: number;
  readonly fei: number;
  constructor(fes: number, fei: number) {
    super(
      `peer sent TermReq: FES 0x${fes.toString(16)} (${FES_NAME[fes] ?? 'unknown'}), FEI 0x${fei.toString(16)}`,
      'NVMEOTCP_ERR_TERMREQ',
    );
    this.fes = fes;
    this.fei = fei;
  }
}

/** A command completed with a non-zero NVMe status. */
export class NvmeStatusError extends NvmeTcpError {
  readonly sct: number;
  readonly sc: number;
  readonly dnr: boolean;
  readonly more: boolean;
  readonly cid: number;
  readonly qid: number;
  readonly status: number;
  constructor(status: number, cid: number, qid: number, what = 'command') {
    const sc = status & 0xff;
    const sct = (status >> 8) & 0x7;
    super(
      `queue ${qid} cid 0x${cid.toString(16)}: ${what} failed with status 0x${status.toString(16)} (SCT ${sct}, SC 0x${sc.toString(16)}${status & STATUS_DNR ? ', DNR' : ''})`,
      'NVMEOTCP_ERR_STATUS',
    );
    this.status = status;
    this.sc = sc;
    this.sct = sct;
    this.dnr = (status & STATUS_DNR) !== 0;
    this.more = (status & STATUS_MORE) !== 0;
    this.cid = cid;
    this.qid = qid;
  }
  get retriable(): boolean {
    return !this.dnr;
  }
}

export class ConnectionError extends NvmeTcpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'NVMEOTCP_ERR_CONNECTION', options);
  }
}

/**
 * Host error recovery gave up on the controller: ctrlLossTmo expired (or reconnecting
 * is off, or a Connect was refused with DNR). Every I/O waiting then, and every I/O
 * submitted after, fails with it; `cause` is the error that started the recovery.
 */
export class ControllerLostError extends ConnectionError {
  override readonly code = 'NVMEOTCP_ERR_CTRL_LOST';
}

/**
 * The controller is reconnecting and fastIoFailTmo has expired: waiting I/O fails
 * with this instead of waiting for the new association (new I/O too, until it is up).
 */
export class FastIoFailError extends ConnectionError {
  override readonly code = 'NVMEOTCP_ERR_FAST_IO_FAIL';
}

export class TimeoutError extends NvmeTcpError {
  readonly kind: 'connect' | 'icresp' | 'io' | 'kato' | 'ready';
  constructor(message: string, kind: 'connect' | 'icresp' | 'io' | 'kato' | 'ready') {
    super(message, 'NVMEOTCP_ERR_TIMEOUT');
    this.kind = kind;
  }
}

export class NegotiationError extends NvmeTcpError {
  constructor(message: string) {
    super(message, 'NVMEOTCP_ERR_NEGOTIATION');
  }
}

export class InvalidArgumentError extends NvmeTcpError {
  constructor(message: string) {
    super(message, 'NVMEOTCP_ERR_INVALID_ARG');
  }
}

/** The controller does not support the command (Identify ONCS): refused before anything is sent. */
export class UnsupportedError extends NvmeTcpError {
  constructor(message: string) {
    super(message, 'NVMEOTCP_ERR_UNSUPPORTED');
  }
}

/** The namespace is no longer active on its controller (a rescan found it removed). */
export class NamespaceGoneError extends NvmeTcpError {
  readonly nsid: number;
  constructor(message: string, nsid: number) {
    super(message, 'NVMEOTCP_ERR_NS_GONE');
    this.nsid = nsid;
  }
}

/**
 * In-band authentication (DH-HMAC-CHAP) failed: the peer sent AUTH_Failure1/2, or
 * its messages did not check out. `exp` is the reason code explanation (FailureExp).
 */
export class AuthenticationError extends NvmeTcpError {
  readonly exp: number;
  constructor(message: string, exp: number) {
    super(message, 'NVMEOTCP_ERR_AUTH');
    this.exp = exp;
  }
}
