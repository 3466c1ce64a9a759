// Our NVMe/TCP target as a benchmark peer process: one RAM namespace, prints
// "port <n>" once listening; "cpu" on stdin → "cpu <seconds>"; exits when stdin closes.
//   node --import tsx bench/target-peer.ts [ramBytes] [lbaSize] [poll|nopoll] [fixed|ours] [tlsKey|notls]
// `fixed`: read like SPDK's nvmf/tcp (bench/fixed-read.ts), not as our target does.
import { NvmeTarget } from '../src/target/index.ts';
import { fixedReads } from './fixed-read.ts';
import { BENCH_NQN, servePeerControl } from './proc.ts';

const size = Number(process.argv[2] ?? 1 << 30);
const lbaSize = Number(process.argv[3] ?? 512) as 512 | 4096;
const tlsKey = process.argv[6] !== undefined && process.argv[6] !== 'notls' ? process.argv[6] : undefined;

const tgt = new NvmeTarget({
  subsystems: [{ nqn: BENCH_NQN, allowAnyHost: true, namespaces: [{ nsid: 1, backend: { kind: 'ram', size }, lbaSize }] }],
  maxRamSize: size,
  poll: process.argv[4] === 'poll',
  ...(tlsKey ? { tlsKeys: [{ key: tlsKey }] } : {}),
  rxPlacement: process.argv[5] === 'fixed' ? fixedReads() : undefined,
});
const addr = await tgt.listen({ host: '127.0.0.1', port: 0, tls: tlsKey ? 'required' : 'none' });
process.stdout.write(`port ${addr.port}\n`);
servePeerControl(() => tgt.close());
