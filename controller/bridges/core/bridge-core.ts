// What every acquisition bridge does once its input has turned the acquisition system's stream into TTL changes
// and spikes on the acquisition clock (sample numbers): event words and photodiode edges (event-words.ts), onsets
// paired with the daemon's announcements in order (trial-matcher.ts), each trial's spikes cut around its onset
// (spike-buffer.ts) once onset + postMs has passed on the acquisition clock, committed to the outbox and sent
// (outbox.ts, daemon-link.ts). Mismatches and timing problems go to the daemon as notices (event log, monitor),
// repeats of one code collapsed into periodic summaries (notice-limiter.ts).
// An input module (openephys/input.ts; SpikeGLX later) calls ttlLine/ttlWord/spike; nothing here knows its format.

import type { DaemonLink, Notice } from "./daemon-link.ts";
import { EventWordDecoder, type EventWordOptions, type LineEvent } from "./event-words.ts";
import { NoticeLimiter, type NoticeLimits } from "./notice-limiter.ts";
import type { Outbox } from "./outbox.ts";
import { SpikeBuffer } from "./spike-buffer.ts";
import { type AnnouncedTrial, type Clock, type MatchOutcome, TrialMatcher } from "./trial-matcher.ts";

export interface BridgeTiming {
  /** Wait this long past onset + postMs (acquisition clock) before cutting a trial: late spikes of the block. */
  settleMs: number;
  /** The photodiode must rise within this long after the event word; else the word's sample is the onset. */
  photodiodeMaxMs: number;
  /** A trial's code must come within this long of its announcement (both clocks); else it is missing. */
  maxOnsetDelayMs: number;
  /** An unmatched code waits this long for a late announcement before it is reported as extra. */
  graceMs: number;
  /** With no input for this long (wall), the acquisition clock is taken to run on at wall speed. */
  idleMs: number;
}

export const defaultTiming: BridgeTiming = {
  settleMs: 20,
  photodiodeMaxMs: 100,
  maxOnsetDelayMs: 2000,
  graceMs: 500,
  idleMs: 500,
};

/** A spike further behind the clock than this (s) is a clock reset, not a late spike. */
const LATE_LIMIT_S = 1;
/** How many of the last sent trials a late spike is checked against. */
const SENT_WINDOWS_KEPT = 32;

export interface BridgeCoreOptions {
  /** Channel ids, in the order of the input's channel indices. */
  channelIds: string[];
  words: EventWordOptions;
  timing?: Partial<BridgeTiming>;
  /** How repeats of one notice code are collapsed (notice-limiter.ts). */
  noticeLimits?: Partial<NoticeLimits>;
  outbox: Outbox;
  link: Pick<DaemonLink, "send" | "notice">;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** Each trial's message, as committed (tests, bench). */
  onTrialSent?: (t: {
    trialId: number;
    seq: number;
    onsetSample: number;
    source: "photodiode" | "event";
  }) => void;
}

interface OpenTrial {
  trial: AnnouncedTrial;
  wordSample: number;
  onset?: number;
  source?: "photodiode" | "event";
}

export interface TrialOnset {
  source: "photodiode" | "event";
  /** The onset's acquisition sample number. */
  sample: number;
  sampleRate: number;
  /** Photodiode onset − event-word onset, ms; null when no photodiode line is configured or it did not rise. */
  photodiodeMinusEventMs: number | null;
}

export class BridgeCore {
  readonly timing: BridgeTiming;
  private readonly decoder: EventWordDecoder;
  private matcher: TrialMatcher | null = null;
  private readonly spikes = new SpikeBuffer();
  private readonly open: OpenTrial[] = [];
  private readonly rises: number[] = [];
  private rate = 0;
  private window: { preMs: number; postMs: number } | null = null;
  private clockSample = Number.NEGATIVE_INFINITY;
  private lastInputWall = Date.now();
  private pendingAnnouncements: Array<{ trial: AnnouncedTrial; wallMs: number }> = [];
  private readonly revoked = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly notices: NoticeLimiter;
  /** The furthest behind the stream's clock a spike has arrived (samples, up to LATE_LIMIT_S): added to settleMs. */
  private lateSamples = 0;
  /** The windows of the last trials sent (a spike arriving late into one of them is reported). */
  private readonly sentWindows: Array<{ trialId: number; from: number; to: number }> = [];

