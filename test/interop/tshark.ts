// Packet capture on loopback with tshark, and a decode of the capture as NVMe/TCP.
// Wireshark binds its nvme-tcp dissector to port 4420 only: the decode passes
// `-d tcp.port==N,nvme-tcp` and turns on its header/data digest checks.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { freePort, within } from './vm.ts';

export class Capture {
  private stderr = '';
  private constructor(
    readonly port: number,
    readonly file: string,
    private readonly proc: ChildProcess,
    private readonly probePort: number,
  ) {}

  /**
   * Starts `tshark -i lo -f 'tcp port N' -w file` and returns once packets really land in the
   * file: "Capturing on" is printed before the filter is live, so UDP probes (to a port in the
   * filter that nothing listens on) are sent until the file grows. decodeCapture skips them.
   */
  static async start(port: number, file: string): Promise<Capture> {
    rmSync(file, { force: true });
    const probePort = await freePort();
    const proc = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'SIGKILL',
        '--',
        'tshark',
        '-i',
        'lo',
        '-f',
        `tcp port ${port} or udp port ${probePort}`,
        '-w',
        file,
        // 1 MiB bursts at loopback speed overrun the default 2 MiB kernel buffer when two
        // VMs share the machine ("Previous segment not captured").
        '-B',
        '64',
        '-a',
        'duration:900',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.unref();
    const cap = new Capture(port, file, proc, probePort);
    const probe = dgram.createSocket('udp4');
    let tick: NodeJS.Timeout | undefined;
    try {
      await within(
        new Promise<void>((res, rej) => {
          proc.stderr?.on('data', (d: Buffer) => {
            cap.stderr += d.toString();
          });
          proc.on('exit', (code) => rej(new Error(`tshark exited (${code}): ${cap.stderr}`)));
          proc.on('error', rej);
          let empty = -1;
          tick = setInterval(() => {
            if (!cap.stderr.includes('Capturing on')) return;
            let size = -1;
            try {
              size = statSync(file).size;
            } catch {}
            if (size > 0 && empty < 0) empty = size;
            if (empty > 0 && size > empty) {
              clearInterval(tick);
              res();
            } else {
              probe.send('capture probe', probePort, '127.0.0.1');
            }
          }, 50);
        }),
        30_000,
        'tshark start',
      );
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    } finally {
      clearInterval(tick);
      probe.close();
    }
    return cap;
  }

  /** What tshark printed (its last lines report captured and dropped packets). */
  get log(): string {
    return this.stderr;
  }

  /**
   * Stops the capture (SIGINT lets tshark finish the file). dumpcap's ring hands packets
   * over in blocks (up to ~1 s late) and drops the unfinished block on stop, so first a
   * marked UDP probe is sent until it shows up in the file: everything before it is in.
   */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const mark = Buffer.from(`capture end ${randomBytes(8).toString('hex')}`);
    const probe = dgram.createSocket('udp4');
    let tick: NodeJS.Timeout | undefined;
    try {
      await within(
        new Promise<void>((res) => {
          tick = setInterval(() => {
            if (tail(this.file).includes(mark)) res();
            else probe.send(mark, this.probePort, '127.0.0.1');
          }, 100);
        }),
        15_000,
        'capture flush',
      ).catch(() => {});
    } finally {
      clearInterval(tick);
      probe.close();
    }
    const gone = new Promise<void>((res) => this.proc.once('exit', () => res()));
    this.proc.kill('SIGINT');
    try {
      await within(gone, 15_000, 'tshark stop');
    } catch {
      this.proc.kill('SIGKILL');
      await within(gone, 5000, 'tshark kill').catch(() => {});
    }
  }
}

/** The last 1 MiB of a file (empty if it does not exist). */
function tail(file: string): Buffer {
  try {
    const size = statSync(file).size;
    const n = Math.min(size, 1 << 20);
    const b = Buffer.alloc(n);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, b, 0, n, size - n);
    } finally {
      closeSync(fd);
    }
    return b;
  } catch {
    return Buffer.alloc(0);
  }
}

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else res(stdout);
    });
  });
}

export interface DecodedPdu {
  frame: number;
  /** true: host → controller (sent to the target port). */
  toTarget: boolean;
  /** TCP stream index (one per NVMe/TCP queue). */
  stream: number;
  type: number;
  flags: number;
  plen: number;
  /** Wireshark checksum status: 1 good, 0 bad, 2 unverified; -1 when the PDU has no digest. */
  hdgstStatus: number;
  ddgstStatus: number;
}

export interface CaptureReport {
  frames: number;
  pdus: DecodedPdu[];
  /** TCP payload bytes per direction and the bytes covered by decoded PDUs. */
  tcpBytesToTarget: number;
  tcpBytesFromTarget: number;
  pduBytesToTarget: number;
  pduBytesFromTarget: number;
  /** TCP streams seen (connections). */
  streams: number;
  /** Expert infos of severity warning or error (malformed frames included), TCP's excepted. */
  problems: string[];
  /** TCP's own warnings (retransmissions, D-SACK...): transport noise, not NVMe/TCP faults. */
  tcpNotes: string[];
}

