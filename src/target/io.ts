// NVM I/O commands: Read, Write, Flush, Write Zeroes, Dataset Management.
//
// Every LBA range is checked before anything moves (LBA Out of Range, never a
// write past the end), and a write's data is fetched (R2T) only once the command
// is known to be valid. RAM namespaces complete synchronously; file namespaces
// through their promise. A file read is issued once the target's data budget has
// granted its buffer (RAM reads send views of namespace memory and need none).
import { IoOpc, Sc, Sct } from '../protocol/constants.ts';
import { CDW12_FUA, DSM_PAYLOAD_LEN, DSM_RANGE_LEN, DsmAttr, decodeDsmRanges, parseDsmSqe, parseRw } from '../protocol/admin.ts';
import { makeStatus, SqeOff, sqeNsid, sqeSlba } from '../protocol/sqe.ts';
import type { Backend } from './backends/types.ts';
import type { Cmd } from './cmd.ts';
import type { Controller } from './controller.ts';
import type { Namespace } from './subsystem.ts';

const DNR = true;
const STATUS_INVALID_NS = makeStatus(0, Sc.InvalidNamespace, DNR);
const STATUS_LBA_RANGE = makeStatus(0, Sc.LbaOutOfRange, DNR);
const STATUS_SGL_LEN = makeStatus(0, Sc.SglInvalidDataLength, DNR);
const STATUS_WRITE_PROTECTED = makeStatus(0, Sc.NsWriteProtected, DNR);
const STATUS_WRITE_FAULT = makeStatus(Sct.MediaError, 0x80);
const STATUS_READ_ERROR = makeStatus(Sct.MediaError, 0x81);
const NSID_ALL = 0xffff_ffff;

export function ioCommand(ctrl: Controller, cmd: Cmd): void {
  switch (cmd.opc) {
    case IoOpc.Read:
      read(ctrl, cmd);
      return;
    case IoOpc.Write:
      write(ctrl, cmd);
      return;
    case IoOpc.Flush:
      flush(ctrl, cmd);
      return;
    case IoOpc.WriteZeroes:
      writeZeroes(ctrl, cmd);
      return;
    case IoOpc.DatasetMgmt:
      dsm(ctrl, cmd);
      return;
    default:
      cmd.q.complete(cmd, makeStatus(0, Sc.InvalidOpcode, DNR));
  }
}

function nsOf(ctrl: Controller, cmd: Cmd): Namespace | undefined {
  return ctrl.subsys.namespaces.get(sqeNsid(cmd.sqe));
}

/** Checks a Read/Write: the namespace, the LBA range, the data length. Returns the status (0 = fine). */
function checkRw(ctrl: Controller, cmd: Cmd, ns: Namespace | undefined, slba: number, nlb: number): number {
  if (ns === undefined) return STATUS_INVALID_NS;
  if (!ns.inRange(slba, nlb)) return STATUS_LBA_RANGE;
  const len = nlb * ns.lbaSize;
  if (len !== cmd.sglLen || len > ctrl.ctx.opts.maxTransfer) return STATUS_SGL_LEN;
  return 0;
}

/** NLB (1-based) of a read/write-type SQE: read in place, no RwSqe object per I/O (the SQE is always 64 bytes here). */
const sqeNlb = (sqe: Buffer): number => (sqe.readUInt32LE(SqeOff.CDW12) & 0xffff) + 1;

function read(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const ns = nsOf(ctrl, cmd);
  const slba = sqeSlba(cmd.sqe);
  const nlb = sqeNlb(cmd.sqe);
  const st = checkRw(ctrl, cmd, ns, slba, nlb);
  if (st !== 0) {
    q.complete(cmd, st);
    return;
  }
  const len = nlb * ns!.lbaSize;
  const h = ctrl.health;
  h.readCmds++;
  h.readBytes += len;
  const be = ns!.backend;
  if (be.readInto !== undefined) {
    q.takeData(cmd, len, fileRead);
    return;
  }
  const r = be.read(slba * ns!.lbaSize, len);
  if (r instanceof Promise) {
    r.then(
      (bufs) => q.completeData(cmd, bufs, len),
      () => q.complete(cmd, STATUS_READ_ERROR),
    );
  } else {
    q.completeData(cmd, r, len);
  }
}

/**
 * The namespace of a command that waited (for its data or a buffer): it may have been
 * removed or shrunk meanwhile (NvmeTarget.removeNamespace, resizeNamespace). Completes
 * the command with the status and returns undefined then.
 */
function nsStill(cmd: Cmd): Namespace | undefined {
  const ns = nsOf(cmd.q.ctrl!, cmd);
  const st = ns === undefined ? STATUS_INVALID_NS : ns.inRange(sqeSlba(cmd.sqe), sqeNlb(cmd.sqe)) ? 0 : STATUS_LBA_RANGE;
  if (st === 0) return ns;
  cmd.q.complete(cmd, st);
  return undefined;
}

/** A read into the command's own buffer (budget granted); the buffer is released once sent. */
function fileRead(cmd: Cmd): void {
  const q = cmd.q;
  const ns = nsStill(cmd);
  if (ns === undefined) return;
  const data = cmd.data!;
  ns.backend.readInto!(sqeSlba(cmd.sqe) * ns.lbaSize, data).then(
    () => q.completeData(cmd, [data], data.length),
    () => q.complete(cmd, STATUS_READ_ERROR),
  );
}

function write(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const ns = nsOf(ctrl, cmd);
  const st = checkRw(ctrl, cmd, ns, sqeSlba(cmd.sqe), sqeNlb(cmd.sqe));
  if (st !== 0 || ns!.readOnly) {
    q.complete(cmd, st !== 0 ? st : STATUS_WRITE_PROTECTED);
    return;
  }
  if (cmd.data === undefined) q.requestData(cmd, cmd.sglLen, writeData);
  else writeData(cmd);
}