  constructor(private readonly o: BridgeCoreOptions) {
    this.timing = { ...defaultTiming, ...o.timing };
    this.decoder = new EventWordDecoder(o.words);
    this.notices = new NoticeLimiter((n) => {
      o.log?.("warn", `${n.code}: ${n.message}`);
      o.link.notice(n);
    }, o.noticeLimits);
  }

  get sampleRate(): number {
    return this.rate;
  }

  /** Latest acquisition sample seen. */
  get clock(): number {
    return this.clockSample;
  }

  get openTrials(): number {
    return this.open.length;
  }

  /** The acquisition system's sample rate (the input learns it from the stream or the channel map). */
  setSampleRate(rate: number): void {
    if (this.rate === rate) return;
    if (this.rate !== 0) throw new Error(`sample rate changed from ${this.rate} to ${rate} Hz`);
    this.rate = rate;
    this.matcher = new TrialMatcher({
      sampleRate: rate,
      maxOnsetDelayMs: this.timing.maxOnsetDelayMs,
      graceMs: this.timing.graceMs,
    });
    for (const a of this.pendingAnnouncements.splice(0))
      this.handle(this.matcher.announce(a.trial, this.now()));
  }

  /** The daemon's welcome: its window of spike times. */
  setWindow(w: { preMs: number; postMs: number }): void {
    this.window = w;
  }

  /** Re-check on a wall-clock timer (idle streams, expiries). */
  startTimer(everyMs = 50): void {
    this.timer ??= setInterval(() => this.service(), everyMs);
  }

  /** Stops the timer; held notices go out as their summaries. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.notices.flush(Date.now());
  }

  /** A presentation announced by the daemon (`replay`: re-announced at connect, announced before we were). */
  announce(t: AnnouncedTrial & { replay: boolean }): void {
    const trial = { trialId: t.trialId, eventCode: t.eventCode, stimulusId: t.stimulusId };
    if (this.o.outbox.trialOutcome(t.trialId) !== undefined) return; // answered before (sent or reported)
    if (this.open.some((x) => x.trial.trialId === t.trialId) || this.matcher?.has(t.trialId)) return;
    if (this.pendingAnnouncements.some((a) => a.trial.trialId === t.trialId)) return;
    if (t.replay) {
      // Announced while this bridge was not connected: its onset may be past and unseen; pairing a later code
      // with it could put another presentation's spikes on this stimulus. It gets no data.
      this.o.outbox.markTrial(t.trialId, "missing");
      this.notice({
        code: "EPHYS_BRIDGE_MISSED_TRIAL",
        message: `trial ${t.trialId} (event code ${t.eventCode}) was announced while the bridge was not connected; its onset cannot be paired safely, so it gets no data`,
        trialId: t.trialId,
      });
      return;
    }
    if (t.eventCode >= 2 ** this.o.words.eventLines.length)
      this.notice({
        code: "EPHYS_BRIDGE_CODE_TOO_WIDE",
        message: `trial ${t.trialId}: event code ${t.eventCode} needs more than the ${this.o.words.eventLines.length} event lines of the channel map`,
        trialId: t.trialId,
      });
    if (!this.matcher) this.pendingAnnouncements.push({ trial, wallMs: Date.now() });
    else this.handle(this.matcher.announce(trial, this.now()));
    this.service();
  }

  ttlLine(sourceKey: string, node: number, sample: number, line: number, state: boolean): void {
    this.input(sample);
    this.lineEvents(this.decoder.line(sourceKey, node, sample, line, state));
    this.service();
  }

  ttlWord(sourceKey: string, node: number, sample: number, word: bigint): void {
    this.input(sample);
    this.lineEvents(this.decoder.wholeWord(sourceKey, node, sample, word));
    this.service();
  }

  /** A spike that counts for these channel indices. Cheap: no pairing work unless the clock moved on. */
  spike(sample: number, channels: readonly number[]): void {
    for (let i = 0; i < channels.length; i++) this.spikes.push(sample, channels[i]);
    if (sample > this.clockSample) {
      this.input(sample);
      this.lineEvents(this.decoder.advance(sample));
      if (this.open.length || this.matcher?.waitingTrials.length) this.service();
    } else {
      this.lastInputWall = Date.now();
      if (sample < this.clockSample && channels.length) this.late(sample);
    }
  }

