// The socket device on a real socket: a raw 127.0.0.1 server writes C2HData PDUs
// (built with src/protocol/pdu.ts) and the kernel copies them straight into the
// registered buffers through Node's onread buffer generator. Whatever sizes the
// kernel's reads come in, the counters are those of a packet device fed the same
// bytes cut at the same MSS (the socket device's model of the link).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { createSocketDevice, type SocketPlacement } from '../../../src/offload/socket-device.ts';
import { onreadFor, type RxPlacement } from '../../../src/transport/reader.ts';
import type { StatsSnapshot } from '../../../src/stats/registry.ts';
import { c2hPdus, type Digests, MiniHost, packetDeviceRun, pattern, type ReadSpec } from './harness.ts';

interface Run {
  host: MiniHost;
  stats: ReturnType<ReturnType<typeof createSocketDevice>['getStats']>;
  /** Global counters and sums after the queue was removed. */
  counters: Pick<StatsSnapshot, 'global' | 'sum'>;
  placedReads: number;
  placedBytes: number;
  /** Staging buffers handed out while a command was registered: stream position and length. */
  staged: { at: number; len: number }[];
}

/** Serves `specs` as one C2H stream to the first client, reads it with the socket device; `t` cleans up. */
async function run(t: TestContext, d: Digests, specs: ReadSpec[]): Promise<Run> {
  const wire = Buffer.concat(c2hPdus(specs, d).map((p) => p.bytes));
  const server = createServer((s: Socket) => {
    // Many writes of uneven size, as a target's writev batches would arrive.
    for (let off = 0; off < wire.length; off += 10007) s.write(wire.subarray(off, off + 10007));
    s.end();
  });
  let sock: Socket | undefined;
  t.after(() => {
    sock?.destroy();
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dev = createSocketDevice({ channels: 2 });
  const host = new MiniHost(d);
  const inner = dev.rxPlacement(host.rx) as SocketPlacement;
  const r: Run = { host, stats: dev.getStats(), counters: dev.snapshot(), placedReads: 0, placedBytes: 0, staged: [] };
  let pos = 0;
  const p: RxPlacement = {
    nextBuffer: () => {
      const b = inner.nextBuffer();
      if (b.buffer === inner.staging.buffer && host.offloaded.size > 0) r.staged.push({ at: pos, len: b.length });
      return b;
    },
    onRead: (n, b) => {
      pos += n;
      if (b.buffer !== inner.staging.buffer) {
        r.placedReads++;
        r.placedBytes += n;
      }
      inner.onRead(n, b);
    },
  };
  sock = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, onread: onreadFor(p) });
  // As the host does: the socket (and its placement) first, sk_add after the handshake, then setup per READ.
  const q = dev.addQueue(
    { pfv: 0, cpda: 0, dgst: (d.hdgst ? 1 : 0) | (d.ddgst ? 2 : 0), queueSize: 32, queueId: 1, ioCpu: 1 },
    host,
    host.rx,
  );
  assert.ok(typeof q !== 'number');
  host.q = q;
  for (const s of specs) assert.equal(host.read(s.cid, s.data.length, true), 0);
  await once(sock, 'end');
  sock.destroy();
  server.close();
  await once(server, 'close');
  await new Promise((res) => setImmediate(res));
  q.remove();
  r.stats = dev.getStats();
  const snap = dev.snapshot();
  r.counters = { global: snap.global, sum: snap.sum };
  return r;
}

const specs = (n: number, size: number, extra: Partial<ReadSpec> = {}): ReadSpec[] =>
  Array.from({ length: n }, (_, cid) => ({ cid, data: pattern(size, 100 + cid), maxPdu: 65536, ...extra }));

for (const d of [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: true },
]) {
  test(`socket device live - 127.0.0.1 C2HData placed straight into the buffers (${d.ddgst ? 'digests' : 'no digests'})`, async (t) => {
    const N = 6;
    const S = 160 * 1024;
    const sp = specs(N, S);
    const r = await run(t, d, sp);
    for (const s of sp) assert.ok(r.host.bufs.get(s.cid)!.equals(s.data), `cid ${s.cid} byte-identical`);
    assert.deepEqual(r.host.completed, [0, 1, 2, 3, 4, 5]);
    assert.equal(r.host.dataDone.length, N * 3);
    for (const x of r.host.dataDone) assert.deepEqual([x.ok, x.byDevice], [true, d.ddgst]);
    assert.deepEqual(r.host.errors, []);
    assert.equal(r.stats.rx_nvmeotcp_ddp_setup, N);
    assert.equal(r.stats.rx_nvmeotcp_ddp_teardown, N);
    assert.equal(r.placedBytes, r.stats.rx_nvmeotcp_bytes);
    assert.equal(r.stats.rx_nvmeotcp_sk_add, 1);
    assert.equal(r.stats.rx_nvmeotcp_sk_del, 1);
    // The invariant: all ten counters and the flow totals equal the packet device's.
    const ref = await packetDeviceRun(sp, d, 1448);
    assert.deepEqual(r.counters, ref);
    // 6 READs of 160 KiB in PDUs of 64, 64 and 32 KiB: all placed but the starts of
    // PDUs that begin in a segment the PDU before took (at most one MSS each).
    const hdr = 24 + (d.hdgst ? 4 : 0);
    const stream = 18 * (hdr + (d.ddgst ? 4 : 0)) + N * S + N * hdr;
    assert.equal(ref.sum.rx_bytes, stream);
    assert.equal(ref.sum.rx_packets, Math.ceil(stream / 1448));
    assert.ok(r.stats.rx_nvmeotcp_bytes > N * S - 18 * 1448 && r.stats.rx_nvmeotcp_bytes < N * S);
    // Staging reads are bounded: at most a DDGST, the CapsuleResp and the next header
    // (24 + HDGST each); or they run to the end of a segment whose placement another
    // PDU took (mlx5), never further.
    const bound = (d.ddgst ? 4 : 0) + 2 * (24 + (d.hdgst ? 4 : 0));
    for (const x of r.staged) {
      assert.ok(x.len <= bound || ((x.at + x.len) % 1448 === 0 && x.len < bound + 1448), `staging read of ${x.len} at ${x.at}`);
    }
    assert.ok(
      r.staged.some((x) => x.len > bound),
      'some header read took the rest of a segment',
    );
  });
}

test('socket device live - a corrupted payload is caught (ddgstOk false), the rest verifies', async (t) => {
  const sp = specs(2, 100000);
  sp[1].corruptAt = 70000;
  const r = await run(t, { hdgst: true, ddgst: true }, sp);
  assert.deepEqual(
    r.host.dataDone.map((x) => [x.cid, x.datao, x.ok, x.byDevice]),
    [
      [0, 0, true, true],
      [0, 65536, true, true],
      [1, 0, true, true],
      [1, 65536, false, true],
    ],
  );
  assert.deepEqual(r.counters, await packetDeviceRun(sp, { hdgst: true, ddgst: true }, 1448));
});
