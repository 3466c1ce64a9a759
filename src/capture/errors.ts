// Errors of the capture layer. One line each, naming the file offset (in hex and
// decimal) where the input stopped making sense, so a CLI can print e.message as is.
import { NvmeTcpError } from '../protocol/errors.ts';

export class CaptureError extends NvmeTcpError {
  /** Byte offset in the capture where the problem is (-1: not tied to an offset). */
  readonly offset: number;
  constructor(message: string, offset = -1) {
    super(offset >= 0 ? `${message} at offset ${hexOff(offset)}` : message, 'NVMEOTCP_ERR_CAPTURE');
    this.offset = offset;
  }
}

/** `0x1f4 (500)`. */
export function hexOff(n: number): string {
  return `0x${n.toString(16)} (${n})`;
}