  /**
   * A spike behind the stream's clock (a processing block whose events are not in sample order): every later trial
   * waits that much longer before it is cut; one whose data already went out without it is reported.
   */
  private late(sample: number): void {
    const behind = this.clockSample - sample;
    if (!this.rate || behind > LATE_LIMIT_S * this.rate) return; // a clock reset, not a late spike
    if (behind > this.lateSamples) this.lateSamples = behind;
    const w = this.sentWindows.find((x) => sample >= x.from && sample <= x.to);
    if (w)
      this.notice({
        code: "EPHYS_BRIDGE_LATE_SPIKE",
        message: `trial ${w.trialId}: a spike at sample ${sample} arrived ${((behind * 1000) / this.rate).toFixed(1)} ms behind the stream, after the trial's data had gone out without it; later trials now wait ${(this.timing.settleMs + (this.lateSamples * 1000) / this.rate).toFixed(1)} ms past their window (raise --settle-ms to start with that)`,
        trialId: w.trialId,
      });
  }

  /** Something the day should know: to the daemon and the log, repeats of one code collapsed. */
  notice(n: Notice): void {
    this.notices.push(n, Date.now());
  }

  /** Expiries, photodiode deadlines, finished windows, old spikes; runs on every clock step and on the timer. */
  service(): void {
    this.notices.tick(Date.now());
    if (!this.matcher || !this.rate) return;
    const now = this.now();
    this.lineEvents(this.decoder.advance(now.sample));
    this.handle(this.matcher.tick(now));
    if (!this.window) return;
    const perMs = this.rate / 1000;
    const ready: OpenTrial[] = [];
    for (const t of this.open) {
      if (t.onset === undefined) this.resolveOnset(t, now.sample);
      if (
        t.onset !== undefined &&
        now.sample >= t.onset + (this.window.postMs + this.timing.settleMs) * perMs + this.lateSamples
      )
        ready.push(t);
    }
    if (ready.length) this.emit(ready);
    // Keep the spikes and photodiode rises that an open trial, or an onset still waiting for its announcement (held
    // up to graceMs of both clocks), may need: at 50× real time (the demo) the acquisition clock passes a whole
    // trial while an announcement is a few wall ms late.
    const horizon = this.open.reduce(
      (m, t) => Math.min(m, t.wordSample),
      Math.min(
        now.sample -
          (this.timing.photodiodeMaxMs + this.timing.settleMs + this.window.postMs) * perMs -
          this.lateSamples,
        this.matcher.oldestHeldSample ?? Number.POSITIVE_INFINITY,
      ),
    );
    this.spikes.dropBefore(horizon - (this.window.preMs + 1) * perMs);
    while (this.rises.length && this.rises[0] < horizon - this.timing.photodiodeMaxMs * perMs)
      this.rises.shift();
  }

  private input(sample: number): void {
    this.lastInputWall = Date.now();
    if (sample > this.clockSample) this.clockSample = sample;
  }

  /** The acquisition clock: the latest sample seen, run on at wall speed once the stream has been idle. */
  private now(): Clock {
    const wallMs = Date.now();
    const idle = wallMs - this.lastInputWall - this.timing.idleMs;
    const base = Number.isFinite(this.clockSample) ? this.clockSample : 0;
    return { sample: idle > 0 && this.rate ? base + (idle * this.rate) / 1000 : base, wallMs };
  }

  private lineEvents(events: LineEvent[]): void {
    for (const e of events) {
      if (e.kind === "photodiode") {
        if (e.rising) this.rises.push(e.sample);
        continue;
      }
      if (!this.matcher) {
        this.notice({
          code: "EPHYS_BRIDGE_NO_SAMPLE_RATE",
          message: `event code ${e.code} at sample ${e.sample} before the sample rate is known; ignored`,
        });
        continue;
      }
      this.handle(this.matcher.onset(e.code, { sample: e.sample, wallMs: Date.now() }));
    }
  }

