import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NvmeStatusError, NvmeTcpError, ProtocolError } from '../../../src/protocol/errors.ts';
import { makeStatus, STATUS_MORE } from '../../../src/protocol/sqe.ts';

test('NvmeStatusError - SCT, SC, DNR and More from the status word (Linux form: wire status >> 1)', () => {
  // SCT 1 (command specific), SC 0x80, DNR and More set: 0x6180 (0xc300 on the wire).
  const e = new NvmeStatusError(makeStatus(1, 0x80, true) | STATUS_MORE, 0x1a, 2, 'write');
  assert.deepEqual([e.sct, e.sc, e.dnr, e.more, e.retriable, e.cid, e.qid], [1, 0x80, true, true, false, 0x1a, 2]);
  assert.equal(e.status, 0x6180);
  assert.equal(e.message, 'queue 2 cid 0x1a: write failed with status 0x6180 (SCT 1, SC 0x80, DNR)');
  const again = new NvmeStatusError(makeStatus(0, 0x04), 1, 1);
  assert.deepEqual([again.dnr, again.more, again.retriable], [false, false, true]);
  assert.doesNotMatch(again.message, /DNR/);
});

test('errors - a stable code and the class name on every error', () => {
  const p = new ProtocolError('bad PLEN 7', 2, 4, 4);
  assert.ok(p instanceof NvmeTcpError);
  assert.deepEqual([p.name, p.code, p.fes, p.fei, p.pduType], ['ProtocolError', 'NVMEOTCP_ERR_PROTOCOL', 2, 4, 4]);
  const s = new NvmeStatusError(2, 1, 0);
  assert.deepEqual([s.name, s.code], ['NvmeStatusError', 'NVMEOTCP_ERR_STATUS']);
});
