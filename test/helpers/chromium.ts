// A headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: JSON messages ending in a NUL byte, written to the
// browser's fd 3 and read from its fd 4), so no WebSocket client is needed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { TestContext } from 'node:test';

const BINARIES = ['chromium', 'chromium-browser', 'google-chrome'];

function findChromium(): string | undefined {
  return BINARIES.find((b) => spawnSync(b, ['--version'], { stdio: 'ignore' }).status === 0);
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buf = '';
  private exitedWith: string | undefined;
  stderr = '';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly profile: string,
  ) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (d: string) => this.onData(d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    proc.on('exit', (code, sig) => {
      this.exitedWith = `chromium exited (${code ?? sig})`;
      for (const p of this.pending.values()) p.reject(new Error(`${this.exitedWith}: ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts Chromium, or skips the test when it is not installed outside CI (in CI it must be there). */
  static async launch(t: TestContext, size = { width: 1320, height: 1000 }): Promise<Browser | undefined> {
    const bin = findChromium();
    if (bin === undefined) {
      assert.ok(process.env.CI !== 'true', 'chromium is missing in CI: .ci/run must install it');
      t.skip('chromium not installed (apt-get install chromium): dashboard not tested in a browser');
      return undefined;
    }
    const profile = mkdtempSync(join(tmpdir(), 'nvmeotcp-chromium-'));
    const args = [
      '--headless',
      '--no-sandbox', // the tests run as root in CI
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      `--window-size=${size.width},${size.height}`,
      'about:blank',
    ];
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const b = new Browser(proc, profile);
    t.after(() => b.close());
    return b;
  }

  private onData(d: string): void {
    this.buf += d;
    let end = this.buf.indexOf('\0');
    while (end >= 0) {
      const msg = JSON.parse(this.buf.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      this.buf = this.buf.slice(end + 1);
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result ?? {});
      }
      end = this.buf.indexOf('\0');
    }
  }

  /** One DevTools command (on a page's session when given). */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.exitedWith !== undefined) return Promise.reject(new Error(this.exitedWith));
    const id = this.nextId++;
    const msg: Record<string, unknown> = { id, method, params };
    if (sessionId !== undefined) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(`${JSON.stringify(msg)}\0`);
    });
  }

  /** Opens `url` in a new tab; returns the tab's session. */
  async open(url: string): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    return new Page(this, sessionId);
  }

  async close(): Promise<void> {
    if (this.exitedWith === undefined) {
      const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
      this.send('Browser.close').catch(() => undefined);
      const kill = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(kill);
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly b: Browser,
    private readonly sessionId: string,
  ) {}

  /** The value of a page expression (JSON-serialisable). */
  async eval<T>(expression: string): Promise<T> {
    const r = (await this.b.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, this.sessionId)) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Buffer> {
    const r = (await this.b.send('Page.captureScreenshot', { format: 'png' }, this.sessionId)) as { data: string };
    return Buffer.from(r.data, 'base64');
  }
}
