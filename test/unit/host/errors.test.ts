import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fes, IoOpc, OFF, Sc } from '../../../src/protocol/constants.ts';
import {
  ConnectionError,
  NegotiationError,
  NvmeStatusError,
  ProtocolError,
  TermReqError,
  TimeoutError,
} from '../../../src/protocol/errors.ts';
import { sqeCid, sqeOpc } from '../../../src/protocol/sqe.ts';
import { type ConnectOptions, MAX_RETRIES, NvmeController } from '../../../src/host/index.ts';
import { encodeCapsuleResp, encodeR2t } from '../../helpers/pdu-encode.ts';
import { FakeTarget, type FakeTargetOptions } from './fake-target.ts';

/** A controller without reconnect (ctrlLossTmoMs 0): these tests see each error as it is (host-recovery.test.ts has recovery). */
async function setup(o: FakeTargetOptions, c: Partial<ConnectOptions> = {}): Promise<{ t: FakeTarget; ctrl: NvmeController }> {
  const t = new FakeTarget(o);
  const port = await t.listen();
  const ctrl = await NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, ctrlLossTmoMs: 0, ...c });
  return { t, ctrl };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

test('host errors - a bad C2HData digest fails only that read with DATA_XFER_ERROR, after its retries', async () => {
  let corrupt = 1 + MAX_RETRIES;
  const { t, ctrl } = await setup(
    {
      c2hMaxData: 2048,
      hook: (c, sqe) => {
        if (c.qid > 0 && sqeOpc(sqe) === IoOpc.Read && corrupt-- > 0) {
          c.sendData(sqeCid(sqe), Buffer.alloc(4096, 7), { corruptDigest: true });
          return true;
        }
        return false;
      },
    },
    { ddgst: true },
  );
  try {
    const n = ctrl.namespace(1);
    await n.write(0, Buffer.alloc(4096, 0x42));
    const err = await rejection(n.read(0, 8));
    assert.ok(err instanceof NvmeStatusError);
    assert.equal(err.sct, 0);
    assert.equal(err.sc, Sc.DataXferError);
    assert.equal(err.dnr, false);
    // No DNR: sent 1 + MAX_RETRIES times, every one answered with a bad digest.
    assert.equal(t.count(IoOpc.Read), 1 + MAX_RETRIES);
    assert.equal(ctrl.recovery.retried, MAX_RETRIES);
    // The queue stays up: the next read on it succeeds.
    assert.deepEqual(await n.read(0, 8), Buffer.alloc(4096, 0x42));
    assert.equal(ctrl.ioQueueCount, 1);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host errors - C2HTermReq fails every outstanding command with TermReqError', async () => {
  let held = 0;
  const { t, ctrl } = await setup({
    hook: (c, sqe) => {
      if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
      if (++held === 3) c.sendTermReq(Fes.InvalidHeaderField, OFF.DATAO);
      return true; // never answered
    },
  });
  try {
    const n = ctrl.namespace(1);
    const errs = await Promise.all([rejection(n.read(0, 1)), rejection(n.read(1, 1)), rejection(n.read(2, 1))]);
    for (const e of errs) {
      assert.ok(e instanceof TermReqError);
      assert.equal(e.fes, Fes.InvalidHeaderField);
      assert.equal(e.fei, OFF.DATAO);
    }
    const after = await rejection(n.read(0, 1));
    assert.ok(after instanceof ConnectionError);
    assert.equal(t.termReqs.length, 0); // the host does not answer a TermReq with one
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host errors - a command timeout fails it with TimeoutError and tears its queue down', async () => {
  const { t, ctrl } = await setup({ hook: (c, sqe) => c.qid > 0 && sqeOpc(sqe) === IoOpc.Read }, { ioTimeoutMs: 120, kato: 0 });
  try {
    const n = ctrl.namespace(1);
    const a = rejection(n.read(0, 1));
    const b = rejection(n.read(1, 1));
    const ea = await a;
    const eb = await b;
    const timedOut = [ea, eb].filter((e) => e instanceof TimeoutError);
    const dropped = [ea, eb].filter((e) => e instanceof ConnectionError);
    assert.equal(timedOut.length, 1);
    assert.equal((timedOut[0] as TimeoutError).kind, 'io');
    assert.equal(dropped.length, 1);
    assert.ok((await rejection(n.write(0, Buffer.alloc(512)))) instanceof ConnectionError);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host errors - the target closing the connection fails outstanding commands with ConnectionError', async () => {
  const { t, ctrl } = await setup({
    hook: (c, sqe) => {
      if (c.qid > 0 && sqeOpc(sqe) === IoOpc.Read) {
        c.socket.destroy();
        return true;
      }
      return false;
    },
  });
  try {
    const e = await rejection(ctrl.namespace(1).read(0, 4));
    assert.ok(e instanceof ConnectionError);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

const BAD_R2TS: {
  name: string;
  opc: number;
  r2t: (cid: number, len: number) => { r2to: number; r2tl: number }[];
  fes: number;
  fei: number;
}[] = [
  { name: 'R2TL 0', opc: IoOpc.Write, r2t: () => [{ r2to: 0, r2tl: 0 }], fes: Fes.InvalidHeaderField, fei: OFF.R2TL },
  { name: 'beyond the data', opc: IoOpc.Write, r2t: (_c, len) => [{ r2to: 512, r2tl: len }], fes: Fes.DataOutOfRange, fei: OFF.R2TL },
  {
    name: 'overlapping',
    opc: IoOpc.Write,
    r2t: (_c, len) => [
      { r2to: 0, r2tl: len / 2 },
      { r2to: 0, r2tl: len / 2 },
    ],
    fes: Fes.InvalidHeaderField,
    fei: OFF.R2TO,
  },
  { name: 'for a read', opc: IoOpc.Read, r2t: () => [{ r2to: 0, r2tl: 512 }], fes: Fes.InvalidHeaderField, fei: OFF.CCCID },
];

for (const bad of BAD_R2TS) {
  test(`host errors - R2T ${bad.name} is a protocol error (H2CTermReq FES ${bad.fes})`, async () => {
    const { t, ctrl } = await setup(
      {
        icdSize: 1024,
        hook: (c, sqe) => {
          if (c.qid === 0 || sqeOpc(sqe) !== bad.opc) return false;
          c.expectWrite(sqe, 16384);
          for (const r of bad.r2t(sqeCid(sqe), 16384)) c.send(encodeR2t({ cccid: sqeCid(sqe), ttag: 1, ...r }, c.hdgst));
          return true;
        },
      },
      { hdgst: true },
    );
    try {
      const n = ctrl.namespace(1);
      const e = await rejection(bad.opc === IoOpc.Write ? n.write(0, Buffer.alloc(16384)) : n.read(0, 32));
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.fes, bad.fes);
      assert.equal(e.fei, bad.fei);
      await t.until(() => t.termReqs.length > 0);
      assert.deepEqual(t.termReqs, [[bad.fes, bad.fei]]);
    } finally {
      await ctrl.disconnect();
      await t.close();
    }
  });
}

test('host errors - CapsuleResp for an unknown CID and short data-in are protocol errors', async () => {
  for (const mode of ['unknown-cid', 'short'] as const) {
    const { t, ctrl } = await setup({
      hook: (c, sqe) => {
        if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
        const cid = mode === 'unknown-cid' ? sqeCid(sqe) + 77 : sqeCid(sqe);
        if (mode === 'short') c.sendData(cid, Buffer.alloc(512));
        else c.send(encodeCapsuleResp({ cid, status: 0 }, c.hdgst));
        return true;
      },
    });
    try {
      const e = await rejection(ctrl.namespace(1).read(0, 2));
      assert.ok(e instanceof ProtocolError, mode);
      assert.equal(e.fes, mode === 'short' ? Fes.PduSequenceError : Fes.InvalidHeaderField);
    } finally {
      await ctrl.disconnect();
      await t.close();
    }
  }
});

const BAD_ICRESPS: { name: string; icresp: FakeTargetOptions['icresp']; ddgst?: boolean }[] = [
  { name: 'digest bits differ', icresp: { dgst: 1 } },
  { name: 'digest bits dropped', icresp: { dgst: 0 }, ddgst: true },
  { name: 'CPDA not 0', icresp: { cpda: 1 } },
  { name: 'MAXH2CDATA below 4096', icresp: { maxh2cdata: 2048 } },
  { name: 'MAXH2CDATA not a multiple of 4', icresp: { maxh2cdata: 8190 } },
  { name: 'PFV not 0', icresp: { pfv: 1 } },
];

for (const b of BAD_ICRESPS) {
  test(`host errors - ICResp with ${b.name} fails the connect with NegotiationError`, async () => {
    const t = new FakeTarget({ icresp: b.icresp });
    const port = await t.listen();
    try {
      const e = await rejection(NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn, ddgst: b.ddgst }));
      assert.ok(e instanceof NegotiationError, String(e));
      assert.equal(t.seen.length, 0);
    } finally {
      await t.close();
    }
  });
}

test('host errors - connecting to a port with no listener is a ConnectionError', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  await t.close();
  const e = await rejection(NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: 'nqn.x' }));
  assert.ok(e instanceof ConnectionError);
});

