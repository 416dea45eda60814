// The server side of the live dashboard: per-channel statistics fed by the acquisition hub (onIngested) and the
// event log (trials voided, progress, state), published to /monitor clients a few times per second at most, and
// alerts written as event records ("alert", <kind>) so they are logged and streamed like everything else.
// Over 400 lines: one stateful class that folds ingested trials and events into per-channel statistics and
// publishes them; its pure rules are in alert-rules.ts and analysis/stats.
import type { WebSocket } from "ws";
import type { Protocol } from "../../protocols/index.ts";
import type { IngestedTrial } from "../acquisition/acquisition-hub.ts";
import { spanOf, windowNetRate } from "../acquisition/windows.ts";
import { ABSENT, spikesOf } from "../store/packed.ts";
import type { EventRecord, SessionStore } from "../store/store.ts";
import { describeIssues } from "../wire/errors.ts";
import {
  type FitProgressView,
  type MonitorAlert,
  type MonitorServerMessage,
  type MonitorSummary,
  type MonitorThresholds,
  monitorClientMessage,
} from "../wire/monitor.ts";
import { channelAlerts, summarize } from "./alert-rules.ts";
import { BreakTracker, ChannelStats, type StatusRules } from "./channel-stats.ts";

export interface MonitorStateOptions {
  store: SessionStore;
  sessionId: string;
  protocol: Protocol;
  /** Least time between two publications to the clients (ms, default 250). */
  throttleMs?: number;
  /** Least time between two recomputations of the stability measures (ms, default 1000). */
  stabilityEveryMs?: number;
  /** Consecutive trials without a spike that make a channel silent (default 20). */
  silentTrials?: number;
  /** One-sided level of the phase-1 split-half bound (default 0.05; analysis/stats/projected-reliability.ts). */
  splitHalfAlpha?: number;
  /**
   * Fixation-break spike: breaks per presentation over the last `breakWindow` sequences (× the protocol's
   * stimuliPerFixation presentations) above `breakFactor` × the running mean before them.
   */
  breakWindow?: number;
  breakFactor?: number;
  now?: () => number;
  /** A publication that throws (a bug in a view, never the day's data): reported here, the day goes on.
   *  Default: console.error. */
  onError?: (e: Error) => void;
}

interface TrialInfo {
  phase: 1 | 2 | 3;
  stimulusId: string;
  status: string;
}

/** Recently counted trials, kept so a trial voided after its data arrived can be taken back. */
const RECENT_TRIALS = 64;
const ALERTS_KEPT = 200;
const RATE_WINDOW_MS = 60_000;

export class MonitorState {
  private readonly store: SessionStore;
  private readonly sessionId: string;
  private readonly protocol: Protocol;
  private readonly rules: StatusRules;
  private readonly throttleMs: number;
  private readonly stabilityEveryMs: number;
  private readonly now: () => number;
  private readonly onError: (e: Error) => void;
  private readonly channels = new Map<string, ChannelStats>();
  private readonly clients = new Map<WebSocket, { focus: string | null }>();
  private readonly breaks: BreakTracker;
  private readonly recent = new Map<number, { info: TrialInfo; data: IngestedTrial }>();
  private readonly alerted = new Map<string, Set<string>>();
  private readonly alerts: MonitorAlert[] = [];
  private readonly unsubscribe: () => void;
  private readonly psth;
  private readonly windows;
  private state: string;
  private phase: 1 | 2 | 3 | 3 | null = null;
  private progress = { shown: 0, planned: 0, voided: 0, planComplete: true };
  private progressSamples: Array<{ t: number; shown: number }> = [];
  private fit: FitProgressView | null = null;
  private retestIds = new Map<string, string[]>();
  private phaseStimuli: [Set<string>, Set<string>, Set<string>] = [new Set(), new Set(), new Set()];
  private dirty = new Set<string>();
  private stabilityDirty = new Set<string>();
  private summaryDirty = false;
  private timer: NodeJS.Timeout | null = null;
  private lastPublish = 0;
  private lastStability = 0;
  private closed = false;

