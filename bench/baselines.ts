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
  peerCpuPerMop: number;
}

/**
 * QD requests of `req` bytes kept in flight, each answered by `resp` bytes, nothing
 * parsed: both sides count bytes, read with `onread` into one reused buffer and
 * write a slice of one prebuilt buffer per read event (one write for everything a
 * read completed). 72/24 is a CapsuleCmd and its CapsuleResp; 72/4144 a 4 KiB read
 * (C2HData header + 4 KiB + CapsuleResp); 4168/24 a 4 KiB write with in-capsule data.
 * With `region`, each response's 4 KiB is copied from a random block of that much memory
 * first: what serving random reads from a RAM disk costs before any protocol.
 */
export async function rawPingPong(
  qd: number,
  seconds: number,
  cpus?: [number, number],
  req = 72,
  resp = 24,
  /** Responses carry 4 KiB copied from random blocks of this much memory (0: a fixed buffer). */
  region = 0,
): Promise<PingPongResult> {
  const peer = await spawnPeer('raw-peer.ts', ['pingpong', String(req), String(resp), String(qd), String(region)], cpus?.[1]);
  const reqs = Buffer.alloc(req * qd, 2);
  const rx = allocIoBuffer(256 * 1024);
  let done = 0;
  let stopAt = 0;
  const peer0 = await peer.cpu();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let pending = 0;
    let stopped = false;
    const s = net.connect({
      port: peer.port,
      host: '127.0.0.1',
      noDelay: true,
      onread: {
        buffer: rx,
        callback: (len: number) => {
          pending += len;
          const n = Math.floor(pending / resp);
          pending -= n * resp;
          done += n;
          if (stopped) return true;
          if (performance.now() >= stopAt) {
            stopped = true;
            s.destroy();
            resolve();
            return false;
          }
          if (n > 0) s.write(reqs.subarray(0, n * req));
          return true;
        },
      },
    });
    s.on('connect', () => {
      stopAt = performance.now() + seconds * 1000;
      s.write(reqs);
    });
  });
  const secs = (performance.now() - t0) / 1000;
  const hostCpu = cpuSince(cpu0);
  const peerCpu = (await peer.cpu()) - peer0;
  await peer.stop();
  const mops = done / 1e6;
  return { opsPerSec: done / secs, hostCpuPerMop: hostCpu / mops, peerCpuPerMop: peerCpu / mops };
}
