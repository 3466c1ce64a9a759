// Log pages of NVM controllers: supported log pages (0x00), error information (0x01),
// SMART / health (0x02), firmware slot information (0x03) and commands supported
// and effects (0x05). The Changed Namespace List (0x04) is per controller state
// (Controller.changedNsLog).
//
//   Error log: (ELPE + 1) entries of 64 bytes; this target records none (all zero).
//   SMART (512 bytes): critical warning u8 @0 | composite temperature u16 @1 (kelvin) |
//     available spare u8 @3 | spare threshold u8 @4 | percentage used u8 @5 |
//     data units read u128 @32 / written @48 (units of 1000 × 512 bytes, rounded up) |
//     host read commands u128 @64 / write commands @80 | power cycles u128 @112 |
//     power-on hours u128 @128
//   Firmware slot information (512 bytes): AFI u8 @0 (bits 2:0 active slot) |
//     FRS1..FRS7 char[8] @8..@56 (revision in each slot, space padded)
//   Supported log pages (1024 bytes): LSUPP[256] u32, bit 0 = the log page is supported.
//   Commands supported and effects (4096 bytes): ACS[256] u32 @0 (admin opcodes),
//     IOCS[256] u32 @1024 (I/O opcodes): bit 0 CSUPP, bit 1 LBCC (changes LBA content).
import { AdminOpc, IoOpc, LogId } from '../protocol/constants.ts';
import { writeU64 } from '../protocol/fields.ts';
import type { Controller } from './controller.ts';

/** Error log entries - 1 (Identify ELPE). */
export const ELPE = 0;
const ERROR_LOG = Buffer.alloc((ELPE + 1) * 64);

export function errorLog(): Buffer {
  return ERROR_LOG;
}

const KELVIN_300 = 300;

export function smartLog(ctrl: Controller): Buffer {
  const b = Buffer.alloc(512);
  const h = ctrl.health;
  b.writeUInt16LE(KELVIN_300, 1);
  b[3] = 100;
  b[4] = 10;
  writeU64(b, Math.ceil(h.readBytes / 512_000), 32, 'data units read');
  writeU64(b, Math.ceil(h.writeBytes / 512_000), 48, 'data units written');
  writeU64(b, h.readCmds, 64, 'host read commands');
  writeU64(b, h.writeCmds, 80, 'host write commands');
  writeU64(b, 1, 112, 'power cycles');
  writeU64(b, Math.floor((Date.now() - ctrl.createdAt) / 3_600_000), 128, 'power-on hours');
  return b;
}

/** LID 0x03: one read-only slot (Identify FRMW 0x03), active, holding `fr`. */
export function firmwareSlotLog(fr: string): Buffer {
  const b = Buffer.alloc(512);
  b[0] = 1;
  b.write(fr.padEnd(8, ' '), 8, 8, 'latin1');
  return b;
}

const CSUPP = 0x1;
const LBCC = 0x2;

function buildEffectsLog(): Buffer {
  const b = Buffer.alloc(4096);
  for (const opc of [
    AdminOpc.GetLogPage,
    AdminOpc.Identify,
    AdminOpc.SetFeatures,
    AdminOpc.GetFeatures,
    AdminOpc.AsyncEventRequest,
    AdminOpc.KeepAlive,
  ]) {
    b.writeUInt32LE(CSUPP, opc * 4);
  }
  b.writeUInt32LE(CSUPP, 1024 + IoOpc.Flush * 4);
  b.writeUInt32LE(CSUPP, 1024 + IoOpc.Read * 4);
  for (const opc of [IoOpc.Write, IoOpc.WriteZeroes, IoOpc.DatasetMgmt]) b.writeUInt32LE(CSUPP | LBCC, 1024 + opc * 4);
  return b;
}
const EFFECTS_LOG = buildEffectsLog();

export function commandEffectsLog(): Buffer {
  return EFFECTS_LOG;
}

/** LID 0x00 (NVMe 2.0): which log pages this controller serves. */
export const LID_SUPPORTED_LOGS = 0x00;

function buildSupportedLogs(lids: readonly number[]): Buffer {
  const b = Buffer.alloc(1024);
  for (const lid of lids) b.writeUInt32LE(CSUPP, lid * 4);
  return b;
}
const SUPPORTED_NVM = buildSupportedLogs([
  LID_SUPPORTED_LOGS,
  LogId.Error,
  LogId.Smart,
  LogId.FwSlot,
  LogId.ChangedNsList,
  LogId.CmdEffects,
]);
const SUPPORTED_DISCOVERY = buildSupportedLogs([LID_SUPPORTED_LOGS, LogId.Discovery]);

export function supportedLogs(discovery: boolean): Buffer {
  return discovery ? SUPPORTED_DISCOVERY : SUPPORTED_NVM;
}