  constructor(o: MonitorStateOptions) {
    this.store = o.store;
    this.sessionId = o.sessionId;
    this.protocol = o.protocol;
    this.throttleMs = o.throttleMs ?? 250;
    this.stabilityEveryMs = o.stabilityEveryMs ?? 1000;
    this.now = o.now ?? Date.now;
    this.onError = o.onError ?? ((e) => console.error("monitor:", e));
    this.breaks = new BreakTracker(
      (o.breakWindow ?? 20) * o.protocol.presentation.stimuliPerFixation,
      o.breakFactor ?? 3,
    );
    const c = o.protocol.checks;
    this.rules = {
      stabilityMinR: c.stabilityMinR,
      splitHalfMinR: c.splitHalfMinR,
      responsivenessMinRate: c.responsivenessMinRate,
      silentTrials: o.silentTrials ?? 20,
      minSplitHalfStimuli: 10,
      splitHalfRepeats: o.protocol.presentation.repetitions,
      splitHalfAlpha: o.splitHalfAlpha ?? 0.05,
      minRetestStimuli: 5,
      minTrialsForRate: 20,
    };
    this.windows = { baseline: o.protocol.windows.baseline, response: o.protocol.windows.response };
    this.psth = { ...spanOf(this.windows), binMs: o.protocol.windows.psthBinMs };
    this.state = this.store.getSession(this.sessionId)?.state ?? "preparing";
    this.phase = phaseOfState(this.state);
    this.loadChannels();
    this.loadStored();
    this.loadAlerts();
    this.unsubscribe = this.store.onEvent((e) => this.onEvent(e));
  }

  get thresholds(): MonitorThresholds {
    return {
      stabilityMinR: this.rules.stabilityMinR,
      splitHalfMinR: this.rules.splitHalfMinR,
      responsivenessMinRate: this.rules.responsivenessMinRate,
    };
  }

  /** Take a /monitor connection whose hello was accepted: snapshot now, then the throttled updates. */
  attach(ws: WebSocket): void {
    this.clients.set(ws, { focus: null });
    this.sendTo(ws, this.snapshot());
    ws.on("message", (raw, isBinary) => {
      let json: unknown;
      try {
        json = isBinary ? undefined : JSON.parse(raw.toString());
      } catch {
        json = undefined;
      }
      const parsed = monitorClientMessage.safeParse(json);
      if (!parsed.success)
        return this.sendTo(ws, {
          type: "error",
          code: "EPHYS_BAD_MESSAGE",
          message: describeIssues(parsed.error, json),
        });
      const m = parsed.data;
      if (m.type === "hello")
        return this.sendTo(ws, {
          type: "error",
          code: "EPHYS_BAD_MESSAGE",
          message: "hello was already received on this connection",
        });
      const client = this.clients.get(ws);
      if (!client) return;
      client.focus = m.channelId;
      const ch = m.channelId === null ? undefined : this.channels.get(m.channelId);
      if (m.channelId !== null && !ch)
        return this.sendTo(ws, {
          type: "error",
          code: "EPHYS_UNKNOWN_CHANNEL",
          message: `focus: no channel ${m.channelId}`,
        });
      if (ch)
        this.sendTo(ws, {
          type: "channel",
          t: this.now(),
          detail: ch.detail(this.currentPhase(), this.rules, this.stimuliCount()),
        });
    });
    ws.on("close", () => this.clients.delete(ws));
  }

  snapshot(): Extract<MonitorServerMessage, { type: "snapshot" }> {
    const phase = this.currentPhase();
    return {
      type: "snapshot",
      sessionId: this.sessionId,
      thresholds: this.thresholds,
      summary: this.summary(),
      channels: [...this.channels.values()].map((c) => c.live(phase, this.rules, this.stimuliCount())),
      fit: this.fit,
      alerts: this.alerts.slice(),
    };
  }

