// Fabrics commands on the target: Connect (admin and I/O queues, dynamic
// controller model) and the dispatch of Property Get / Property Set.
//
// Connect errors follow the reference targets: RECFMT ≠ 0 → Incompatible Format;
// bad SQE or data fields → Connect Invalid Parameters (SCT 1, SC 0x82) with DW0 =
// IPO (byte offset, bits 15:0) | IATTR (bits 23:16: 0 SQE, 1 connect data); a host
// the subsystem does not allow, or an I/O queue whose HOSTNQN or HOSTID differs from
// its controller's → Connect Invalid Host (SC 0x84), DW0 naming the field. All with DNR.
// A host with a dhchap_key gets AUTHREQ.ATR in the Connect result on every queue and
// must authenticate that queue (Authentication Send / Receive, target/auth.ts) before
// anything else; the discovery subsystem does not ask for it.
import { AUTHREQ_ATR, isAuthFctype, parseAuthSqe, SECP_DHCHAP, SPSP_DHCHAP } from '../protocol/auth.ts';
import { CONNECT_DATA_LEN, FabricsType, NQN_DISCOVERY, Sc, ScCmd } from '../protocol/constants.ts';
import { CATTR_DISABLE_SQFLOW, ConnectDataOff, decodeConnectData, FabricsOff, parseConnectSqe, sqeFctype } from '../protocol/fabrics.ts';
import { makeStatus } from '../protocol/sqe.ts';
import { AUTH_MAX_FAILURES, AUTH_MAX_LEN, QueueAuth } from './auth.ts';
import type { Cmd, CmdQueue } from './cmd.ts';
import { Controller } from './controller.ts';
import type { Subsystem } from './subsystem.ts';
import { linked } from './port.ts';

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
  // A subsystem not linked to this port is not there for this connection (nvmet: "connect
  // request for invalid subsystem"), exactly as one that does not exist.
  if (sub === undefined || (!sub.isDiscovery && !linked(q.port, sub.nqn))) {
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
    q.complete(cmd, 0, cntlid | requireAuth(q, sub, d.hostnqn));
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
  q.complete(cmd, 0, ctrl.cntlid | requireAuth(q, sub, d.hostnqn));
}

/** Sets up the queue's authentication when the host has a secret; the AUTHREQ bits for the Connect result. */
function requireAuth(q: CmdQueue, sub: Subsystem, hostnqn: string): number {
  const cfg = sub.isDiscovery ? undefined : q.ctx.opts.hostAuth.get(hostnqn);
  if (cfg === undefined) return 0;
  q.auth = new QueueAuth(cfg, hostnqn, sub.nqn);
  return AUTHREQ_ATR;
}

/** A fabrics command on a connected queue. */
export function fabricsCommand(q: CmdQueue, cmd: Cmd): void {
  const fctype = sqeFctype(cmd.sqe);
  if (fctype === FabricsType.Connect) {
    q.complete(cmd, makeStatus(0, Sc.CmdSeqError, DNR));
  } else if (isAuthFctype(fctype)) {
    authCommand(q, cmd, fctype === FabricsType.AuthSend);
  } else if ((fctype === FabricsType.PropertyGet || fctype === FabricsType.PropertySet) && q.qid === 0) {
    q.ctrl!.propertyCommand(cmd);
  } else {
    q.complete(cmd, makeStatus(0, Sc.InvalidOpcode, DNR));
  }
}

/** Authentication Send / Receive (Linux nvmet_execute_auth_send / _receive checks). */
function authCommand(q: CmdQueue, cmd: Cmd, send: boolean): void {
  const auth = q.auth;
  if (auth === undefined) {
    // This host has no secret configured: there is nothing to authenticate.
    q.complete(cmd, makeStatus(0, Sc.InvalidOpcode, DNR));
    return;
  }
  const f = parseAuthSqe(cmd.sqe);
  if (f.secp !== SECP_DHCHAP || f.spsp0 !== SPSP_DHCHAP || f.spsp1 !== SPSP_DHCHAP || f.len === 0 || f.len > AUTH_MAX_LEN) {
    q.complete(cmd, makeStatus(0, Sc.InvalidField, DNR));
    return;
  }
  if (cmd.sglLen !== f.len || (!send && cmd.data !== undefined)) {
    q.complete(cmd, makeStatus(0, Sc.SglInvalidDataLength, DNR));
    return;
  }
  if (send) {
    if (cmd.data === undefined) q.requestData(cmd, f.len, authSendData);
    else authSendData(cmd);
    return;
  }
  const msg = auth.receive(f.len);
  q.takeData(cmd, f.len, (c) => {
    // The host's buffer is AL bytes: the message, then zeros.
    const out = c.data!;
    out.fill(0);
    msg.copy(out);
    c.q.completeData(c, [out], out.length);
  });
}

function authSendData(cmd: Cmd): void {
  const q = cmd.q;
  const auth = q.auth!;
  // A host that keeps failing is guessing: after a few failed transactions the connection goes.
  if (auth.failures >= AUTH_MAX_FAILURES) {
    q.close();
    return;
  }
  auth.send(cmd.data!);
  q.complete(cmd, 0);
}
