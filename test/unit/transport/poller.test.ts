// The busy poller counted in event-loop turns, not in milliseconds: one setImmediate
// awaited is one turn of the loop, and a spinning poller ticks exactly once per turn.
// Every test stops its poller in t.after, so a failed assertion cannot leave the loop
// spinning (and the test process running) forever.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { BusyPoller } from '../../../src/transport/poller.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

test('poller - spins once per loop turn while active, stops by itself, restarts on kick', async (t) => {
  let work = false;
  t.after(() => {
    work = false;
  });
  const p = new BusyPoller(() => work);
  p.kick();
  assert.equal(p.polling, false, 'no work: no polling');
  await turn();
  assert.equal(p.turns, 0);
  work = true;
  p.kick();
  p.kick(); // a second kick while running must not arm a second loop
  assert.equal(p.polling, true);
  for (let i = 0; i < 50; i++) await turn();
  assert.equal(p.turns, 50, 'one tick per loop turn');
  work = false;
  await turn();
  assert.equal(p.turns, 51, 'the tick that finds no work is the last');
  assert.equal(p.polling, false);
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(p.turns, 51, 'stopped: no more turns');
  work = true;
  p.kick();
  assert.equal(p.polling, true, 'restarted by a kick');
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(p.turns, 56);
});

test('poller - socket reads are still delivered while the loop spins', async (t) => {
  let stopped = false;
  let c: net.Socket | undefined;
  const server = net.createServer((s) => s.pipe(s));
  t.after(() => {
    stopped = true;
    c?.destroy();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let echoed = 0;
  const p = new BusyPoller(() => !stopped && echoed < 100);
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  c = sock;
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (d) => {
      echoed += d.length;
      if (echoed >= 100) resolve();
      else sock.write(Buffer.alloc(1));
    });
    sock.on('connect', () => {
      p.kick();
      sock.write(Buffer.alloc(1));
    });
  });
  assert.equal(echoed, 100);
  // One byte in flight at a time: every echo needs its own poll phase, and the poller
  // ticked in each of those turns (it was active from the first write to the last echo).
  assert.ok(p.turns >= 100, `${p.turns} turns`);
  await turn();
  assert.equal(p.polling, false, 'stops once the work is done');
});
