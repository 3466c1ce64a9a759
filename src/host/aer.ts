// Asynchronous events on the host, the way the Linux host handles them
// (nvme_enable_aen, nvme_complete_async_event, nvme_scan_work): enable the notices
// the controller offers (Set Features 0Bh with OAES & the supported bits), keep one
// Asynchronous Event Request outstanding (it never times out, and is submitted again
// as soon as one completes), and act on what comes back:
//
//   Namespace Attribute Changed (notice 00h, log page 04h): read the Changed Namespace
//   List (RAE clear, which also unmasks the notice at the controller), then rescan:
//   re-read the active namespace list and every namespace's size. Events 'nsChanged'
//   (the NSIDs the log listed) and 'rescan' (what the scan found different).
//   Anything else: event 'aen' with its type, information and log page, left for the
//   application to read (getLogPage) as Linux leaves it to userspace.
//
// The AER lives on one association: arm() is the one call a (re)connected controller
// makes once its admin queue is live; an AER failing because its queue went down ends
// quietly (the next association arms again).
import { FeatureId, LogId } from '../protocol/constants.ts';
import { ConnectionError, NvmeStatusError } from '../protocol/errors.ts';
import { parseActiveNsList } from '../protocol/identify.ts';
import type { AdminClient } from './admin.ts';

/** A notice of any type other than Namespace Attribute Changed (event 'aen'). */
export interface AsyncEvent {
  /** Asynchronous Event Type (DW0 bits 2:0): 0 error, 1 SMART / health, 2 notice, 6 I/O command set, 7 vendor. */
  type: number;
  /** Asynchronous Event Information (DW0 bits 15:8). */
  info: number;
  /** Log page to read for it (DW0 bits 23:16). */
  lid: number;
  /** The completion's DW0 as received. */
  dw0: number;
}

/** What a rescan found (event 'rescan'). */
export interface RescanResult {
  /** Namespaces active now and not before. */
  added: number[];
  /** Namespaces no longer active: their I/O fails with NamespaceGoneError. */
  removed: number[];
  /** Namespaces whose size (NSZE) changed. */
  resized: number[];
}

/** What the event handler needs from its controller. */
export interface AenHost {
  /** Re-reads the active namespaces and their sizes. */
  rescan(): Promise<RescanResult>;
  /** Emits an event to the application (off the receive path). */
  emit(event: 'nsChanged', nsids: number[]): void;
  emit(event: 'rescan', r: RescanResult): void;
  emit(event: 'aen', e: AsyncEvent): void;
  /** A rescan failed on a live association (a one-line warning). */
  warn(message: string): void;
}

/** OAES bits the host enables: namespace attribute (8), firmware activation (9), ANA change (11), discovery log change (31). */
export const AEN_SUPPORTED = 0x100 | 0x200 | 0x800 | 0x8000_0000;
const AEN_TYPE_NOTICE = 2;
const AEN_NOTICE_NS_CHANGED = 0x00;
/** Log page 04h is 1024 NSIDs; the Linux host reads it whole, for all namespaces. */
const CHANGED_NS_LOG_LEN = 4096;
const NSID_ALL = 0xffff_ffff;

export class AsyncEvents {
  /** Bumped by every arm() and stop(): completions of an older AER are ignored. */
  private generation = 0;
  /** Rescans run one after another. */
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly host: AenHost) {}

  /**
   * Enables the notices `oaes` (Identify OAES) offers among those the host handles and
   * keeps one AER outstanding on `admin`. Call once the association is live, and again
   * after every reconnect. Does nothing when the controller offers none of them.
   */
  async arm(admin: AdminClient, oaes: number): Promise<void> {
    const gen = ++this.generation;
    const enable = (oaes & AEN_SUPPORTED) >>> 0;
    if (enable === 0) return;
    await admin.setFeatures(FeatureId.AsyncEventConfig, enable);
    if (gen === this.generation) this.submit(admin, gen);
  }

  /** Forgets the outstanding AER (the controller is going away or reconnecting). */
  stop(): void {
    this.generation++;
  }

  private submit(admin: AdminClient, gen: number): void {
    admin.asyncEventRequest().then(
      (c) => this.completed(admin, gen, c.dw0),
      (e: Error) => {
        // Its queue went down (the next association arms again), or the controller
        // refused it (AER Limit Exceeded): either way no AER is resubmitted here.
        if (gen === this.generation && e instanceof NvmeStatusError) this.host.warn(`asynchronous event request failed: ${e.message}`);
      },
    );
  }

  private completed(admin: AdminClient, gen: number, dw0: number): void {
    if (gen !== this.generation) return;
    this.submit(admin, gen);
    const type = dw0 & 0x7;
    const info = (dw0 >>> 8) & 0xff;
    const lid = (dw0 >>> 16) & 0xff;
    if (type === AEN_TYPE_NOTICE && info === AEN_NOTICE_NS_CHANGED) {
      this.work = this.work.then(() => this.nsChanged(admin, gen));
      return;
    }
    this.host.emit('aen', { type, info, lid, dw0: dw0 >>> 0 });
  }

  private async nsChanged(admin: AdminClient, gen: number): Promise<void> {
    try {
      const log = await admin.getLogPage(LogId.ChangedNsList, CHANGED_NS_LOG_LEN, 0, NSID_ALL, false);
      if (gen !== this.generation) return;
      // FFFFFFFFh first: more than 1024 changed, the list says nothing more (rescan all).
      this.host.emit('nsChanged', parseActiveNsList(log));
      const r = await this.host.rescan();
      if (gen === this.generation) this.host.emit('rescan', r);
    } catch (e) {
      // A queue that went down is the reconnect's business; anything else is worth a line.
      if (gen === this.generation && !(e instanceof ConnectionError)) this.host.warn(`namespace rescan failed: ${(e as Error).message}`);
    }
  }
}
