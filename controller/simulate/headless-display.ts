// A display client in Node for the virtual rig (`ephysloop simulate`): plays the /display contract of
// controller/wire/display.ts without a browser. It says hello, syncs its clock with ping/pong like the page,
// "loads" stimuli (fetches each URL unless told not to, and hands the bytes to onPreload: the simulated neurons learn
// images the protocol does not list there), and answers each `show` when the presentation would
// have ended: onset on the next frame of a virtual vsync grid, offset = onset + duration in whole frames,
// and now and then a dropped frame (seeded).

import { WebSocket } from "ws";
import { EphysError } from "../../analysis/errors.ts";
import { mulberry32, type Random } from "../../analysis/random.ts";
import { bestClockOffset, framesForDuration, type SyncSample } from "../../stimuli/display/clock.ts";
import { TypedEmitter } from "../rig/typed-emitter.ts";
import type { CalibrationTarget, DisplayServerMessage } from "../wire/display.ts";

export interface HeadlessDisplayOptions {
  /** ws://host:port/display */
  url: string;
  token: string;
  screen?: { width: number; height: number; refreshHz: number };
  /** Probability that a presentation reports one dropped frame; default 0.02. */
  dropRate?: number;
  /** Seed of the dropped-frame draws; default 1. */
  seed?: number;
  /** GET every preloaded URL (resolved against the server's http address) and report failures; default true. */
  verifyUrls?: boolean;
  /**
   * Given the bytes of every image of a preload that was fetched (verifyUrls), and awaited before `preloaded` is
   * sent: the simulated neurons learn images the protocol does not list here, before any trial shows them. If it
   * rejects, `preloaded` names those images as failed (and a warning says why).
   */
  onPreload?: (images: Array<{ id: string; bytes: Uint8Array }>) => Promise<void>;
  /** Wait until the presentation would have ended before sending `shown`; default true. */
  realTime?: boolean;
  /** connect() resolves on the server's welcome; if false, as soon as hello is sent. Default true. */
  waitForWelcome?: boolean;
  /** After a connection that was welcomed is lost, reopen it every reconnectDelayMs; default true. */
  reconnect?: boolean;
  /** Default 1000 ms. */
  reconnectDelayMs?: number;
}

export interface ShownRecord {
  trialId: number;
  stimulusId: string;
  durationMs: number;
  onset: number;
  offset: number;
  droppedFrames: number;
}

export type HeadlessDisplayEvents = {
  warning: [text: string];
  /** The socket closed (code, reason); a reconnect follows unless close() was called or reconnect is off. */
  closed: [code: number, reason: string];
  /** A lost connection was re-established (hello sent and welcomed again). */
  reconnected: [];
  /** A show command arrived (the Open Ephys emulator takes the stimulus of each presentation from here). */
  show: [req: { trialId: number; stimulusId: string; durationMs: number }];
  /** The eye calibration's target appeared (degrees from the centre) or went away (null). */
  target: [target: CalibrationTarget | null];
  /**
   * A presentation was put on its frames: onset and offset on this process's clock (Date.now()), so a simulated
   * photodiode can light up then.
   */
  presentation: [p: { trialId: number; onsetLocalMs: number; offsetLocalMs: number }];
};

export class HeadlessDisplayError extends EphysError<"EPHYS_DISPLAY_REFUSED" | "EPHYS_DISPLAY_LOST"> {}

interface Current {
  req: { trialId: number; stimulusId: string; durationMs: number };
  onset: number;
  offset: number;
  dropped: number;
  timer: NodeJS.Timeout | null;
}

export class HeadlessDisplay {
  /** Every `shown` sent, in order (ground truth for the simulated day). */
  readonly shown: ShownRecord[] = [];
  /** Every server message received, in order. */
  readonly received: DisplayServerMessage[] = [];
  readonly screen: { width: number; height: number; refreshHz: number };

  private readonly emitter = new TypedEmitter<HeadlessDisplayEvents>();
  private readonly frameMs: number;
  private readonly random: Random;
  private readonly dropRate: number;
  private readonly verifyUrls: boolean;
  private readonly realTime: boolean;
  private readonly httpBase: string;
  private readonly loaded = new Set<string>();
  private readonly queue: Current["req"][] = [];
  private samples: SyncSample[] = [];
  private pingN = 0;
  private current: Current | null = null;
  private readonly vsyncOrigin = Date.now();

