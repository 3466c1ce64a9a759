// Fabrics commands on the target: Connect (admin and I/O queues, dynamic
// controller model) and the dispatch of Property Get / Property Set.
//
// Connect errors follow the reference targets: RECFMT ≠ 0 → Incompatible Format;
// bad SQE or data fields → Connect Invalid Parameters (SCT 1, SC 0x82) with DW0 =
// IPO (byte offset, bits 15:0) | IATTR (bits 23:16: 0 SQE, 1 connect data); a host
// the subsystem does not allow, or an I/O queue whose HOSTNQN or HOSTID differs from
// its controller's → Connect Invalid Host (SC 0x84), DW0 naming the field. All with DNR.
import { CONNECT_DATA_LEN, FabricsType, NQN_DISCOVERY, Sc, ScCmd } from '../protocol/constants.ts';
import { CATTR_DISABLE_SQFLOW, ConnectDataOff, decodeConnectData, FabricsOff, parseConnectSqe, sqeFctype } from '../protocol/fabrics.ts';
import { makeStatus } from '../protocol/sqe.ts';
import type { Cmd, CmdQueue } from './cmd.ts';
import { Controller } from './controller.ts';

const DNR = true;
const IATTR_SQE = 0;
const IATTR_DATA = 1 << 16;

function invalidParam(cmd: Cmd, ipo: number, iattr: number): void {
  cmd.q.complete(cmd, makeStatus(1, ScCmd.ConnectInvalidParam, DNR), ipo | iattr);
}

/** Connect on a queue that is not connected yet. */
export function connectCommand(q: CmdQueue, cmd: Cmd): void {
  if (cmd.data === undefined) {
    // Connect data not in the capsule: fetch it with an R2T.
    if (cmd.sglLen !== CONNECT_DATA_LEN) {
      q.complete(cmd, makeStatus(0, Sc.SglInvalidDataLength, DNR));
      return;
    }
    q.requestData(cmd, CONNECT_DATA_LEN, connectWithData);
    return;
  }
  if (cmd.data.length !== CONNECT_DATA_LEN) {
    q.complete(cmd, makeStatus(0, Sc.SglInvalidDataLength, DNR));
    return;
  }
  connectWithData(cmd);
}

function connectWithData(cmd: Cmd): void {
  const q = cmd.q;
  const ctx = q.ctx;
  const c = parseConnectSqe(cmd.sqe);
  const d = decodeConnectData(cmd.data!);
  if (c.recfmt !== 0) {
    q.complete(cmd, makeStatus(1, ScCmd.ConnectIncompatibleFormat, DNR));
    return;
  }
  const sub = d.subnqn === NQN_DISCOVERY ? ctx.discovery : ctx.subsystem(d.subnqn);
  if (sub === undefined) {
    invalidParam(cmd, ConnectDataOff.SUBNQN, IATTR_DATA);
    return;
  }
  if (!sub.allowsHost(d.hostnqn)) {
    q.complete(cmd, makeStatus(1, ScCmd.ConnectInvalidHost, DNR), ConnectDataOff.HOSTNQN | IATTR_DATA);
    return;
  }
  // Over TLS the PSK identity named the host and the subsystem the key is for: a
  // Connect must not claim another host (or subsystem) than the key authenticated.
  const peer = q.tlsPeer;
  if (peer !== undefined && (peer.hostnqn !== d.hostnqn || peer.subnqn !== d.subnqn)) {
    const ipo = peer.hostnqn !== d.hostnqn ? ConnectDataOff.HOSTNQN : ConnectDataOff.SUBNQN;
    q.complete(cmd, makeStatus(1, ScCmd.ConnectInvalidHost, DNR), ipo | IATTR_DATA);
    return;
  }
  if (c.sqsize === 0 || c.sqsize > ctx.opts.mqes) {
    invalidParam(cmd, FabricsOff.SQSIZE, IATTR_SQE);
    return;
  }
  const sqFlowOff = (c.cattr & CATTR_DISABLE_SQFLOW) !== 0;
  if (c.qid === 0) {
    if (d.cntlid !== 0xffff) {
      invalidParam(cmd, ConnectDataOff.CNTLID, IATTR_DATA);
      return;
    }
    const ctrl = new Controller(ctx, sub, q, d.hostnqn, d.hostid, c.kato);
    q.installed(0, c.sqsize, sqFlowOff, ctrl);
    const cntlid = ctx.addController(ctrl);
    if (cntlid === 0) {
      q.ctrl = undefined;
      q.qid = -1;
      q.complete(cmd, makeStatus(1, ScCmd.ConnectControllerBusy));
      return;
    }
    ctrl.startKeepAlive();
    q.complete(cmd, 0, cntlid);
    return;
  }
  const ctrl = ctx.controller(d.cntlid);
  if (ctrl === undefined || ctrl.subsys !== sub) {
    invalidParam(cmd, ConnectDataOff.CNTLID, IATTR_DATA);
    return;
  }
  // The controller belongs to the host that created it: an I/O queue must name the
  // same HOSTNQN and HOSTID as that admin queue's Connect, or another host could
  // attach queues to it by guessing the (sequential) CNTLID. The host "is not allowed
  // to establish an association to the specified controller": Connect Invalid Host.
  if (ctrl.hostnqn !== d.hostnqn || !ctrl.hostid.equals(d.hostid)) {
    const ipo = ctrl.hostnqn !== d.hostnqn ? ConnectDataOff.HOSTNQN : ConnectDataOff.HOSTID;
    q.complete(cmd, makeStatus(1, ScCmd.ConnectInvalidHost, DNR), ipo | IATTR_DATA);
    return;
  }
  if (c.qid > ctrl.numIoQueues || ctrl.ioQueues.has(c.qid)) {
    invalidParam(cmd, FabricsOff.QID, IATTR_SQE);
    return;
  }
  if (!ctrl.ready) {
    q.complete(cmd, makeStatus(0, Sc.CmdSeqError, DNR));
    return;
  }
  ctrl.ioQueues.set(c.qid, q);
  q.installed(c.qid, c.sqsize, sqFlowOff, ctrl);
  q.complete(cmd, 0, ctrl.cntlid);
}

/** A fabrics command on a connected queue. */
export function fabricsCommand(q: CmdQueue, cmd: Cmd): void {
  const fctype = sqeFctype(cmd.sqe);
  if (fctype === FabricsType.Connect) {
    q.complete(cmd, makeStatus(0, Sc.CmdSeqError, DNR));
  } else if ((fctype === FabricsType.PropertyGet || fctype === FabricsType.PropertySet) && q.qid === 0) {
    q.ctrl!.propertyCommand(cmd);
  } else {
    q.complete(cmd, makeStatus(0, Sc.InvalidOpcode, DNR));
  }
}
