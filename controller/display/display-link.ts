// Server side of one /display connection (wire contract: controller/wire/display.ts).
// The daemon authenticates the page's hello (token, version) and then hands the socket to a DisplayLink,
// which owns everything after that: preload and show requests with their replies and timeouts, clock-sync
// pings, and validation of every incoming frame (a bad frame gets an `error` frame; the socket stays open).
import type { RawData, WebSocket } from "ws";
import { EphysError } from "../../analysis/errors.ts";
import { TypedEmitter } from "../rig/typed-emitter.ts";
import { type CalibrationTarget, type DisplayServerMessage, displayClientMessage } from "../wire/display.ts";
import { describeIssues } from "../wire/errors.ts";

export interface DisplayScreen {
  width: number;
  height: number;
  refreshHz: number;
}

export interface StimulusRef {
  id: string;
  /** URL the page can fetch, relative to the page (e.g. /stimuli/<sha256>.png). */
  url: string;
}

export interface PreloadResult {
  ok: boolean;
  /** Ids of the stimuli the page could not load or decode. */
  failed: string[];
}

export interface ShownResult {
  /** Server clock (Date.now() scale) of the first frame with the stimulus. */
  onset: number;
  /** Server clock of the first frame without it. */
  offset: number;
  droppedFrames: number;
}

export interface DisplayLinkOptions {
  /** show() rejects with EPHYS_DISPLAY_TIMEOUT if `shown` has not arrived within durationMs + this; default 2000. */
  showTimeoutMarginMs?: number;
  /** preload() rejects with EPHYS_DISPLAY_TIMEOUT after this long; default 60000. */
  preloadTimeoutMs?: number;
  /** Server clock used for pong's serverTime; default Date.now. */
  now?: () => number;
}

export type DisplayLinkEvents = {
  /** Something odd but not fatal: a late `shown`, an unexpected `preloaded`, a bad frame from the page. */
  warning: [text: string];
  /** The socket closed; pending requests were rejected with EPHYS_DISPLAY_LOST. */
  closed: [reason: string];
};

export type DisplayLinkErrorCode =
  | "EPHYS_DISPLAY_TIMEOUT"
  | "EPHYS_DISPLAY_LOST"
  | "EPHYS_DISPLAY_BUSY"
  | "EPHYS_BAD_OPTION";

export class DisplayLinkError extends EphysError<DisplayLinkErrorCode> {}