  /** The acquisition hub's onIngested: newly stored trials with their window counts and spike times. */
  ingest(trials: IngestedTrial[]): void {
    if (this.closed) return;
    const t = this.now();
    for (const trial of trials) {
      const info = this.trialInfo(trial.trialId);
      if (!info || info.status === "voided") continue;
      this.phaseStimuli[info.phase - 1].add(info.stimulusId);
      // Net rate and "fired" straight from the packed counts (no per-channel objects).
      const nW = trial.windows.length;
      const r = trial.windows.indexOf("response");
      const b = trial.windows.indexOf("baseline");
      const count = (c: number, w: number) => {
        const n = w < 0 ? ABSENT : trial.counts[c * nW + w];
        return n === ABSENT ? 0 : n;
      };
      trial.channelIds.forEach((id, c) => {
        const spikes = spikesOf(trial, c);
        let fired = spikes ? spikes.length > 0 : false;
        if (!spikes) for (let w = 0; w < nW && !fired; w++) fired = count(c, w) > 0;
        const rate = windowNetRate(count(c, r), count(c, b), this.windows);
        this.channel(id).addRate(info.phase, trial.trialId, info.stimulusId, rate, fired, spikes, t);
        this.dirty.add(id);
        this.stabilityDirty.add(id);
      });
      this.recent.set(trial.trialId, { info, data: trial });
      if (this.recent.size > RECENT_TRIALS) this.recent.delete(this.recent.keys().next().value as number);
    }
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe();
    this.clients.clear();
  }

  /** Publish now what is pending (tests; the timer does it otherwise). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.publish(true);
  }

  private onEvent(e: EventRecord): void {
    if (this.closed || e.session_id !== this.sessionId) return;
    const content = safeParse(e.content);
    switch (e.type) {
      case "state":
        this.state = e.subtype;
        if (phaseOfState(e.subtype) !== null) this.setPhase(phaseOfState(e.subtype)!);
        this.summaryDirty = true;
        break;
      case "progress":
        if (e.subtype === "phase1" || e.subtype === "phase2" || e.subtype === "phase3") {
          const n = phaseOfState(e.subtype)!;
          const samePhase = this.phase === n && this.progress.planned > 0;
          this.setPhase(n);
          const next = {
            shown: num(content.shown),
            planned: num(content.planned),
            voided: num(content.voided),
            planComplete: content.complete !== false, // absent before phase 3's plan could grow: complete
          };
          if (samePhase)
            this.onPresentations(next.shown - this.progress.shown, next.voided - this.progress.voided);
          this.progress = next;
          this.progressSamples.push({ t: e.t, shown: this.progress.shown });
          while (this.progressSamples.length > 2 && this.progressSamples[0].t < e.t - RATE_WINDOW_MS)
            this.progressSamples.shift();
          this.summaryDirty = true;
        } else this.onFitProgress(e.subtype, content);
        break;
      case "trial":
        if (e.subtype === "voided") this.onVoided(num(content.trialId));
        break;
      case "rig":
        if (e.subtype === "lost")
          this.alertLater("rig-lost", `rig box connection lost: ${String(content.reason ?? "")}`);
        break;
      case "acquisition":
        if (e.subtype === "connected") this.loadChannels();
        else if (e.subtype === "disconnected")
          this.alertLater("acquisition-lost", "the acquisition bridge disconnected");
        break;
      case "display":
        if (e.subtype === "disconnected")
          this.alertLater("display-lost", "the stimulus display disconnected");
        break;
      case "selection":
        this.retestIds.clear();
        break;
      case "alert":
        this.alerts.push(toAlert(e, content));
        if (this.alerts.length > ALERTS_KEPT) this.alerts.shift();
        break;
    }
    if (this.summaryDirty) this.schedule();
  }

  private setPhase(phase: 1 | 2 | 3): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.progress = { shown: 0, planned: 0, voided: 0, planComplete: true };
    this.progressSamples = [];
    for (const id of this.channels.keys()) {
      this.dirty.add(id);
      this.stabilityDirty.add(id);
    }
  }

  private onVoided(trialId: number): void {
    const r = this.recent.get(trialId);
    if (!r) return;
    this.recent.delete(trialId);
    r.data.channelIds.forEach((id, c) => {
      if (this.channels.get(id)?.remove(r.info.phase, trialId, r.info.stimulusId, spikesOf(r.data, c))) {
        this.dirty.add(id);
        this.stabilityDirty.add(id);
      }
    });
    this.schedule();
  }

  /** Presentations since the last progress record: shown ones, and ones voided by a fixation break. */
  private onPresentations(shown: number, voided: number): void {
    let spike: { recent: number; baseline: number } | null = null;
    for (let i = 0; i < shown; i++) spike = this.breaks.record(false) ?? spike;
    for (let i = 0; i < voided; i++) spike = this.breaks.record(true) ?? spike;
    this.summaryDirty = true;
    if (spike)
      this.alertLater(
        "fixation-breaks",
        `fixation breaks in ${pct(spike.recent)} of the last ${this.breaks.window} presentations (running mean ${pct(spike.baseline)})`,
        { recent: spike.recent, baseline: spike.baseline },
      );
  }

