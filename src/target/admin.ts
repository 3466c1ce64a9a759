// Admin commands: Identify, Get Log Page, Set/Get Features, Keep Alive and
// Asynchronous Event Request, for NVM and discovery controllers.
import { AdminOpc, Cns, FeatureId, LogId, Sc, ScCmd } from '../protocol/constants.ts';
import { parseFeaturesSqe, parseGetLogPage, parseIdentifySqe } from '../protocol/admin.ts';
import {
  encodeActiveNsList,
  encodeIdentifyController,
  encodeIdentifyNamespace,
  encodeIdentifyNsIndep,
  encodeNsDescList,
  IDENTIFY_LEN,
  NSTAT_READY,
  Oncs,
  VWC_PRESENT,
} from '../protocol/identify.ts';
import { makeStatus } from '../protocol/sqe.ts';
import type { Cmd } from './cmd.ts';
import { AEC_DISCOVERY_CHANGE, AEC_NS_ATTR, type Controller } from './controller.ts';
import { discoveryLogPage } from './discovery.ts';
import { commandEffectsLog, ELPE, errorLog, firmwareSlotLog, LID_SUPPORTED_LOGS, smartLog, supportedLogs } from './logs.ts';
import type { Namespace } from './subsystem.ts';

const DNR = true;
const STATUS_INVALID_FIELD = makeStatus(0, Sc.InvalidField, DNR);
const STATUS_INVALID_NS = makeStatus(0, Sc.InvalidNamespace, DNR);
const STATUS_INVALID_OPCODE = makeStatus(0, Sc.InvalidOpcode, DNR);

/** Identify Controller values of this target. */
const KAS_100MS = 1;
/** LPA bit 1: commands supported and effects log; bit 2: extended data (LPO). */
const LPA = 0x06;
/** ONCS: Dataset Management and Write Zeroes. */
const ONCS = Oncs.Dsm | Oncs.WriteZeroes;
/** SGLS bit 0 SGLs supported, bit 20 SGL offset (in-capsule data). */
const SGLS = 0x0010_0001;
/** CMIC bit 1: the subsystem may have several controllers. */
const CMIC_MULTI_CTRL = 0x02;
/** CTRATT bit 0: 128-bit host identifier. */
const CTRATT_HOSTID128 = 0x01;
/** DLFEAT: deallocated blocks read as zeros (bits 2:0 = 1), Write Zeroes may deallocate (bit 3). */
const DLFEAT = 0x09;
/** NMIC bit 0: the namespace may be attached to several controllers. */
const NMIC_SHARED = 0x01;
/** NSATTR bit 0: the namespace is write protected. */
const NSATTR_WRITE_PROTECTED = 0x01;

export function adminCommand(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  switch (cmd.opc) {
    case AdminOpc.Identify:
      identify(ctrl, cmd);
      return;
    case AdminOpc.GetLogPage:
      getLogPage(ctrl, cmd);
      return;
    case AdminOpc.SetFeatures:
      setFeatures(ctrl, cmd);
      return;
    case AdminOpc.GetFeatures:
      getFeatures(ctrl, cmd);
      return;
    case AdminOpc.KeepAlive:
      if (ctrl.kato === 0) {
        q.complete(cmd, makeStatus(0, Sc.KatoInvalid, DNR));
        return;
      }
      ctrl.keepAlive();
      q.complete(cmd, 0);
      return;
    case AdminOpc.AsyncEventRequest:
      ctrl.asyncEventRequest(cmd);
      return;
    default:
      q.complete(cmd, STATUS_INVALID_OPCODE);
      return;
  }
}

/** Sends a controller-to-host buffer, no longer than the host's SGL. */
function sendBuf(cmd: Cmd, buf: Buffer): void {
  cmd.q.completeData(cmd, [buf], Math.min(buf.length, cmd.sglLen));
}

