import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { BusyPoller } from '../../../src/transport/poller.ts';

test('poller - spins only while active, stops by itself, restarts on kick', async () => {
  let work = false;
  const p = new BusyPoller(() => work);
  p.kick();
  assert.equal(p.polling, false, 'no work: no polling');
  work = true;
  p.kick();
  p.kick();
  assert.equal(p.polling, true);
  await new Promise((r) => setTimeout(r, 20));
  const spun = p.turns;
  assert.ok(spun > 20, `${spun} turns in 20 ms`);
  work = false;
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(p.polling, false);
  const after = p.turns;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(p.turns, after, 'stopped: no more turns');
});

test('poller - socket reads are still delivered while the loop spins', async () => {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let echoed = 0;
  const p = new BusyPoller(() => echoed < 100);
  const c = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve) => {
    c.on('data', (d) => {
      echoed += d.length;
      if (echoed >= 100) resolve();
      else c.write(Buffer.alloc(1));
    });
    c.on('connect', () => {
      p.kick();
      c.write(Buffer.alloc(1));
    });
  });
  assert.equal(echoed, 100);
  assert.ok(p.turns >= 100, `${p.turns} turns`);
  c.destroy();
  await new Promise((r) => server.close(r));
});
