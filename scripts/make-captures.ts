// Regenerates the capture fixtures of test/fixtures/captures/: our host against our
// target on loopback (test/helpers/capture-workload.ts), captured with tshark (dumpcap,
// pcapng), then converted with editcap to pcap (µs; ns for the digests one) and, for the
// digests one, to a pcap cut at a snaplen of 128 bytes.
// Needs root (capturing on lo), tshark and editcap (apt-get install tshark).
//
//   node --import tsx scripts/make-captures.ts
//
// Prints tshark's PDU counts per fixture: the counts the unit tests assert
// (test/unit/capture/fixtures.test.ts) must then be updated from this output.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertCapturedWhole, runCaptureWorkload, startCaptureTarget } from '../test/helpers/capture-workload.ts';
import { Capture, decodeCapture, pduCounts } from '../test/interop/tshark.ts';
import { REPO_ROOT } from '../test/interop/vm.ts';

const OUT = join(REPO_ROOT, 'test/fixtures/captures');

interface Spec {
  name: string;
  port: number;
  hdgst: boolean;
  ddgst: boolean;
}

const SPECS: Spec[] = [
  // The well-known port: tshark decodes it without -d, our analyzer knows it by port too.
  { name: 'plain-4420', port: 4420, hdgst: false, ddgst: false },
  // Any free port: found by its ICReq.
  { name: 'digests', port: 0, hdgst: true, ddgst: true },
];

async function record(s: Spec, file: string): Promise<number> {
  const tgt = await startCaptureTarget(s.port);
  let cap: Capture | undefined;
  try {
    cap = await Capture.start(tgt.port, file);
    await runCaptureWorkload(tgt.port, s);
  } finally {
    await tgt.close();
    await cap?.stop();
  }
  await assertCapturedWhole(file, s.name);
  return tgt.port;
}

function editcap(args: string[]): void {
  execFileSync('editcap', args, { stdio: 'inherit' });
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'captures-'));
  try {
    for (const s of SPECS) {
      const raw = join(tmp, `${s.name}.pcapng`);
      const port = await record(s, raw);
      const ng = join(OUT, `${s.name}.pcapng`);
      renameSync(raw, ng);
      chmodSync(ng, 0o644); // dumpcap writes 0600
      const derived = [ng];
      if (s.hdgst) {
        derived.push(join(OUT, `${s.name}-ns.pcap`), join(OUT, `${s.name}-snap128.pcap`));
        editcap(['-F', 'nsecpcap', ng, derived[1]]);
        editcap(['-F', 'pcap', '-s', '128', ng, derived[2]]);
      } else {
        derived.push(join(OUT, `${s.name}.pcap`));
        editcap(['-F', 'pcap', ng, derived[1]]);
      }
      const rep = await decodeCapture(ng, port);
      console.log(`${s.name}: port ${port}, ${rep.frames} TCP frames, ${rep.streams} connections`);
      console.log(`  tshark PDU counts: ${JSON.stringify(pduCounts(rep))}`);
      for (const f of derived) console.log(`  ${f.slice(REPO_ROOT.length + 1)}: ${statSync(f).size} bytes`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
