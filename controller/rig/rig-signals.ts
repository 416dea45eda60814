// What a version 2 rig box measures, kept for the last half minute on the box's clock and mapped onto the daemon's
// when asked (the mapping improves as PING/PONG samples accumulate): photodiode edges, for each presentation's
// measured onset and offset, and eye samples, for the presentation's eye summary, the calibration and the dashboard.
import { type EyeSummary, summarizeEye } from "../../analysis/eye/index.ts";

export interface EyeSample {
  boxMs: number;
  xDeg: number;
  yDeg: number;
  xMv: number;
  yMv: number;
}

/** What the rig measured during one presentation (all absent when nothing was measured). */
export interface PresentationMeasures {
  pdOnsetMs?: number;
  pdOffsetMs?: number;
  eye?: EyeSummary;
}

const KEEP_MS = 30_000;
/** A photodiode onset belongs to a presentation when it lies this far around the display's reported onset. */
const ONSET_BEFORE_MS = 50;
const ONSET_AFTER_MS = 200;
/** How long measure() waits for the photodiode's off edge once the display reported the offset. */
const OFF_EDGE_WAIT_MS = 150;

export class RigSignals {
  private edges: Array<{ on: boolean; boxMs: number }> = [];
  private eye: EyeSample[] = [];
  private sawOnEdge = false;
  private waiters = new Set<() => void>();

  constructor(private readonly clock: { toHostMs(boxMs: number): number | undefined }) {}

  /** The box reset or the link was lost: its times start again from 0, so everything kept is dropped. */
  reset(): void {
    this.edges = [];
    this.eye = [];
  }

  addPhotodiode(on: boolean, boxMs: number): void {
    const last = this.edges.at(-1);
    // The first PD line of a connection gives the state, not an edge.
    if (last && last.on !== on && on) this.sawOnEdge = true;
    this.edges.push({ on, boxMs });
    this.trim(boxMs);
    for (const w of this.waiters) w();
  }

  addEye(sample: EyeSample): void {
    this.eye.push(sample);
    this.trim(sample.boxMs);
  }

  /** True once the photodiode has gone on at least once: it is wired, and presentations wait for its edges. */
  get photodiodeWired(): boolean {
    return this.sawOnEdge;
  }

  /** Eye samples of the last `ms` box milliseconds (the newest last). */
  recentEye(ms: number): EyeSample[] {
    const last = this.eye.at(-1);
    if (!last) return [];
    return this.eye.filter((s) => s.boxMs > last.boxMs - ms);
  }

  /** Eye samples whose daemon time lies in [fromMs, toMs]. */
  eyeBetween(fromMs: number, toMs: number): Array<EyeSample & { t: number }> {
    const out: Array<EyeSample & { t: number }> = [];
    for (const s of this.eye) {
      const t = this.clock.toHostMs(s.boxMs);
      if (t !== undefined && t >= fromMs && t <= toMs) out.push({ ...s, t });
    }
    return out;
  }

  /**
   * The photodiode onset and offset of a presentation the display reported on from `onsetMs` to `offsetMs`
   * (daemon clock), and the eye during it. Waits up to OFF_EDGE_WAIT_MS for the off edge's line when the
   * photodiode is wired; resolves at once otherwise.
   */
  async measure(onsetMs: number, offsetMs: number): Promise<PresentationMeasures> {
    let pd = this.findEdges(onsetMs, offsetMs);
    if (this.sawOnEdge && pd.pdOffsetMs === undefined) {
      const deadline = Date.now() + OFF_EDGE_WAIT_MS;
      while (pd.pdOffsetMs === undefined && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
          this.waiters.add(done);
        });
        pd = this.findEdges(onsetMs, offsetMs);
      }
    }
    // The eye while the stimulus was on the screen: between the photodiode's edges when measured.
    const eye = summarizeEye(this.eyeBetween(pd.pdOnsetMs ?? onsetMs, pd.pdOffsetMs ?? offsetMs));
    return { ...pd, ...(eye ? { eye } : {}) };
  }

  private findEdges(onsetMs: number, offsetMs: number): { pdOnsetMs?: number; pdOffsetMs?: number } {
    let on: number | undefined;
    for (let i = 1; i < this.edges.length; i++) {
      const e = this.edges[i];
      if (e.on === this.edges[i - 1].on) continue; // a repeated state, not an edge
      const t = this.clock.toHostMs(e.boxMs);
      if (t === undefined) continue;
      if (on === undefined) {
        if (e.on && t >= onsetMs - ONSET_BEFORE_MS && t <= Math.min(offsetMs, onsetMs + ONSET_AFTER_MS))
          on = t;
      } else if (!e.on) return { pdOnsetMs: on, pdOffsetMs: t };
    }
    return on === undefined ? {} : { pdOnsetMs: on };
  }

  private trim(nowBoxMs: number): void {
    const from = nowBoxMs - KEEP_MS;
    if (this.edges.length > 1 && this.edges[0].boxMs < from) {
      // Keep the last edge before the window: it gives the state at its start.
      const i = this.edges.findIndex((e) => e.boxMs >= from);
      if (i > 1) this.edges = this.edges.slice(i - 1);
    }
    if (this.eye.length && this.eye[0].boxMs < from) this.eye = this.eye.filter((s) => s.boxMs >= from);
  }
}