test('host errors - a refused Connect is an NvmeStatusError', async () => {
  const t = new FakeTarget();
  const port = await t.listen();
  try {
    const e = await rejection(NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: 'nqn.2024-01.io.other' }));
    assert.ok(e instanceof NvmeStatusError);
    assert.deepEqual([e.sct, e.sc, e.qid], [1, 0x84, 0]);
  } finally {
    await t.close();
  }
});

test('host errors - a header digest error ends the queue with ProtocolError FES 3 and an H2CTermReq', async () => {
  const { t, ctrl } = await setup(
    {
      hook: (c, sqe) => {
        if (c.qid === 0 || sqeOpc(sqe) !== IoOpc.Read) return false;
        const resp = encodeCapsuleResp({ cid: sqeCid(sqe), status: 0 }, true);
        resp[resp.length - 1] ^= 0xff; // corrupt the HDGST
        c.send(resp);
        return true;
      },
    },
    { hdgst: true },
  );
  try {
    const e = await rejection(ctrl.namespace(1).read(0, 1));
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.fes, Fes.HeaderDigestError);
    await t.until(() => t.termReqs.length > 0);
    assert.deepEqual(t.termReqs, [[Fes.HeaderDigestError, 0]]);
  } finally {
    await ctrl.disconnect();
    await t.close();
  }
});

test('host errors - a Connect response asking for authentication fails the connect', async () => {
  const t = new FakeTarget({
    hook: (c, sqe) => {
      if (sqeOpc(sqe) !== 0x7f || sqe[4] !== 0x01) return false;
      c.respond(sqeCid(sqe), 0, 1 | (1 << 17));
      return true;
    },
  });
  const port = await t.listen();
  try {
    const e = await rejection(NvmeController.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: t.subnqn }));
    assert.ok(e instanceof NegotiationError);
    assert.match(e.message, /authentication/);
  } finally {
    await t.close();
  }
});