export function identifyController(ctrl: Controller): Buffer {
  const o = ctrl.ctx.opts;
  const s = ctrl.subsys;
  const disc = s.isDiscovery;
  return encodeIdentifyController({
    vid: 0,
    ssvid: 0,
    sn: s.serial.slice(0, 20),
    mn: s.model.slice(0, 40),
    fr: o.firmware,
    rab: 6,
    cmic: disc ? 0 : CMIC_MULTI_CTRL,
    mdts: o.mdts,
    cntlid: ctrl.cntlid,
    ver: s.version,
    // The notices this controller sends: discovery log changes, or namespace attribute changes.
    oaes: disc ? AEC_DISCOVERY_CHANGE : AEC_NS_ATTR,
    ctratt: CTRATT_HOSTID128,
    cntrltype: disc ? 2 : 1,
    acl: 3,
    aerl: o.aerl,
    frmw: 0x03,
    lpa: LPA,
    elpe: ELPE,
    kas: KAS_100MS,
    sqes: disc ? 0 : 0x66,
    cqes: disc ? 0 : 0x44,
    maxcmd: o.mqes + 1,
    nn: s.nn,
    oncs: disc ? 0 : ONCS,
    vwc: disc || !o.volatileWriteCache ? 0 : VWC_PRESENT,
    sgls: SGLS,
    subnqn: s.nqn,
    ioccsz: disc ? 0 : (o.inCapsuleDataSize + 64) / 16,
    iorcsz: disc ? 0 : 1,
    icdoff: 0,
    msdbd: 1,
    dctype: disc ? 2 : 0,
  });
}

export function identifyNamespace(ns: Namespace): Buffer {
  return encodeIdentifyNamespace({
    nsze: ns.nlba,
    ncap: ns.nlba,
    nuse: ns.nlba,
    nmic: NMIC_SHARED,
    nsattr: ns.readOnly ? NSATTR_WRITE_PROTECTED : 0,
    dlfeat: DLFEAT,
    nguid: ns.nguid,
    eui64: ns.eui64,
    lbaf: [{ ms: 0, lbads: ns.lbaShift, rp: 0 }],
  });
}

function identify(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const id = parseIdentifySqe(cmd.sqe);
  const s = ctrl.subsys;
  if (id.cns === Cns.Controller) {
    sendBuf(cmd, identifyController(ctrl));
    return;
  }
  if (s.isDiscovery) {
    q.complete(cmd, STATUS_INVALID_FIELD);
    return;
  }
  switch (id.cns) {
    case Cns.Namespace:
    case Cns.IndepNamespace: {
      if (id.nsid === 0 || id.nsid > s.nn) {
        q.complete(cmd, STATUS_INVALID_NS);
        return;
      }
      const ns = s.namespaces.get(id.nsid);
      // An inactive NSID in range returns zeros (NCAP 0).
      if (ns === undefined) {
        sendBuf(cmd, Buffer.alloc(IDENTIFY_LEN));
        return;
      }
      if (id.cns === Cns.Namespace) {
        sendBuf(cmd, identifyNamespace(ns));
        return;
      }
      sendBuf(cmd, encodeIdentifyNsIndep({ nmic: NMIC_SHARED, nstat: NSTAT_READY }));
      return;
    }
    case Cns.ActiveNsList:
      if (id.nsid >= 0xffff_fffe) {
        q.complete(cmd, STATUS_INVALID_NS);
        return;
      }
      sendBuf(cmd, encodeActiveNsList(s.nsids, id.nsid));
      return;
    case Cns.NsDescList: {
      const ns = s.namespaces.get(id.nsid);
      if (ns === undefined) {
        q.complete(cmd, STATUS_INVALID_NS);
        return;
      }
      sendBuf(cmd, encodeNsDescList({ eui64: ns.eui64, nguid: ns.nguid, ...(ns.uuid ? { uuid: ns.uuid } : {}), csi: 0 }));
      return;
    }
    case Cns.CsiNamespace: {
      if (id.csi !== 0) {
        q.complete(cmd, STATUS_INVALID_FIELD);
        return;
      }
      if (!s.namespaces.has(id.nsid)) {
        q.complete(cmd, STATUS_INVALID_NS);
        return;
      }
      sendBuf(cmd, Buffer.alloc(IDENTIFY_LEN));
      return;
    }
    case Cns.CsiController:
      // NVM command set controller data: all zeros (no DMRL/DMRSL/WZSL limits).
      if (id.csi !== 0) {
        q.complete(cmd, STATUS_INVALID_FIELD);
        return;
      }
      sendBuf(cmd, Buffer.alloc(IDENTIFY_LEN));
      return;
    default:
      q.complete(cmd, STATUS_INVALID_FIELD);
      return;
  }
}