const TSHARK_OPTS = (port: number) => [
  '-d',
  `tcp.port==${port},nvme-tcp`,
  '-o',
  'nvme-tcp.check_hdgst:TRUE',
  '-o',
  'nvme-tcp.check_ddgst:TRUE',
];

/** Decodes a capture made on `port` (the target's port) and accounts for every payload byte. */
export async function decodeCapture(file: string, port: number): Promise<CaptureReport> {
  const fields = [
    'frame.number',
    'tcp.stream',
    'tcp.dstport',
    'tcp.len',
    'tcp.seq',
    'nvme-tcp.type',
    'nvme-tcp.flags',
    'nvme-tcp.plen',
    'nvme-tcp.hdgst.status',
    'nvme-tcp.ddgst.status',
  ];
  const out = await run('tshark', [
    '-r',
    file,
    ...TSHARK_OPTS(port),
    '-Y',
    'tcp',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  const rep: CaptureReport = {
    frames: 0,
    pdus: [],
    tcpBytesToTarget: 0,
    tcpBytesFromTarget: 0,
    pduBytesToTarget: 0,
    pduBytesFromTarget: 0,
    streams: 0,
    problems: [],
    tcpNotes: [],
  };
  // Payload bytes of a stream direction = highest relative sequence number reached - 1
  // (retransmitted segments are not counted twice).
  const seqEnd = new Map<string, number>();
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [frame, stream, dport, tcpLen, seq, types, flags, plens, hst, dst] = line.split('\t');
    rep.frames++;
    const toTarget = Number(dport) === port;
    const key = `${stream}${toTarget ? '>' : '<'}`;
    if (Number(tcpLen) > 0) seqEnd.set(key, Math.max(seqEnd.get(key) ?? 0, Number(seq) + Number(tcpLen) - 1));
    if (!types) continue;
    const t = types.split(',');
    const f = flags.split(',');
    const p = plens.split(',');
    // Digest statuses are listed only for PDUs that carry one, in PDU order.
    const hs = hst ? hst.split(',').map(Number) : [];
    const ds = dst ? dst.split(',').map(Number) : [];
    for (let i = 0; i < t.length; i++) {
      const flg = Number(f[i]);
      const pdu: DecodedPdu = {
        frame: Number(frame),
        toTarget,
        stream: Number(stream),
        type: Number(t[i]),
        flags: flg,
        plen: Number(p[i]),
        hdgstStatus: flg & 1 ? (hs.shift() ?? -2) : -1,
        ddgstStatus: flg & 2 ? (ds.shift() ?? -2) : -1,
      };
      rep.pdus.push(pdu);
      if (toTarget) rep.pduBytesToTarget += pdu.plen;
      else rep.pduBytesFromTarget += pdu.plen;
    }
  }
  const streams = new Set<string>();
  for (const [key, end] of seqEnd) {
    streams.add(key.slice(0, -1));
    if (key.endsWith('>')) rep.tcpBytesToTarget += end;
    else rep.tcpBytesFromTarget += end;
  }
  rep.streams = streams.size;
  for (const e of await expertInfos(file, port)) {
    if (e.protocol === 'TCP') rep.tcpNotes.push(`${e.severity}: ${e.summary} (x${e.count})`);
    else rep.problems.push(`${e.severity} [${e.group}/${e.protocol}]: ${e.summary} (x${e.count})`);
  }
  return rep;
}

export interface ExpertInfo {
  severity: string;
  count: number;
  group: string;
  protocol: string;
  summary: string;
}

/** Expert infos of severity warning and error (`tshark -z expert,warn`; malformed frames are errors). */
export async function expertInfos(file: string, port: number): Promise<ExpertInfo[]> {
  const out = await run('tshark', ['-r', file, ...TSHARK_OPTS(port), '-q', '-z', 'expert,warn']);
  const infos: ExpertInfo[] = [];
  let severity = '';
  for (const line of out.split('\n')) {
    const head = /^(Errors|Warns|Notes|Chats) \(\d+\)/.exec(line);
    if (head) {
      severity = head[1];
      continue;
    }
    const cols = line.trim().split(/\s{2,}/);
    if (severity && cols.length >= 4 && /^\d+$/.test(cols[0])) {
      infos.push({ severity, count: Number(cols[0]), group: cols[1], protocol: cols[2], summary: cols.slice(3).join('  ') });
    }
  }
  return infos;
}

const TO_TARGET_TYPES = new Set([0, 2, 4, 6]);
const FROM_TARGET_TYPES = new Set([1, 3, 5, 7, 9]);

/**
 * Everything wrong with a decoded session: expert warnings/errors, bytes not covered by
 * PDUs, PDU types in the wrong direction, digest flags and Wireshark's digest verdicts.
 */
export function captureIssues(rep: CaptureReport, o: { hdgst: boolean; ddgst: boolean }): string[] {
  const issues = [...rep.problems];
  // Lost packets (not a protocol fault) make every later check meaningless: say so first.
  for (const n of rep.tcpNotes) if (/not captured/.test(n)) issues.unshift(`capture incomplete: ${n}`);
  if (rep.pduBytesToTarget !== rep.tcpBytesToTarget) {
    issues.push(`host→target: ${rep.tcpBytesToTarget} TCP bytes but ${rep.pduBytesToTarget} in decoded PDUs`);
  }
  if (rep.pduBytesFromTarget !== rep.tcpBytesFromTarget) {
    issues.push(`target→host: ${rep.tcpBytesFromTarget} TCP bytes but ${rep.pduBytesFromTarget} in decoded PDUs`);
  }
  for (const p of rep.pdus) {
    const where = `frame ${p.frame} type ${p.type}`;
    if (!(p.toTarget ? TO_TARGET_TYPES : FROM_TARGET_TYPES).has(p.type)) {
      issues.push(`${where}: PDU type not expected ${p.toTarget ? 'from the host' : 'from the target'}`);
    }
    const digestible = p.type >= 4;
    if (digestible && o.hdgst !== p.hdgstStatus >= 0) issues.push(`${where}: HDGSTF ${p.hdgstStatus >= 0 ? 'set' : 'clear'}`);
    if ((p.type === 6 || p.type === 7) && o.ddgst !== p.ddgstStatus >= 0) {
      issues.push(`${where}: DDGSTF ${p.ddgstStatus >= 0 ? 'set' : 'clear'}`);
    }
    if (p.hdgstStatus >= 0 && p.hdgstStatus !== 1) issues.push(`${where}: header digest status ${p.hdgstStatus}`);
    if (p.ddgstStatus >= 0 && p.ddgstStatus !== 1) issues.push(`${where}: data digest status ${p.ddgstStatus}`);
  }
  return issues;
}

/** PDU count per direction and type name, e.g. { 'h2c CapsuleCmd': 12 }. */
export function pduCounts(rep: CaptureReport): Record<string, number> {
  const names = ['ICReq', 'ICResp', 'H2CTermReq', 'C2HTermReq', 'CapsuleCmd', 'CapsuleResp', 'H2CData', 'C2HData', '8', 'R2T'];
  const c: Record<string, number> = {};
  for (const p of rep.pdus) {
    const k = `${p.toTarget ? 'h2c' : 'c2h'} ${names[p.type] ?? p.type}`;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
}

/** Frames of the capture matching a display filter, as tab-separated field rows. */
async function rows(file: string, port: number, filter: string, fields: string[]): Promise<string[][]> {
  const out = await run('tshark', [
    '-r',
    file,
    ...TSHARK_OPTS(port),
    '-Y',
    filter,
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** NVM opcodes of the commands sent on I/O queues (QID > 0), with their counts. */
export async function ioOpcodes(file: string, port: number): Promise<Record<number, number>> {
  const c: Record<number, number> = {};
  for (const [opcs] of await rows(file, port, 'nvme.cmd.opc && nvme-tcp.cmd.qid > 0', ['nvme.cmd.opc'])) {
    for (const o of opcs.split(',')) c[Number(o)] = (c[Number(o)] ?? 0) + 1;
  }
  return c;
}

/** Completions with a non-zero status: "frame N qid Q: <info> status 0xSSSS". */
export async function failedCompletions(file: string, port: number): Promise<string[]> {
  const r = await rows(file, port, 'nvme.cqe.status.sc != 0 || nvme.cqe.status.sct != 0', [
    'frame.number',
    'nvme-tcp.cmd.qid',
    '_ws.col.Info',
    'nvme.cqe.status',
  ]);
  return (
    r
      // Not a failure: nvmet completes an outstanding Asynchronous Event Request with
      // Internal Error + DNR (status field 0x800c) when the controller goes away at
      // disconnect; a host that keeps one outstanding (ours, as Linux's) sees it every time.
      .filter(([, qid, info, status]) => !(Number(qid) === 0 && info.includes('Async Event Request') && status === '0x800c'))
      .map(([frame, qid, info, status]) => `frame ${frame} qid ${Number(qid)}: ${info} status ${status}`)
  );
}

/** Reads (opcode 0x02) on I/O queues: [tcp.stream, CID, blocks] in capture order. */
export async function ioReads(file: string, port: number): Promise<[number, number, number][]> {
  const out: [number, number, number][] = [];
  const r = await rows(file, port, 'nvme.cmd.opc == 2 && nvme-tcp.cmd.qid > 0', [
    'tcp.stream',
    'nvme.cmd.opc',
    'nvme.cmd.cid',
    'nvme.cmd.nlb',
  ]);
  for (const [stream, opcs, cids, nlbs] of r) {
    // One opcode and CID per command of the frame; an NLB only for the Read/Write ones.
    const o = opcs.split(',').map(Number);
    const c = cids.split(',');
    const n = nlbs.split(',');
    let k = 0;
    for (let i = 0; i < o.length; i++) {
      const rw = o[i] === 1 || o[i] === 2;
      if (o[i] === 2) out.push([Number(stream), Number(c[i]), Number(n[k])]);
      if (rw) k++;
    }
  }
  return out;
}
