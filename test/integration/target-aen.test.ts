// Asynchronous events of an NVM controller: namespaces added, resized and removed on
// a running target raise Namespace Attribute Changed (AEN DW0 00040002h) on every
// controller of the subsystem that enabled it (feature 0Bh bit 8), list the NSID in
// the Changed Namespace List (log page 04h), and stay masked until that log is read
// without RAE.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildAerSqe, buildGetLogPageSqe, buildKeepAliveSqe, buildSetFeaturesSqe } from '../../src/protocol/admin.ts';
import { FeatureId, LogId, PduType } from '../../src/protocol/constants.ts';
import { InvalidArgumentError } from '../../src/protocol/errors.ts';
import { parseActiveNsList, parseIdentifyController, parseIdentifyNamespace } from '../../src/protocol/identify.ts';
import { parseCqe } from '../../src/protocol/sqe.ts';
import { NvmeTarget } from '../../src/target/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const NQN = 'nqn.2024-01.io.nvmeotcp:aen';
const OTHER = 'nqn.2024-01.io.nvmeotcp:aen-other';
const AEN_NS_CHANGED = 0x0004_0002;
const MiB = 1 << 20;

type T = { after(fn: () => unknown): void };

async function target(t: T): Promise<{ tgt: NvmeTarget; port: number }> {
  const tgt = new NvmeTarget({
    subsystems: [
      { nqn: NQN, namespaces: [{ backend: { kind: 'ram', size: MiB } }] },
      { nqn: OTHER, namespaces: [{ backend: { kind: 'ram', size: MiB } }] },
    ],
  });
  const { port } = await tgt.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => tgt.close());
  return { tgt, port };
}

/** An enabled admin queue (KATO far beyond the test) and its AEC set to `aec`. */
async function admin(t: T, port: number, aec: number, nqn = NQN): Promise<RawClient> {
  const a = await RawClient.open(port);
  t.after(() => a.close());
  await a.adminConnect(nqn, { kato: 3_600_000 });
  const r = await a.exchange(buildSetFeaturesSqe({ cid: a.cid(), fid: FeatureId.AsyncEventConfig, dw11: aec }));
  assert.equal(r.cqe!.status, 0);
  return a;
}

/** An AER is outstanding on `a` with this CID. */
const AER_CID = 0x1f;

/** Answers nothing but the AER on `a`: a Keep Alive's answer must be the next PDU (no AEN before it). */
async function noAen(a: RawClient): Promise<void> {
  const ka = await a.exchange(buildKeepAliveSqe(a.cid()));
  assert.equal(ka.cqe!.status, 0);
}

async function nextAen(a: RawClient): Promise<number> {
  const p = await a.nextPdu();
  assert.equal(p?.hdr.type, PduType.CapsuleResp);
  const cqe = parseCqe((p!.hdr as { cqe: Buffer }).cqe);
  assert.equal(cqe.cid, AER_CID);
  assert.equal(cqe.status, 0);
  return cqe.dw0;
}

async function changedNs(a: RawClient, rae: boolean): Promise<number[]> {
  const r = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), nsid: 0xffff_ffff, lid: LogId.ChangedNsList, len: 4096, rae }));
  assert.equal(r.cqe!.status, 0);
  assert.equal(r.data.length, 4096);
  return parseActiveNsList(r.data);
}

test('target AEN - OAES announces namespace attribute notices; log page 04h is listed as supported', async (t) => {
  const { port } = await target(t);
  const a = await admin(t, port, 0);
  const id = parseIdentifyController((await a.identify(1)).data);
  assert.equal(id.oaes, 0x100);
  const sup = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), lid: 0, len: 1024 }));
  assert.equal(sup.data.readUInt32LE(LogId.ChangedNsList * 4), 1);
  assert.deepEqual(await changedNs(a, false), []);
});