  private onFitProgress(stage: string, content: Record<string, unknown>): void {
    const losses = Array.isArray(content.bestValLoss) ? (content.bestValLoss as unknown[]).map(Number) : null;
    // The fit's channel order: the session's channels that have phase-1 data (controller/session/between-phases.ts).
    const order = [...this.channels.values()].filter((c) => c.trials(1) > 0).map((c) => c.id);
    this.fit = {
      stage,
      epoch: typeof content.epoch === "number" ? content.epoch : (this.fit?.epoch ?? null),
      active: typeof content.active === "number" ? content.active : (this.fit?.active ?? null),
      done: typeof content.done === "number" ? content.done : null,
      total: typeof content.total === "number" ? content.total : null,
      channels: losses
        ? losses.map((v, i) => ({ id: order[i] ?? `#${i}`, bestValLoss: v }))
        : (this.fit?.channels ?? []),
    };
    this.broadcast({ type: "fit", t: this.now(), fit: this.fit });
  }

  private currentPhase(): 1 | 2 | 3 {
    return this.phase ?? 1;
  }

  private stimuliCount(): number {
    return this.phaseStimuli[this.currentPhase() - 1].size;
  }

  private channel(id: string): ChannelStats {
    let c = this.channels.get(id);
    if (!c) {
      c = new ChannelStats(id, this.psth, this.windows);
      this.channels.set(id, c);
    }
    return c;
  }

  private loadChannels(): void {
    for (const c of this.store.channels(this.sessionId)) this.channel(c.id);
    this.summaryDirty = true;
  }

  /** A resumed session: rates from the stored counts (no PSTH: spike times of past trials are not reread). */
  private loadStored(): void {
    for (const row of this.store.counts(this.sessionId)) {
      const phase = row.phase as 1 | 2 | 3;
      this.phaseStimuli[phase - 1].add(row.stimulus_id);
      this.channel(row.channel_id).add(
        phase,
        row.trial_id,
        row.stimulus_id,
        row.counts,
        undefined,
        this.now(),
      );
      this.stabilityDirty.add(row.channel_id);
    }
  }

  private loadAlerts(): void {
    for (const e of this.store.latestEvents(this.sessionId, "alert", ALERTS_KEPT))
      this.alerts.push(toAlert(e, safeParse(e.content)));
  }

  private trialInfo(trialId: number): TrialInfo | null {
    return this.store.trialInfo(this.sessionId, trialId);
  }