  private ws: WebSocket | null = null;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly options: HeadlessDisplayOptions) {
    this.screen = options.screen ?? { width: 1920, height: 1080, refreshHz: 60 };
    this.frameMs = 1000 / this.screen.refreshHz;
    this.random = mulberry32(options.seed ?? 1);
    this.dropRate = options.dropRate ?? 0.02;
    this.verifyUrls = options.verifyUrls ?? true;
    this.realTime = options.realTime ?? true;
    this.httpBase = options.url.replace(/^ws/, "http");
  }

  /**
   * Opens the socket, sends hello, and resolves on welcome (or right after hello; see waitForWelcome).
   * Rejects with EPHYS_DISPLAY_REFUSED (the server's error) or EPHYS_DISPLAY_LOST. Once connected, a lost
   * connection is re-opened every reconnectDelayMs (like the page) unless reconnect is false.
   */
  static async connect(options: HeadlessDisplayOptions): Promise<HeadlessDisplay> {
    const display = new HeadlessDisplay(options);
    await display.openSocket();
    return display;
  }

  private openSocket(): Promise<void> {
    const url = new URL(this.options.url);
    url.searchParams.set("token", this.options.token);
    const ws = new WebSocket(url);
    this.ws = ws;
    this.samples = [];
    const waitForWelcome = this.options.waitForWelcome ?? true;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let welcomed = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      ws.on("open", () => {
        this.sendJson({
          type: "hello",
          role: "display",
          version: 1,
          token: this.options.token,
          screen: this.screen,
        });
        this.sync(8);
        if (!waitForWelcome) {
          welcomed = true;
          settle(null);
        }
      });
      ws.on("message", (data) => {
        let msg: DisplayServerMessage;
        try {
          msg = JSON.parse(data.toString()) as DisplayServerMessage;
        } catch {
          this.emitter.emit("warning", `server sent a non-JSON frame: ${data.toString().slice(0, 60)}`);
          return;
        }
        if (msg.type === "welcome") {
          welcomed = true;
          settle(null);
        }
        if (msg.type === "error" && !settled)
          settle(
            new HeadlessDisplayError("EPHYS_DISPLAY_REFUSED", `display refused: ${msg.code}: ${msg.message}`),
          );
        this.onMessage(msg);
      });
      ws.on("error", (err) =>
        settle(new HeadlessDisplayError("EPHYS_DISPLAY_LOST", `display socket: ${err.message}`)),
      );
      ws.on("close", (code, reason) => {
        settle(
          new HeadlessDisplayError(
            "EPHYS_DISPLAY_LOST",
            `display socket closed (${code} ${reason.toString()})`,
          ),
        );
        if (this.ws === ws) this.onClose(code, reason.toString(), welcomed);
      });
    });
  }

  on<K extends keyof HeadlessDisplayEvents>(
    event: K,
    listener: (...args: HeadlessDisplayEvents[K]) => void,
  ): () => void {
    return this.emitter.on(event, listener);
  }

  /** Sends an arbitrary frame (for tests of the server's validation). */
  sendJson(message: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Current estimate of server clock − local clock (ms), from the lowest-RTT ping. */
  get clockOffsetMs(): number {
    return bestClockOffset(this.samples)?.offsetMs ?? 0;
  }

  /** Cuts the connection as a network fault would (no close frame); it reconnects like after any loss. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Closes the socket and waits until it is closed. */
  close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.current?.timer) clearTimeout(this.current.timer);
    this.current = null;
    this.queue.length = 0;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once("close", () => resolve());
      ws.close(1000, "headless display closing");
    });
  }

  private sync(rounds: number): void {
    for (let i = 0; i < rounds; i++) this.sendJson({ type: "ping", n: ++this.pingN, t: Date.now() });
  }

  private serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private onMessage(msg: DisplayServerMessage): void {
    this.received.push(msg);
    switch (msg.type) {
      case "pong":
        this.samples.push({ tSend: msg.t, tRecv: Date.now(), serverTime: msg.serverTime });
        if (this.samples.length > 32) this.samples = this.samples.slice(-32);
        return;
      case "preload":
        void this.preload(msg.stimuli);
        return;
      case "show":
        this.queue.push({ trialId: msg.trialId, stimulusId: msg.stimulusId, durationMs: msg.durationMs });
        this.emitter.emit("show", {
          trialId: msg.trialId,
          stimulusId: msg.stimulusId,
          durationMs: msg.durationMs,
        });
        this.startNext();
        return;
      case "clear":
        this.queue.length = 0;
        this.clearNow();
        return;
      case "target":
        this.emitter.emit("target", msg.target);
        return;
      case "error":
        this.emitter.emit("warning", `server error ${msg.code}: ${msg.message}`);
        return;
      case "welcome":
        return;
    }
  }

  private async preload(stimuli: Array<{ id: string; url: string }>): Promise<void> {
    const failed: string[] = [];
    const bytesOf = new Map<string, Uint8Array>();
    await Promise.all(
      stimuli.map(async (s) => {
        if (this.verifyUrls) {
          try {
            const res = await fetch(new URL(s.url, this.httpBase));
            const bytes = new Uint8Array(await res.arrayBuffer());
            if (!res.ok) throw new Error(`HTTP ${res.status}`);
            bytesOf.set(s.id, bytes);
          } catch {
            failed.push(s.id);
            return;
          }
        }
        this.loaded.add(s.id);
      }),
    );
    // In the order of the request, whatever order the fetches ended in.
    const fetched = stimuli.flatMap((s) => {
      const bytes = bytesOf.get(s.id);
      return bytes ? [{ id: s.id, bytes }] : [];
    });
    if (this.options.onPreload && fetched.length) {
      try {
        await this.options.onPreload(fetched);
      } catch (e) {
        this.emitter.emit(
          "warning",
          `preload: ${fetched.length} image(s) not taken by onPreload: ${(e as Error)?.message ?? String(e)}`,
        );
        for (const f of fetched) {
          this.loaded.delete(f.id);
          failed.push(f.id);
        }
      }
    }
    this.sendJson({ type: "preloaded", ok: failed.length === 0, failed });
  }

  private startNext(): void {
    if (this.current) return;
    const req = this.queue.shift();
    if (!req) return;
    if (!this.loaded.has(req.stimulusId)) {
      this.emitter.emit(
        "warning",
        `show: stimulus ${req.stimulusId} was not preloaded; trial ${req.trialId} not shown`,
      );
      this.startNext();
      return;
    }
    // Onset: the first vsync at least one frame from now (the page draws at the next animation frame).
    const now = Date.now();
    const k = Math.ceil((now + this.frameMs - this.vsyncOrigin) / this.frameMs);
    const onsetLocal = this.vsyncOrigin + k * this.frameMs;
    const frames = framesForDuration(req.durationMs, this.frameMs);
    const offsetLocal = onsetLocal + frames * this.frameMs;
    const dropped = this.random() < this.dropRate ? 1 : 0;
    const cur: Current = {
      req,
      onset: onsetLocal + this.clockOffsetMs,
      offset: offsetLocal + this.clockOffsetMs,
      dropped,
      timer: null,
    };
    this.current = cur;
    this.emitter.emit("presentation", {
      trialId: req.trialId,
      onsetLocalMs: onsetLocal,
      offsetLocalMs: offsetLocal,
    });
    const finish = () => this.finish(cur);
    if (this.realTime) cur.timer = setTimeout(finish, Math.max(0, offsetLocal - now));
    else setImmediate(finish);
  }

  private clearNow(): void {
    const cur = this.current;
    if (!cur) return;
    if (cur.timer) clearTimeout(cur.timer);
    cur.offset = Math.max(cur.onset, Math.min(cur.offset, this.serverNow()));
    this.finish(cur);
  }

  private finish(cur: Current): void {
    if (this.current !== cur) return;
    this.current = null;
    const record: ShownRecord = {
      ...cur.req,
      onset: cur.onset,
      offset: cur.offset,
      droppedFrames: cur.dropped,
    };
    this.shown.push(record);
    this.sendJson({
      type: "shown",
      trialId: record.trialId,
      onset: record.onset,
      offset: record.offset,
      droppedFrames: record.droppedFrames,
    });
    this.startNext();
  }

  private onClose(code: number, reason: string, welcomed: boolean): void {
    if (this.current?.timer) clearTimeout(this.current.timer);
    this.current = null;
    this.queue.length = 0;
    this.emitter.emit("closed", code, reason);
    if (!this.closing && welcomed && (this.options.reconnect ?? true)) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closing) return;
      this.openSocket().then(
        () => this.emitter.emit("reconnected"),
        () => {
          if (!this.closing) this.scheduleReconnect();
        },
      );
    }, this.options.reconnectDelayMs ?? 1000);
  }
}