test('target AEN - addNamespace: an AEN to each controller of the subsystem that enabled it, none elsewhere; the new namespace is active', async (t) => {
  const { tgt, port } = await target(t);
  const on1 = await admin(t, port, 0x100);
  const on2 = await admin(t, port, 0x100);
  const off = await admin(t, port, 0);
  const other = await admin(t, port, 0x100, OTHER);
  for (const c of [on1, on2, off, other]) c.send(...c.capsule(buildAerSqe(AER_CID)));
  const nsid = await tgt.addNamespace(NQN, { backend: { kind: 'ram', size: 2 * MiB }, lbaSize: 4096 });
  assert.equal(nsid, 2);
  assert.equal(await nextAen(on1), AEN_NS_CHANGED);
  assert.equal(await nextAen(on2), AEN_NS_CHANGED);
  await noAen(off);
  await noAen(other);
  // The controller that did not enable the notice still lists the change.
  assert.deepEqual(await changedNs(off, false), [2]);
  assert.deepEqual(await changedNs(other, false), []);
  assert.deepEqual(parseActiveNsList((await on1.identify(2, 0)).data), [1, 2]);
  assert.equal(parseIdentifyController((await on1.identify(1)).data).nn, 2);
  const ns = parseIdentifyNamespace((await on1.identify(0, 2)).data);
  assert.equal(ns.nsze, (2 * MiB) / 4096);
  assert.deepEqual(await changedNs(on1, false), [2]);
  // Read once: the list is empty again.
  assert.deepEqual(await changedNs(on1, false), []);
});

test('target AEN - masked until log page 04h is read without RAE; the list gathers every change meanwhile', async (t) => {
  const { tgt, port } = await target(t);
  const a = await admin(t, port, 0x100);
  a.send(...a.capsule(buildAerSqe(AER_CID)));
  await tgt.resizeNamespace(NQN, 1, 2 * MiB);
  assert.equal(await nextAen(a), AEN_NS_CHANGED);
  a.send(...a.capsule(buildAerSqe(AER_CID)));
  await tgt.addNamespace(NQN, { nsid: 7, backend: { kind: 'ram', size: MiB } });
  await noAen(a);
  // RAE = 1: the list is read (and cleared) but the notice stays masked.
  assert.deepEqual(await changedNs(a, true), [1, 7]);
  await tgt.addNamespace(NQN, { nsid: 3, backend: { kind: 'ram', size: MiB } });
  await noAen(a);
  assert.deepEqual(await changedNs(a, false), [3]);
  // Unmasked: the next change completes the AER still outstanding.
  await tgt.removeNamespace(NQN, 7);
  assert.equal(await nextAen(a), AEN_NS_CHANGED);
  assert.deepEqual(await changedNs(a, false), [7]);
  assert.deepEqual(parseActiveNsList((await a.identify(2, 0)).data), [1, 3]);
});

test('target AEN - more than 1024 changed namespaces: the log holds FFFFFFFFh and zeros', async (t) => {
  const { tgt, port } = await target(t);
  const a = await admin(t, port, 0);
  for (let i = 0; i < 1025; i++) await tgt.addNamespace(NQN, { backend: { kind: 'ram', size: 512 } });
  const r = await a.exchange(buildGetLogPageSqe({ cid: a.cid(), nsid: 0xffff_ffff, lid: LogId.ChangedNsList, len: 4096 }));
  assert.equal(r.data.readUInt32LE(0), 0xffff_ffff);
  assert.deepEqual(r.data.subarray(4), Buffer.alloc(4092));
  assert.deepEqual(await changedNs(a, false), []);
});