  private retestFor(channelId: string): string[] {
    if (this.retestIds.size === 0) {
      for (const s of this.store.selections(this.sessionId)) {
        if (s.rule !== "retest") continue;
        const list = this.retestIds.get(s.channelId) ?? [];
        list.push(s.stimulusId);
        this.retestIds.set(s.channelId, list);
      }
      if (this.retestIds.size === 0) this.retestIds.set("", []); // none stored yet; ask again after a selection event
    }
    return this.retestIds.get(channelId) ?? [];
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const wait = Math.max(0, this.lastPublish + this.throttleMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      try {
        this.publish(false);
      } catch (e) {
        this.onError(e as Error);
      }
    }, wait);
    this.timer.unref?.();
  }

  private publish(force: boolean): void {
    if (this.closed) return;
    const t = this.now();
    this.lastPublish = t;
    const phase = this.currentPhase();
    const stimuli = this.stimuliCount();
    if (this.stabilityDirty.size && (force || t - this.lastStability >= this.stabilityEveryMs)) {
      this.lastStability = t;
      for (const id of this.stabilityDirty) {
        const ch = this.channels.get(id);
        if (!ch) continue;
        ch.updateStability(phase, phase === 2 ? this.retestFor(id) : [], this.rules);
        this.dirty.add(id);
      }
      this.stabilityDirty.clear();
    } else if (this.stabilityDirty.size) this.schedule(); // recompute once the interval has passed
    const changed = [...this.dirty];
    this.dirty.clear();
    for (const id of changed) this.checkChannelAlerts(this.channels.get(id)!, phase, stimuli);
    if (changed.length) {
      this.broadcast({
        type: "channels",
        t,
        channels: [...this.channels.values()].map((c) => c.live(phase, this.rules, stimuli)),
      });
      for (const [ws, client] of this.clients) {
        if (client.focus === null || !changed.includes(client.focus)) continue;
        const ch = this.channels.get(client.focus);
        if (ch) this.sendTo(ws, { type: "channel", t, detail: ch.detail(phase, this.rules, stimuli) });
      }
    }
    if (this.summaryDirty || changed.length) {
      this.summaryDirty = false;
      this.broadcast({ type: "summary", t, summary: this.summary() });
    }
  }

  /** An alert when a channel enters a bad status (once; again only after it recovered): alert-rules.ts. */
  private checkChannelAlerts(ch: ChannelStats, phase: 1 | 2 | 3, stimuli: number): void {
    const active = this.alerted.get(ch.id) ?? new Set<string>();
    this.alerted.set(ch.id, active);
    for (const a of channelAlerts(ch, phase, stimuli, this.rules, active))
      this.alert(a.kind, a.message, a.details);
  }

  private summary(): MonitorSummary {
    return summarize(this.state, this.phase, this.progress, this.progressSamples, this.breaks.rates());
  }

  private alert(kind: string, message: string, details: Record<string, unknown> = {}): void {
    if (this.closed) return;
    try {
      this.store.appendEvent(this.sessionId, "alert", kind, { message, ...details });
    } catch {
      // the store closed under us (daemon stopping): nothing left to tell
    }
  }

  /** Alerts raised inside another event's listener are written after it, not inside its transaction. */
  private alertLater(kind: string, message: string, details: Record<string, unknown> = {}): void {
    setImmediate(() => this.alert(kind, message, details));
  }

  private broadcast(m: MonitorServerMessage): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify(m);
    for (const ws of this.clients.keys()) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  private sendTo(ws: WebSocket, m: MonitorServerMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  }
}

/** The phase a day state presents ("phase2.paused" → 2), or null. */
function phaseOfState(state: string): 1 | 2 | 3 | null {
  const m = /^phase([123])\b/.exec(state);
  return m ? (Number(m[1]) as 1 | 2 | 3) : null;
}

function safeParse(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const pct = (v: number) => `${Math.round(v * 100)} %`;

function toAlert(e: EventRecord, content: Record<string, unknown>): MonitorAlert {
  return {
    id: e.id,
    t: e.t,
    kind: e.subtype,
    message: String(content.message ?? e.subtype),
    ...(typeof content.channelId === "string" ? { channelId: content.channelId } : {}),
  };
}
