// A simulated acquisition bridge: connects to /acquisition, answers each announced trial with Poisson spike
// trains from the ground-truth neurons, keeps every message until it is acked, replays after reconnects, and can
// inject faults (dropped connections, duplicates, reordering, delays, malformed frames) to test the daemon's ingest.
import { WebSocket } from "ws";
import { mulberry32, type Random } from "../../analysis/random.ts";
import type { AcquisitionServerMessage } from "../wire/acquisition.ts";

export interface BridgeFaults {
  /** Close the connection after every n-th message sent (0 = never). */
  dropEvery?: number;
  /** Probability that a message is sent twice. */
  duplicate?: number;
  /** Probability that a message is held back and sent after the next one. */
  reorder?: number;
  /** Extra delay before sending, ms. */
  delayMs?: number;
  /** Probability that a malformed frame (not JSON, a wrong field, an unknown type) goes out before a message. */
  garbage?: number;
}

/** Malformed frames a faulty bridge might send; each gets an error frame and changes nothing. */
const GARBAGE = [
  "{not json",
  JSON.stringify({ type: "spikes", seq: "x", trialId: 1, channels: {} }),
  JSON.stringify({ type: "nonsense" }),
  JSON.stringify({ type: "counts", seq: 1, trialId: 1, channels: { "<b>": { response: 1 } } }),
  "",
];

export interface SimulatedTrialTruth {
  trialId: number;
  stimulusId: string;
  /** Spike times per channel, ms from onset. */
  spikes: Record<string, number[]>;
}

export interface BridgeOptions {
  url: string;
  token: string;
  channels: Array<{ id: string; probe: string; index: number }>;
  /** Expected rate (spikes/s) of a channel to a stimulus in the response period. */
  rate: (channelId: string, stimulusId: string) => number;
  baselineRate: number;
  latencyMs: number;
  stimulusMs: number;
  seed: number;
  /** Wall-clock wait after onset before sending (the post window, scaled). */
  sendAfterMs: number;
  faults?: BridgeFaults;
  onTruth?: (t: SimulatedTrialTruth) => void;
  onError?: (m: { code: string; message: string }) => void;
}

/** Poisson spike train on [fromMs, toMs) at a piecewise-constant rate. */
export function poissonTrain(
  random: Random,
  fromMs: number,
  toMs: number,
  rateAt: (tMs: number) => number,
  stepMs = 1,
): number[] {
  const out: number[] = [];
  for (let t = fromMs; t < toMs; t += stepMs) {
    if (random() < (rateAt(t) * stepMs) / 1000) out.push(Math.round((t + random() * stepMs) * 100) / 100);
  }
  return out;
}

export class SimulatedBridge {
  private ws: WebSocket | null = null;
  private seq = 0;
  private readonly unacked = new Map<number, string>();
  private readonly random: Random;
  private sentCount = 0;
  private held: string | null = null;
  private stopped = false;
  private readonly generated = new Set<number>();
  private window = { preMs: 100, postMs: 250 };
  readonly errors: Array<{ code: string; message: string }> = [];
  /** Every seq the daemon acknowledged (it promised these are stored). */
  readonly acked = new Set<number>();
  connects = 0;

  /** Names this bridge process in its hello, so a reconnect replaces a connection the daemon still holds open. */
  readonly bridgeId = `simulated-${process.pid}-${Date.now().toString(36)}`;

  constructor(private readonly o: BridgeOptions) {
    this.random = mulberry32(o.seed);
  }

  get pending(): number {
    return this.unacked.size;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.o.url}/acquisition`);
      this.ws = ws;
      ws.on("open", () =>
        ws.send(
          JSON.stringify({
            type: "hello",
            role: "acquisition",
            version: 1,
            token: this.o.token,
            bridgeId: this.bridgeId,
            channels: this.o.channels,
          }),
        ),
      );
      ws.on("message", (raw) => {
        const m = JSON.parse(raw.toString()) as AcquisitionServerMessage;
        if (m.type === "welcome") {
          this.connects++;
          this.window = m.window;
          // Replay everything not acked, in order (the daemon acks duplicates and never counts them twice).
          for (const key of [...this.unacked.keys()].sort((a, b) => a - b))
            if (key <= m.lastAckedSeq) this.unacked.delete(key);
          for (const key of [...this.unacked.keys()].sort((a, b) => a - b)) ws.send(this.unacked.get(key)!);
          resolve();
        } else if (m.type === "ack") {
          this.unacked.delete(m.seq);
          this.acked.add(m.seq);
        } else if (m.type === "trial") this.onTrial(m.trialId, m.stimulusId);
        else if (m.type === "error") {
          this.errors.push(m);
          this.o.onError?.(m);
        }
      });
      ws.on("error", (e) => {
        if (this.connects === 0) reject(e);
      });
      ws.on("close", (code, reason) => {
        this.ws = null;
        // Before the first welcome the caller learns why (a refused hello, say); after it, reconnect and replay.
        if (this.connects === 0) {
          const refusal = this.errors.at(-1);
          reject(
            new Error(
              refusal
                ? `the daemon refused the bridge: ${refusal.code}: ${refusal.message}`
                : `the connection closed before the welcome (${code} ${reason.toString()})`,
            ),
          );
          return;
        }
        if (!this.stopped) setTimeout(() => this.connect().catch(() => {}), 200);
      });
    });
  }

  close(): void {
    this.stopped = true;
    this.ws?.close();
  }

  private onTrial(trialId: number, stimulusId: string): void {
    if (this.generated.has(trialId)) return; // announced again after a reconnect; already sent or queued
    this.generated.add(trialId);
    const { latencyMs, stimulusMs, baselineRate } = this.o;
    const spikes: Record<string, number[]> = {};
    for (const c of this.o.channels) {
      const r = this.o.rate(c.id, stimulusId);
      spikes[c.id] = poissonTrain(this.random, -this.window.preMs, this.window.postMs, (t) =>
        t >= latencyMs && t < latencyMs + stimulusMs ? r : baselineRate,
      );
    }
    this.o.onTruth?.({ trialId, stimulusId, spikes });
    const text = JSON.stringify({ type: "spikes", seq: ++this.seq, trialId, channels: spikes });
    this.unacked.set(this.seq, text);
    setTimeout(() => this.send(text), this.o.sendAfterMs + (this.o.faults?.delayMs ?? 0));
  }

  private releaseHeld(): void {
    if (this.held !== null && this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.held);
    this.held = null;
  }

  private send(text: string): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return; // replayed after the reconnect
    const f = this.o.faults ?? {};
    if (f.reorder && this.held === null && this.random() < f.reorder) {
      this.held = text;
      setTimeout(() => this.releaseHeld(), 50);
      return;
    }
    if (f.garbage && this.random() < f.garbage) ws.send(GARBAGE[Math.floor(this.random() * GARBAGE.length)]);
    ws.send(text);
    this.releaseHeld();
    if (f.duplicate && this.random() < f.duplicate) ws.send(text);
    this.sentCount++;
    if (f.dropEvery && this.sentCount % f.dropEvery === 0) ws.terminate();
  }
}