test('target resize - a RAM namespace grows (old data kept, new blocks zero) and shrinks (beyond the end: LBA Out of Range)', async (t) => {
  const { tgt, port } = await target(t);
  const a = await admin(t, port, 0);
  const io = await RawClient.open(port);
  t.after(() => io.close());
  assert.equal(
    (await io.connectQueue({ qid: 1, subnqn: NQN, cntlid: parseIdentifyController((await a.identify(1)).data).cntlid })).status,
    0,
  );
  // The last 512 bytes of the 1 MiB namespace, then grow to 1.5 MiB + 512.
  const tail = Buffer.alloc(512, 0x5a);
  assert.equal((await io.write(1, 2047, tail, 512, true)).cqe!.status, 0);
  assert.equal((await io.read(1, 2048, 1, 512)).cqe!.status, 0x4080);
  await tgt.resizeNamespace(NQN, 1, 3 * (MiB / 2) + 512);
  assert.equal(parseIdentifyNamespace((await a.identify(0, 1)).data).nsze, 3073);
  assert.deepEqual((await io.read(1, 2047, 1, 512)).data, tail);
  assert.deepEqual((await io.read(1, 2048, 256, 512)).data, Buffer.alloc(256 * 512));
  assert.deepEqual((await io.read(1, 2817, 256, 512)).data, Buffer.alloc(256 * 512));
  assert.equal((await io.write(1, 3072, tail, 512, true)).cqe!.status, 0);
  // Shrink below the written tail, then grow back: what was cut off reads as zeros.
  await tgt.resizeNamespace(NQN, 1, MiB / 2 + 100);
  assert.equal(parseIdentifyNamespace((await a.identify(0, 1)).data).nsze, 1024);
  assert.equal((await io.read(1, 1024, 1, 512)).cqe!.status, 0x4080);
  await tgt.resizeNamespace(NQN, 1, 2 * MiB);
  assert.deepEqual((await io.read(1, 2047, 1, 512)).data, Buffer.alloc(512));
  assert.deepEqual((await io.read(1, 3072, 1, 512)).data, Buffer.alloc(512));
  // A removed namespace: Invalid Namespace.
  await tgt.removeNamespace(NQN, 1);
  assert.equal((await io.read(1, 0, 1, 512)).cqe!.status, 0x400b);
});

test('target resize - a file namespace: the file follows the size, data before the cut stays', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmeotcp-aen-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ns.img');
  const { tgt } = await target(t);
  const nsid = await tgt.addNamespace(NQN, { backend: { kind: 'file', path, size: MiB } });
  assert.equal(statSync(path).size, MiB);
  await tgt.resizeNamespace(NQN, nsid, 4 * MiB + 1000);
  assert.equal(statSync(path).size, 4 * MiB + 512);
  assert.deepEqual(await tgt.namespaceBytes(NQN, nsid, 4 * MiB, 512), Buffer.alloc(512));
  await tgt.resizeNamespace(NQN, nsid, 4096);
  assert.equal(statSync(path).size, 4096);
});

test('target namespaces at run time - bad requests are one-line InvalidArgumentErrors', async (t) => {
  const { tgt } = await target(t);
  await assert.rejects(tgt.addNamespace('nqn.none', { backend: { kind: 'ram', size: MiB } }), InvalidArgumentError);
  await assert.rejects(tgt.addNamespace(NQN, { nsid: 1, backend: { kind: 'ram', size: MiB } }), /duplicate nsid 1/);
  await assert.rejects(tgt.addNamespace(NQN, { backend: { kind: 'ram', size: 100 } }), InvalidArgumentError);
  await assert.rejects(tgt.resizeNamespace(NQN, 9, MiB), /no namespace 9/);
  await assert.rejects(tgt.resizeNamespace(NQN, 1, 0), /size 0 must be/);
  await assert.rejects(tgt.resizeNamespace(NQN, 1, 2 ** 40), InvalidArgumentError);
  await assert.rejects(tgt.removeNamespace(NQN, 9), /no namespace 9/);
  await assert.rejects(tgt.addNamespace(NQN, { backend: { kind: 'file', path: '/nonexistent-dir/x.img', size: MiB } }), /cannot open/);
  assert.deepEqual(await tgt.namespaceBytes(NQN, 1, 0, 4), Buffer.alloc(4));
});