interface PendingPreload {
  stimuli: StimulusRef[];
  resolve: (r: PreloadResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

interface PendingShow {
  resolve: (r: ShownResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const OPEN = 1;

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new DisplayLinkError(
      "EPHYS_BAD_OPTION",
      `DisplayLink option ${name}: expected > 0, found ${value}`,
    );
  return value;
}

export class DisplayLink {
  readonly screen: DisplayScreen;
  private readonly emitter = new TypedEmitter<DisplayLinkEvents>();
  private readonly showMarginMs: number;
  private readonly preloadTimeoutMs: number;
  private readonly now: () => number;
  private readonly preloads: PendingPreload[] = [];
  private readonly shows = new Map<number, PendingShow>();
  private closedReason: string | null = null;
  /** Clock-sync pings answered so far (the page sends a burst of 8 at start, then one now and then). */
  pingsAnswered = 0;

  constructor(
    private readonly ws: WebSocket,
    screen: DisplayScreen,
    options: DisplayLinkOptions = {},
  ) {
    this.screen = { ...screen };
    this.showMarginMs = positive("showTimeoutMarginMs", options.showTimeoutMarginMs ?? 2000);
    this.preloadTimeoutMs = positive("preloadTimeoutMs", options.preloadTimeoutMs ?? 60_000);
    this.now = options.now ?? Date.now;
    ws.on("message", this.onMessage);
    ws.on("close", this.onClose);
    ws.on("error", this.onError);
    if (ws.readyState !== OPEN) this.onClose(1006, Buffer.from("socket not open when handed over"));
  }

  on<K extends keyof DisplayLinkEvents>(
    event: K,
    listener: (...args: DisplayLinkEvents[K]) => void,
  ): () => void {
    return this.emitter.on(event, listener);
  }

  /** True until the socket closes. */
  get open(): boolean {
    return this.closedReason === null;
  }

  /**
   * Asks the page to load and decode these stimuli. Requests are serialized (the reply carries no id);
   * resolves with the page's `preloaded`, rejects with EPHYS_DISPLAY_TIMEOUT or EPHYS_DISPLAY_LOST.
   */
  preload(stimuli: StimulusRef[]): Promise<PreloadResult> {
    return new Promise<PreloadResult>((resolve, reject) => {
      if (this.closedReason !== null) {
        reject(this.lost());
        return;
      }
      this.preloads.push({
        stimuli: stimuli.map((s) => ({ id: s.id, url: s.url })),
        resolve,
        reject,
        timer: null,
      });
      if (this.preloads.length === 1) this.sendNextPreload();
    });
  }

  /**
   * Shows a preloaded stimulus for durationMs; resolves with onset/offset in server clock when the page
   * reports `shown`. Rejects with EPHYS_DISPLAY_TIMEOUT after durationMs + showTimeoutMarginMs.
   */
  show(trialId: number, stimulusId: string, durationMs: number): Promise<ShownResult> {
    return new Promise<ShownResult>((resolve, reject) => {
      if (!Number.isInteger(trialId) || trialId <= 0) {
        reject(
          new DisplayLinkError(
            "EPHYS_BAD_OPTION",
            `show: trialId must be a positive integer, found ${trialId}`,
          ),
        );
        return;
      }
      if (!(Number.isFinite(durationMs) && durationMs > 0)) {
        reject(new DisplayLinkError("EPHYS_BAD_OPTION", `show: durationMs must be > 0, found ${durationMs}`));
        return;
      }
      if (this.closedReason !== null) {
        reject(this.lost());
        return;
      }
      if (this.shows.has(trialId)) {
        reject(new DisplayLinkError("EPHYS_DISPLAY_BUSY", `show: trial ${trialId} is already being shown`));
        return;
      }
      const timeoutMs = durationMs + this.showMarginMs;
      const timer = setTimeout(() => {
        this.shows.delete(trialId);
        reject(
          new DisplayLinkError(
            "EPHYS_DISPLAY_TIMEOUT",
            `display did not report shown for trial ${trialId} (${stimulusId}, ${durationMs} ms) within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.shows.set(trialId, { resolve, reject, timer });
      this.send({ type: "show", trialId, stimulusId, durationMs });
    });
  }

  /** Asks the page to blank the screen now (e.g. on a fixation break); no reply. */
  /** Draws the eye calibration's target, or removes it (null). */
  target(target: CalibrationTarget | null): void {
    this.send({ type: "target", target });
  }

  clear(): void {
    this.send({ type: "clear" });
  }

  /** Closes the socket (pending requests reject with EPHYS_DISPLAY_LOST). */
  close(code = 1000, reason = "closed by server"): void {
    if (this.ws.readyState === OPEN) this.ws.close(code, reason);
    this.onClose(code, Buffer.from(reason));
  }

  private send(message: DisplayServerMessage): void {
    if (this.ws.readyState === OPEN) this.ws.send(JSON.stringify(message));
  }

  private sendNextPreload(): void {
    const next = this.preloads[0];
    if (!next) return;
    next.timer = setTimeout(() => {
      this.preloads.shift();
      next.reject(
        new DisplayLinkError(
          "EPHYS_DISPLAY_TIMEOUT",
          `display did not report preloaded for ${next.stimuli.length} stimuli within ${this.preloadTimeoutMs} ms`,
        ),
      );
      this.sendNextPreload();
    }, this.preloadTimeoutMs);
    this.send({ type: "preload", stimuli: next.stimuli });
  }

  private badMessage(text: string): void {
    this.send({ type: "error", code: "EPHYS_BAD_MESSAGE", message: text });
    this.emitter.emit("warning", `display sent a bad message: ${text}`);
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (isBinary) {
      this.badMessage("expected a JSON text frame, got a binary frame");
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      this.badMessage(`expected a JSON text frame, got ${JSON.stringify(data.toString().slice(0, 60))}`);
      return;
    }
    const parsed = displayClientMessage.safeParse(json);
    if (!parsed.success) {
      this.badMessage(describeIssues(parsed.error, json));
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case "ping":
        this.send({ type: "pong", n: msg.n, t: msg.t, serverTime: this.now() });
        this.pingsAnswered++;
        return;
      case "preloaded": {
        const pending = this.preloads.shift();
        if (!pending) {
          this.emitter.emit(
            "warning",
            "display sent preloaded with no preload pending (late after a timeout?)",
          );
          return;
        }
        if (pending.timer) clearTimeout(pending.timer);
        pending.resolve({ ok: msg.ok, failed: msg.failed });
        this.sendNextPreload();
        return;
      }
      case "shown": {
        const pending = this.shows.get(msg.trialId);
        if (!pending) {
          this.emitter.emit(
            "warning",
            `display sent shown for trial ${msg.trialId}, which is not pending (late?)`,
          );
          return;
        }
        this.shows.delete(msg.trialId);
        clearTimeout(pending.timer);
        if (!(msg.offset >= msg.onset)) {
          this.emitter.emit("warning", `display reported offset ${msg.offset} before onset ${msg.onset}`);
        }
        pending.resolve({ onset: msg.onset, offset: msg.offset, droppedFrames: msg.droppedFrames });
        return;
      }
      case "hello":
        this.badMessage('field "type": hello was already received on this connection');
        return;
    }
  };

  private readonly onError = (err: Error): void => {
    this.onClose(1006, Buffer.from(err.message));
  };

  private readonly onClose = (code: number, reason: Buffer): void => {
    if (this.closedReason !== null) return;
    this.closedReason = `display connection closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`;
    this.ws.off("message", this.onMessage);
    const err = this.lost();
    for (const p of this.preloads.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    for (const s of this.shows.values()) {
      clearTimeout(s.timer);
      s.reject(err);
    }
    this.shows.clear();
    this.emitter.emit("closed", this.closedReason);
  };

  private lost(): DisplayLinkError {
    return new DisplayLinkError("EPHYS_DISPLAY_LOST", this.closedReason ?? "display connection closed");
  }
}
