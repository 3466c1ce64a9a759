// Raw-socket baselines measured in the same run as the NVMe/TCP numbers:
//  - stream: one TCP stream from a peer process, read into one reused buffer with
//    `onread` (the ceiling for large reads);
//  - ping-pong: QD requests of 72 bytes answered by 24-byte responses (the messaging
//    ceiling for small I/O: an NVMe command capsule and its completion).
import net from 'node:net';
import { allocIoBuffer } from '../src/transport/reader.ts';
import { cpuSince, spawnPeer } from './proc.ts';

export interface StreamResult {
  mbps: number;
  hostCpuPerGB: number;
  peerCpuPerGB: number;
}

export async function rawStream(chunk: number, seconds: number, cpus?: [number, number]): Promise<StreamResult> {
  const peer = await spawnPeer('raw-peer.ts', ['stream', String(chunk)], cpus?.[1]);
  const buf = allocIoBuffer(256 * 1024);
  let bytes = 0;
  const peer0 = await peer.cpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const s = net.connect({
      port: peer.port,
      host: '127.0.0.1',
      onread: {
        buffer: buf,
        callback: (n: number) => {
          bytes += n;
          return true;
        },
      },
    });
    setTimeout(() => {
      s.destroy();
      resolve();
    }, seconds * 1000);
  });
  const secs = (performance.now() - t0) / 1000;
  const hostCpu = cpuSince(cpu0);
  const peerCpu = (await peer.cpu()) - peer0;
  await peer.stop();
  const gb = bytes / 1e9;
  return { mbps: bytes / secs / 1e6, hostCpuPerGB: hostCpu / gb, peerCpuPerGB: peerCpu / gb };
}

export interface PingPongResult {
  opsPerSec: number;
  hostCpuPerMop: number;
}

export async function rawPingPong(qd: number, seconds: number, cpus?: [number, number]): Promise<PingPongResult> {
  const peer = await spawnPeer('raw-peer.ts', ['pingpong'], cpus?.[1]);
  const req = Buffer.alloc(72, 2);
  let done = 0;
  let stopAt = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const s = net.connect({ port: peer.port, host: '127.0.0.1', noDelay: true });
    let pending = 0;
    let stopped = false;
    s.on('connect', () => {
      stopAt = performance.now() + seconds * 1000;
      s.write(Buffer.concat(Array.from({ length: qd }, () => req)));
    });
    s.on('data', (d: Buffer) => {
      pending += d.length;
      let n = 0;
      while (pending >= 24) {
        pending -= 24;
        n++;
      }
      done += n;
      if (stopped) return;
      if (performance.now() >= stopAt) {
        stopped = true;
        s.destroy();
        resolve();
        return;
      }
      if (n === 1) s.write(req);
      else if (n > 1) s.write(Buffer.concat(Array.from({ length: n }, () => req)));
    });
  });
  const secs = (performance.now() - t0) / 1000;
  const hostCpu = cpuSince(cpu0);
  await peer.stop();
  return { opsPerSec: done / secs, hostCpuPerMop: hostCpu / (done / 1e6) };
}
