// Our NVMe/TCP target as a benchmark peer process: one RAM namespace, prints
// "port <n>" once listening; "cpu" on stdin → "cpu <seconds>"; exits when stdin closes.
//   node --import tsx bench/target-peer.ts [ramBytes] [lbaSize] [poll] [tlsKey|notls]
import { NvmeTarget } from '../src/target/index.ts';
import { BENCH_NQN, servePeerControl } from './proc.ts';

const size = Number(process.argv[2] ?? 1 << 30);
const lbaSize = Number(process.argv[3] ?? 512) as 512 | 4096;
const tlsKey = process.argv[5] !== undefined && process.argv[5] !== 'notls' ? process.argv[5] : undefined;

const tgt = new NvmeTarget({
  subsystems: [{ nqn: BENCH_NQN, allowAnyHost: true, namespaces: [{ nsid: 1, backend: { kind: 'ram', size }, lbaSize }] }],
  maxRamSize: size,
  poll: process.argv[4] === 'poll',
  ...(tlsKey ? { tlsKeys: [{ key: tlsKey }] } : {}),
});
const addr = await tgt.listen({ host: '127.0.0.1', port: 0, tls: tlsKey ? 'required' : 'none' });
process.stdout.write(`port ${addr.port}\n`);
servePeerControl(() => tgt.close());