function getLogPage(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const lp = parseGetLogPage(cmd.sqe);
  let page: Buffer;
  if (lp.lid === LID_SUPPORTED_LOGS) {
    page = supportedLogs(ctrl.subsys.isDiscovery);
  } else if (ctrl.subsys.isDiscovery) {
    if (lp.lid !== LogId.Discovery) {
      q.complete(cmd, STATUS_INVALID_FIELD);
      return;
    }
    page = discoveryLogPage(ctrl);
    ctrl.discoveryLogRead(lp.rae);
  } else {
    switch (lp.lid) {
      case LogId.Error:
        page = errorLog();
        break;
      case LogId.Smart:
        page = smartLog(ctrl);
        break;
      case LogId.FwSlot:
        page = firmwareSlotLog(ctrl.ctx.opts.firmware);
        break;
      case LogId.CmdEffects:
        page = commandEffectsLog();
        break;
      case LogId.ChangedNsList:
        page = ctrl.changedNsLog(lp.rae);
        break;
      default:
        q.complete(cmd, makeStatus(1, ScCmd.InvalidLogPage, DNR));
        return;
    }
  }
  // Any (offset, length) window: an offset past the end is invalid, a window past
  // the end is zero-filled (up to the largest transfer).
  const len = Math.min(lp.len, cmd.sglLen);
  if (lp.offset % 4 !== 0 || lp.offset >= page.length || len > ctrl.ctx.opts.maxTransfer) {
    q.complete(cmd, STATUS_INVALID_FIELD);
    return;
  }
  const avail = page.length - lp.offset;
  if (len <= avail) {
    q.completeData(cmd, [page.subarray(lp.offset, lp.offset + len)], len);
    return;
  }
  const out = Buffer.alloc(len);
  page.copy(out, 0, lp.offset);
  q.completeData(cmd, [out], len);
}

function setFeatures(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const f = parseFeaturesSqe(cmd.sqe);
  const disc = ctrl.subsys.isDiscovery;
  switch (f.fid) {
    case FeatureId.AsyncEventConfig:
      ctrl.aec = f.dw11;
      q.complete(cmd, 0);
      return;
    case FeatureId.KeepAliveTimer:
      ctrl.kato = f.dw11;
      ctrl.startKeepAlive();
      q.complete(cmd, 0);
      return;
    case FeatureId.NumQueues: {
      if (disc) break;
      const nsqr = f.dw11 & 0xffff;
      const ncqr = f.dw11 >>> 16;
      if (nsqr === 0xffff || ncqr === 0xffff) {
        q.complete(cmd, STATUS_INVALID_FIELD);
        return;
      }
      const n = ctrl.numIoQueues - 1;
      q.complete(cmd, 0, (n | (n << 16)) >>> 0);
      return;
    }
    case FeatureId.TempThreshold:
      if (disc) break;
      ctrl.tempThreshold = f.dw11 & 0xffff;
      q.complete(cmd, 0);
      return;
    case FeatureId.VolatileWriteCache:
      // Without a volatile write cache (Identify VWC 0) there is nothing to switch.
      if (disc || !ctrl.ctx.opts.volatileWriteCache) break;
      ctrl.vwc = f.dw11 & 1;
      q.complete(cmd, 0);
      return;
  }
  q.complete(cmd, STATUS_INVALID_FIELD);
}

function getFeatures(ctrl: Controller, cmd: Cmd): void {
  const q = cmd.q;
  const f = parseFeaturesSqe(cmd.sqe);
  const disc = ctrl.subsys.isDiscovery;
  switch (f.fid) {
    case FeatureId.AsyncEventConfig:
      q.complete(cmd, 0, ctrl.aec);
      return;
    case FeatureId.KeepAliveTimer:
      q.complete(cmd, 0, ctrl.kato);
      return;
    case FeatureId.NumQueues: {
      if (disc) break;
      const n = ctrl.numIoQueues - 1;
      q.complete(cmd, 0, (n | (n << 16)) >>> 0);
      return;
    }
    case FeatureId.TempThreshold:
      if (disc) break;
      q.complete(cmd, 0, ctrl.tempThreshold);
      return;
    case FeatureId.VolatileWriteCache:
      if (disc) break;
      q.complete(cmd, 0, ctrl.vwc);
      return;
  }
  q.complete(cmd, STATUS_INVALID_FIELD);
}