function writeData(cmd: Cmd): void {
  const q = cmd.q;
  const ctrl = q.ctrl!;
  const ns = nsStill(cmd);
  if (ns === undefined) return;
  const data = cmd.data!;
  const h = ctrl.health;
  h.writeCmds++;
  h.writeBytes += data.length;
  const be = ns.backend;
  const r = be.write(sqeSlba(cmd.sqe) * ns.lbaSize, data);
  if (r === undefined) {
    q.releaseData(cmd);
    q.complete(cmd, 0);
    return;
  }
  // Durable before the completion when the host asked (FUA) or runs without a volatile
  // write cache (Set Features VWC = 0); a write-through store already is.
  const durable = !be.writeThrough && (ctrl.vwc === 0 || (cmd.sqe.readUInt32LE(SqeOff.CDW12) & CDW12_FUA) !== 0);
  r.then(
    () => {
      q.releaseData(cmd);
      return durable ? be.flush() : undefined;
    },
    (e: unknown) => {
      q.releaseData(cmd);
      throw e;
    },
  ).then(
    () => q.complete(cmd, 0),
    () => q.complete(cmd, STATUS_WRITE_FAULT),
  );
}

/** Completes `cmd` once an optional backend promise settles. */
/** One promise for several backend operations; undefined when none is pending. */
function all(pending: Promise<void>[]): Promise<void> | undefined {
  return pending.length > 0 ? Promise.all(pending).then(noop) : undefined;
}

function noop(): void {}

function settle(cmd: Cmd, r: Promise<unknown> | undefined): void {
  if (r === undefined) {
    cmd.q.complete(cmd, 0);
    return;
  }
  r.then(
    () => cmd.q.complete(cmd, 0),
    () => cmd.q.complete(cmd, STATUS_WRITE_FAULT),
  );
}

function flush(ctrl: Controller, cmd: Cmd): void {
  const nsid = sqeNsid(cmd.sqe);
  if (nsid === NSID_ALL) {
    settle(cmd, all(ctrl.subsys.flushAll()));
    return;
  }
  const ns = ctrl.subsys.namespaces.get(nsid);
  if (ns === undefined) {
    cmd.q.complete(cmd, STATUS_INVALID_NS);
    return;
  }
  settle(cmd, ns.backend.flush());
}

function writeZeroes(ctrl: Controller, cmd: Cmd): void {
  const ns = nsOf(ctrl, cmd);
  if (ns === undefined) {
    cmd.q.complete(cmd, STATUS_INVALID_NS);
    return;
  }
  if (ns.readOnly) {
    cmd.q.complete(cmd, STATUS_WRITE_PROTECTED);
    return;
  }
  const rw = parseRw(cmd.sqe);
  if (!ns.inRange(rw.slba, rw.nlb)) {
    cmd.q.complete(cmd, STATUS_LBA_RANGE);
    return;
  }
  const off = rw.slba * ns.lbaSize;
  const len = rw.nlb * ns.lbaSize;
  const be = ns.backend;
  const r = rw.deac ? be.deallocate(off, len) : be.writeZeroes(off, len);
  settle(cmd, durably(ctrl, be, r, rw.fua));
}

/**
 * `r` (a backend operation, or undefined when already done), followed by a flush of
 * `be` when the data must be durable before the completion: the host asked (FUA) or
 * the controller runs without a volatile write cache (VWC = 0). A write-through
 * store needs none.
 */
function durably(ctrl: Controller, be: Backend, r: Promise<void> | undefined, fua: boolean): Promise<void> | undefined {
  if (be.writeThrough || (ctrl.vwc !== 0 && !fua)) return r;
  return r === undefined ? be.flush() : r.then(() => be.flush());
}

function dsm(ctrl: Controller, cmd: Cmd): void {
  const ns = nsOf(ctrl, cmd);
  if (ns === undefined) {
    cmd.q.complete(cmd, STATUS_INVALID_NS);
    return;
  }
  const { nr } = parseDsmSqe(cmd.sqe);
  // Linux sends 4096 bytes of ranges whatever NR is.
  const len = cmd.sglLen;
  if (len < nr * DSM_RANGE_LEN || len > DSM_PAYLOAD_LEN) {
    cmd.q.complete(cmd, STATUS_SGL_LEN);
    return;
  }
  if (cmd.data === undefined) cmd.q.requestData(cmd, len, dsmData);
  else dsmData(cmd);
}

function dsmData(cmd: Cmd): void {
  const ctrl = cmd.q.ctrl!;
  const ns = nsOf(ctrl, cmd);
  if (ns === undefined) {
    cmd.q.complete(cmd, STATUS_INVALID_NS);
    return;
  }
  const { nr, attr } = parseDsmSqe(cmd.sqe);
  const ranges = decodeDsmRanges(cmd.data!, nr);
  cmd.q.releaseData(cmd);
  if ((attr & DsmAttr.AD) === 0) {
    cmd.q.complete(cmd, 0);
    return;
  }
  if (ns.readOnly) {
    cmd.q.complete(cmd, STATUS_WRITE_PROTECTED);
    return;
  }
  for (const r of ranges) {
    if (!ns.inRange(r.slba, r.nlb)) {
      cmd.q.complete(cmd, STATUS_LBA_RANGE);
      return;
    }
  }
  const pending: Promise<void>[] = [];
  for (const r of ranges) {
    if (r.nlb === 0) continue;
    const p = ns.backend.deallocate(r.slba * ns.lbaSize, r.nlb * ns.lbaSize);
    if (p !== undefined) pending.push(p);
  }
  settle(cmd, durably(ctrl, ns.backend, all(pending), false));
}