  private handle(outcomes: MatchOutcome[]): void {
    for (const m of outcomes) {
      if (m.kind === "paired") {
        this.open.push({ trial: m.trial, wordSample: m.sample });
        continue;
      }
      if (m.kind === "extra") {
        this.notice({ code: "EPHYS_BRIDGE_EXTRA_CODE", message: m.message });
        continue;
      }
      this.o.outbox.markTrial(m.trial.trialId, "missing");
      if (m.kind === "missing") {
        this.notice({ code: "EPHYS_BRIDGE_MISSING_CODE", message: m.message, trialId: m.trial.trialId });
        continue;
      }
      // Out of order: the trial paired by the earlier decision may hold the wrong onset; take it back if unsent.
      this.notice({ code: "EPHYS_BRIDGE_OUT_OF_ORDER", message: m.message, trialId: m.trial.trialId });
      const i = this.open.findIndex((t) => t.trial.trialId === m.revoke);
      if (i >= 0) {
        this.open.splice(i, 1);
        this.o.outbox.markTrial(m.revoke, "missing");
        this.notice({
          code: "EPHYS_BRIDGE_OUT_OF_ORDER",
          message: `trial ${m.revoke}: its pairing is in doubt (codes out of order); it gets no data`,
          trialId: m.revoke,
        });
      } else if (!this.revoked.has(m.revoke) && this.o.outbox.trialOutcome(m.revoke) === "sent")
        this.notice({
          code: "EPHYS_BRIDGE_OUT_OF_ORDER",
          message: `trial ${m.revoke}: its data were already sent when the codes turned out of order; check its onset`,
          trialId: m.revoke,
        });
      this.revoked.add(m.revoke);
    }
  }

  private resolveOnset(t: OpenTrial, clock: number): void {
    if (this.o.words.photodiodeLine === undefined) {
      t.onset = t.wordSample;
      t.source = "event";
      return;
    }
    const limit = t.wordSample + (this.timing.photodiodeMaxMs * this.rate) / 1000;
    const rise = this.rises.find((r) => r >= t.wordSample && r <= limit);
    if (rise !== undefined) {
      t.onset = rise;
      t.source = "photodiode";
    } else if (clock > limit + (this.timing.settleMs * this.rate) / 1000) {
      t.onset = t.wordSample;
      t.source = "event";
      this.notice({
        code: "EPHYS_BRIDGE_NO_PHOTODIODE",
        message: `trial ${t.trial.trialId}: no photodiode rise within ${this.timing.photodiodeMaxMs} ms of its event code; the event code's sample is its onset`,
        trialId: t.trial.trialId,
      });
    }
  }

  private emit(ready: OpenTrial[]): void {
    const w = this.window!;
    const perMs = this.rate / 1000;
    const n = this.o.channelIds.length;
    const items = ready.map((t) => {
      const onset = t.onset!;
      const times = this.spikes.window(
        onset - w.preMs * perMs,
        onset + w.postMs * perMs,
        onset,
        this.rate,
        n,
      );
      const channels: Record<string, number[]> = {};
      this.o.channelIds.forEach((id, c) => {
        channels[id] = times[c];
      });
      const timing: TrialOnset = {
        source: t.source!,
        sample: onset,
        sampleRate: this.rate,
        photodiodeMinusEventMs: t.source === "photodiode" ? (onset - t.wordSample) / perMs : null,
      };
      return {
        trialId: t.trial.trialId,
        build: (seq: number) =>
          JSON.stringify({ type: "spikes", seq, trialId: t.trial.trialId, channels, onset: timing }),
      };
    });
    const committed = this.o.outbox.add(items);
    for (const t of ready)
      this.sentWindows.push({
        trialId: t.trial.trialId,
        from: t.onset! - w.preMs * perMs,
        to: t.onset! + w.postMs * perMs,
      });
    this.sentWindows.splice(0, this.sentWindows.length - SENT_WINDOWS_KEPT);
    for (const t of ready) this.open.splice(this.open.indexOf(t), 1);
    this.o.link.send(committed);
    for (const [i, c] of committed.entries())
      this.o.onTrialSent?.({
        trialId: c.trialId,
        seq: c.seq,
        onsetSample: ready[i].onset!,
        source: ready[i].source!,
      });
  }
}
